"""``robot-rl bench latency``: camera frame stamp -> action published, over real DDS between separate processes.

Processes (started with the launch runner, on their own ``ROS_DOMAIN_ID``):

* **twin node** -- renders two 128x128 cameras (``front``, ``wrist``) at ``--camera-hz`` and publishes
  ``/camera/<name>/color/image_raw`` stamped with its ROS clock when the frame is complete (as a camera driver
  stamps), plus the arm contract at 100 Hz;
* **actor node** -- the real actor (``RosArmEnv`` with both cameras, camera-synchronised stepping, the pixel policy
  on CPU: DrQ encoder per camera + MLP actor) publishing ``/arm/target_pose``; right after each new action's
  first ``publish()`` returns it reads its ROS clock and reports ``[sent, weights version, frame stamps...]`` on
  ``/rl/latency``;
* **latency probe node** -- publishes the policy weights (latched, as the learner would; an untrained policy of
  the learner's default architecture, inference cost does not depend on training) and records the reports.

Measured, per action computed by the loaded policy: ``sent - stamp`` where ``stamp`` is the header stamp of the
**oldest** camera frame in the observation the action was computed from (both frames are needed); per-camera
figures too. It covers DDS transport of both images, image decoding, the env's wait for a complete fresh
observation, policy inference and the target's publish. Not included: the twin's render time (before the
stamp, like a camera's exposure/readout) and the target's DDS delivery to the driver. Both clocks are the
machine's system clock (ROS time without ``use_sim_time``). No learner process runs (on hardware it sits on
another machine); its transitions stream is still published by the actor.
"""
from __future__ import annotations

import json
import os
import random
import tempfile
import time
from pathlib import Path

import numpy as np


def write_weights(path: Path, task: str, cameras: tuple[str, ...], image_size_px: int, out_dir: Path) -> int:
    """An untrained policy exported exactly as the learner node exports weights."""
    from robot_rl.contract.params import build
    from robot_rl.runtime.learner_core import LearnerConfig, LearnerCore
    from robot_rl.runtime.wire import encode_weights

    cfg = build(LearnerConfig, {"task": task, "cameras": cameras, "image_size_px": image_size_px, "num_demos": 0,
                                "replay.capacity_transitions": 16, "sac.num_critics": 2, "device": "cpu"})
    core = LearnerCore(cfg, out_dir)
    tensors, arch = core.actor_weights()
    version = 1
    path.write_bytes(encode_weights(tensors, version, arch))
    return version


def percentiles_ms(x: np.ndarray) -> dict:
    x = np.asarray(x, float) * 1e3
    return {"p50_ms": round(float(np.percentile(x, 50)), 2), "p90_ms": round(float(np.percentile(x, 90)), 2),
            "p99_ms": round(float(np.percentile(x, 99)), 2), "max_ms": round(float(x.max()), 2),
            "mean_ms": round(float(x.mean()), 2)}


def run(a) -> dict:
    from robot_rl.tools.launch_runner import LaunchRunner, LineBuffer, NodeSpec

    cameras = ("front", "wrist")
    tmp = Path(tempfile.mkdtemp(prefix="robot_rl_latency_"))
    weights = tmp / "weights.safetensors"
    version = write_weights(weights, a.task, cameras, a.image_size, tmp / "learner")
    out = tmp / "latency.json"
    env = dict(os.environ)
    env["ROS_DOMAIN_ID"] = str(a.domain_id if a.domain_id >= 0 else random.Random().randint(100, 200))
    nodes = [
        NodeSpec("robot_rl", "twin_node", "robot_rl.sim.twin_node", name="twin",
                 params=[("task", a.task), ("cameras", list(cameras)), ("image_size_px", a.image_size),
                         ("camera_hz", a.camera_hz), ("state_hz", 100.0)]),
        NodeSpec("robot_rl", "actor_node", "robot_rl.runtime.actor_node", name="actor",
                 params=[("task", a.task), ("cameras", ",".join(cameras)), ("weights_every_steps", 1),
                         ("camera_sync", True), ("camera_sync_slack_s", a.sync_slack_s)]),
        NodeSpec("robot_rl", "latency_probe_node", "robot_rl.runtime.latency_probe_node", name="latency_probe",
                 params=[("weights_path", str(weights)), ("out", str(out)), ("duration_s", a.seconds),
                         ("timeout_s", a.seconds + a.startup_timeout_s)]),
    ]
    lines = LineBuffer()
    runner = LaunchRunner(nodes, env=env, out=lines, shutdown_timeout_s=5.0)
    t0 = time.monotonic()
    load_before = os.getloadavg()
    try:
        runner.start()
        probe = runner.procs["latency_probe"]
        deadline = t0 + a.seconds + a.startup_timeout_s + 30.0
        while probe.poll() is None and time.monotonic() < deadline:
            if any(p.poll() is not None for k, p in runner.procs.items() if k != "latency_probe"):
                break
            time.sleep(0.2)
    finally:
        load_after = os.getloadavg()
        codes = runner.shutdown()
    if not out.is_file():
        tail = "".join(lines.lines[-30:])
        raise RuntimeError(f"latency probe wrote no result (exit codes {codes}); last output:\n{tail}")
    rec = json.loads(out.read_text())
    s = np.asarray(rec["samples"], float)
    if len(s) < 10:
        raise RuntimeError(f"only {len(s)} latency samples (timed out: {rec['timed_out']}); "
                           f"last output:\n{''.join(lines.lines[-30:])}")
    sent, stamps = s[:, 0], s[:, 2:]
    res = {"bench": "latency",
           "what": "camera frame header stamp (oldest of the observation's frames) -> action's /arm/target_pose "
                   "publish() returned, actor process clock; twin, actor and probe as separate processes over DDS",
           "task": a.task, "cameras": list(cameras), "image_size_px": a.image_size, "camera_hz": a.camera_hz,
           "policy": "pixel SAC actor (untrained weights), CPU", "weights_version": version,
           "rmw": env.get("RMW_IMPLEMENTATION", "default"), "ros_domain_id": int(env["ROS_DOMAIN_ID"]),
           "samples": int(len(s)), "actions_per_s": round(float((len(s) - 1) / (sent[-1] - sent[0])), 2),
           **percentiles_ms(sent - stamps.min(axis=1)),
           "per_camera": {c: percentiles_ms(sent - stamps[:, i]) for i, c in enumerate(cameras)},
           "over_30ms": int(((sent - stamps.min(axis=1)) > 0.030).sum()),
           # the actor's loop: time between consecutive actions (one camera period when nothing stalls)
           "action_period_ms": {k: v for k, v in percentiles_ms(np.diff(sent)).items() if k != "mean_ms"},
           "samples_file": str(out), "load_avg_1min_before_after": [round(load_before[0], 2), round(load_after[0], 2)],
           "target_p99_ms": 30.0}
    res["p99_within_target"] = res["p99_ms"] <= res["target_p99_ms"]
    return res


def add_parser(sub) -> None:
    p = sub.add_parser("latency", help="camera frame stamp -> action published (p50/p99), two 128x128 cameras, DDS")
    p.add_argument("--task", default="reach")
    p.add_argument("--seconds", type=float, default=30.0, help="measure this long once the policy is loaded")
    p.add_argument("--camera-hz", type=float, default=10.0)
    p.add_argument("--image-size", type=int, default=128)
    p.add_argument("--sync-slack-s", type=float, default=0.05, help="actor's camera_sync_slack_s")
    p.add_argument("--startup-timeout-s", type=float, default=90.0)
    p.add_argument("--domain-id", type=int, default=-1, help="ROS_DOMAIN_ID (default: a random one in 100..200)")
    p.add_argument("--json", action="store_true")

    def _go(a):
        from robot_rl.tools.bench.cli import emit

        return emit(run(a), a.json)

    p.set_defaults(func=_go)
