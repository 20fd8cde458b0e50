"""Smoke run of ``robot-rl bench cf-loop``: both loops complete their cycles through cflib against the peer and the
JSON carries the keys the closing note quotes (figures are for the bench, not for CI)."""
import pytest

pytest.importorskip("cflib")


def test_cf_loop_bench_runs_both_loops_and_reports_ratio_vs_bare():
    from robot_rl.tools.bench.cf_loop import measure

    out = measure(cycles=20, repeats=1)
    for k in ("bare_rtt_p50_ms", "bare_rtt_p99_ms", "bare_loop_hz", "ours_rtt_p50_ms", "ours_rtt_p99_ms",
              "ours_loop_hz", "ratio_vs_bare"):
        assert out[k] > 0, (k, out)
    assert out["ours_rtt_p50_ms"] <= out["ours_rtt_p99_ms"]
    assert out["bare_missed_cycles"] >= 0 and out["ours_missed_cycles"] >= 0
