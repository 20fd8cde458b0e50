"""Fault injection over real DDS during a sim_train run (separate processes): a smoke subset of `robot-rl bench
faults` -- e-stop from a default-QoS publisher, the actor killed and restarted (its spool re-sends), malformed
floods on the twin's target, the actor's and scripted human's pose and task state, a corrupt checkpoint, a corrupt params file. Every
fault survived, no transition lost or duplicated, every rejection said and rate-limited. (Times to the safe state
are figures of the bench, not asserted here.)"""
import pytest

pytest.importorskip("rclpy")
pytest.importorskip("pyrealsense2")

from robot_rl.tools.bench.faults import run_campaign  # noqa: E402

# flood_transitions is left out: a learner behind by hundreds of transitions (a loaded CPU) reaches the flood's
# rejections only after the verdict's wait; the open learner-ingestion item in issue 11 (the bench runs it)
SMOKE = ("estop_default_qos", "kill_actor", "flood_target_pose", "flood_ee_pose", "flood_task_state",
         "corrupt_model.safetensors", "corrupt_config")


def test_sim_train_survives_the_smoke_faults_losing_and_duplicating_nothing(tmp_path):
    r = run_campaign(tmp_path, SMOKE, flood_s=1.5)
    rows = {f["fault"]: f for f in r["faults"]}
    assert set(rows) == set(SMOKE)
    failed = {k: f["notes"] for k, f in rows.items() if not f["survived"]}
    assert not failed, failed
    assert r["transitions_lost"] == 0 and r["transitions_duplicated"] == 0
    t = r["transitions"]  # every transition the actor made is in the learner's checkpoint or still in its spool
    assert t["produced"] > 0 and t["lost"] == 0
    assert rows["kill_actor"]["safe_state"] == "hold" and rows["kill_actor"]["time_to_safe_ms"] is not None
    assert rows["estop_default_qos"]["safe_state"] == "estop (latched)"
    assert rows["flood_target_pose"]["injected"] > 50
    assert r["online_transitions"] > 0
