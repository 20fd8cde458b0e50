"""Smoke run of ``robot-rl bench latency`` (real DDS, separate processes): the actor loads the probe's weights,
acts on both cameras' frames and reports every action with the stamps of the frames it used. No timing
assertions (figures come from the benchmark itself)."""
import argparse

import pytest

pytest.importorskip("rclpy")


def test_latency_bench_reports_actions_computed_from_both_camera_frames():
    from robot_rl.tools.bench import latency

    p = argparse.ArgumentParser()
    latency.add_parser(p.add_subparsers())
    # 10 s of samples: enough for the 10-sample minimum even when the first inferences of a fresh process are slow
    a = p.parse_args(["latency", "--seconds", "10", "--startup-timeout-s", "120"])
    r = latency.run(a)
    assert r["samples"] >= 10 and r["cameras"] == ["front", "wrist"] and r["image_size_px"] == 128
    assert 0 < r["p50_ms"] <= r["p99_ms"] <= r["max_ms"]  # stamps precede the publish: latencies are positive
    assert r["weights_version"] == 1 and r["actions_per_s"] > 0
