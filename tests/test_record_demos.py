"""record-demos against the twin node with the scripted human driving; the MCAP files open with the mcap
(mcap-ros2-support) and rosbags readers; the prior buffer loads."""
import os
import random
import signal
import subprocess
import sys

import numpy as np
import pytest

from robot_rl.tools.launch_runner import REPO_ROOT

pytest.importorskip("rclpy")
pytest.importorskip("mcap_ros2")


def test_record_demos_writes_readable_mcap_and_a_prior_buffer(tmp_path):
    env = {**os.environ, "ROS_DOMAIN_ID": str(random.Random().randint(201, 230)), "PYTHONPATH": str(REPO_ROOT)}
    procs = []
    try:
        for mod, params in (("robot_rl.sim.twin_node", ["-p", "cameras:=[front, wrist]"]),
                            ("robot_rl.runtime.scripted_human_node", ["-p", "always_takeover:=true"])):
            procs.append(subprocess.Popen([sys.executable, "-m", mod, "--ros-args", *params], env=env,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                          start_new_session=True, cwd=str(REPO_ROOT)))
        rc = subprocess.call([sys.executable, "-m", "robot_rl.tools.cli", "record-demos", "--out", str(tmp_path),
                              "--episodes", "2"], env=env, cwd=str(REPO_ROOT), timeout=240)
        assert rc == 0
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGINT)
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
    files = sorted((tmp_path / "mcap").glob("episode_*.mcap"))
    assert len(files) == 2
    from mcap_ros2.reader import read_ros2_messages

    topics = {}
    for m in read_ros2_messages(str(files[0])):
        topics.setdefault(m.channel.topic, []).append(m.ros_msg)
    assert {"/arm/ee_pose", "/arm/target_pose", "/teleop/twist", "/camera/front/color/image_raw"} <= set(topics)
    img = topics["/camera/front/color/image_raw"][0]
    assert (img.height, img.width, img.encoding) == (128, 128, "rgb8")
    from mcap.reader import make_reader
    from rosbags.typesys import Stores, get_typestore

    ts = get_typestore(Stores.ROS2_KILTED)
    with open(files[1], "rb") as f:
        r = make_reader(f)
        n = 0
        for schema, channel, msg in r.iter_messages(topics=["/arm/ee_pose"]):
            assert channel.message_encoding == "cdr" and schema.encoding == "ros2msg"
            pose = ts.deserialize_cdr(msg.data, schema.name)
            assert 0.0 < pose.pose.position.z < 0.6
            n += 1
        assert n > 10
    from robot_rl.learning.replay import ReplayBuffer

    with np.load(tmp_path / "prior.npz", allow_pickle=False) as z:
        cap = int(z["counters"][4])
        assert z["frames/images/front"].shape[1:] == (128, 128, 3)
    spec = {"state": ((26,), np.dtype(np.float32)), "images/front": ((128, 128, 3), np.dtype(np.uint8)),
            "images/wrist": ((128, 128, 3), np.dtype(np.uint8))}
    buf = ReplayBuffer(spec, 7, cap)
    buf.load(tmp_path / "prior.npz")
    assert len(buf) == cap > 0
