"""Interventions reach the prior buffer with their flag (flagged replay, the learner core, the A/B bench's
trainer), flags survive save/load, and the ROS env's camera-synchronised step acts on frames just received."""
import numpy as np
import pytest

from robot_rl.learning.config import ReplayConfig, SACConfig
from robot_rl.learning.flagged_replay import FlaggedReplayBuffer, FlaggedRouter
from robot_rl.envs.ros_env import ArmSample, RosArmEnv, RosEnvConfig
from robot_rl.runtime.wire import Transition

SPEC = {"state": ((3,), np.dtype(np.float32))}


def _obs(i):
    return {"state": np.full(3, float(i), np.float32)}


def test_router_puts_interventions_in_prior_with_their_flag_and_keeps_demos_unflagged(tmp_path):
    online, prior = FlaggedReplayBuffer(SPEC, 7, 50), FlaggedReplayBuffer(SPEC, 7, 50)
    prior.add(_obs(-2), np.zeros(7), 0.0, _obs(-1), False, True)  # a demo: unflagged
    router = FlaggedRouter(online, prior)
    human = [False, True, True, False, True, False]
    for i, h in enumerate(human):
        router.add(_obs(i), np.full(7, i, np.float32), 0.0, _obs(i + 1), False, False, intervened=h,
                   takeover_started=h and not human[i - 1])
    assert list(online.stored_flags("intervened")) == human
    assert list(prior.stored_flags("intervened")) == [False, True, True, True]
    assert list(prior.stored_flags("takeover_started")) == [False, True, False, True]
    assert [int(a[0]) for a in prior.stored_actions()[1:]] == [1, 2, 4]  # exactly the human's actions
    prior.save(tmp_path / "prior.npz")
    back = FlaggedReplayBuffer(SPEC, 7, 50)
    back.load(tmp_path / "prior.npz")
    assert list(back.stored_flags("intervened")) == [False, True, True, True]


def test_flags_follow_the_ring_when_it_wraps():
    buf = FlaggedReplayBuffer(SPEC, 7, 4)
    for i in range(10):
        buf.add(_obs(i), np.zeros(7), 0.0, _obs(i + 1), False, False, intervened=(i % 3 == 0))
    assert len(buf) == 4 and list(buf.stored_flags()) == [i % 3 == 0 for i in range(6, 10)]


def test_learner_core_prior_buffer_holds_interventions_with_flags_across_a_restart(tmp_path):
    pytest.importorskip("mujoco")
    from robot_rl.runtime.learner_core import LearnerConfig, LearnerCore

    cfg = LearnerConfig(num_demos=0, replay=ReplayConfig(capacity_transitions=64), sac=SACConfig(hidden_width=32, num_critics=2),
                        device="cpu")
    core = LearnerCore(cfg, tmp_path)
    d = core.state_dim
    human = [False, False, True, True, True, False, False, True, False, False]
    ts = [Transition({"state": np.full(d, i, np.float32)}, np.full(7, 0.1 * i, np.float32), 0.0,
                     {"state": np.full(d, i + 1, np.float32)}, False, i == len(human) - 1, intervened=h,
                     takeover_started=h and not human[i - 1], actor_id="a0", seq=i + 1, episode=1)
          for i, h in enumerate(human)]
    assert core.ingest(ts) == len(ts)
    assert len(core.prior) == sum(human) and core.prior.stored_flags().all()
    assert list(core.online.stored_flags()) == human
    np.testing.assert_allclose(core.prior.stored_actions()[:, 0], [0.1 * i for i, h in enumerate(human) if h],
                               rtol=1e-6)
    assert core.stats()["prior_intervention_transitions"] == sum(human) == core.interventions
    core.checkpoint()
    again = LearnerCore(cfg, tmp_path)
    assert again.resumed and list(again.prior.stored_flags("takeover_started")) == [True, False, False, True]


def test_ab_trainer_human_steps_are_exactly_the_flagged_prior_transitions(tmp_path):
    pytest.importorskip("mujoco")
    import torch

    from robot_rl.tools.bench.interventions import train_arm

    torch.set_num_threads(1)
    s = {"task": "reach", "reward": "sparse", "steps": 40, "demos": 1, "utd": 1, "width": 32, "critics": 2, "batch": 16, "warmup": 20,
         "eval_every": 1000, "eval_episodes": 1, "threshold": 0.9, "full": True, "human_noise": 0.1, "patience": 3,
         "takeover_steps": 5}
    on = train_arm(s, 0, True, tmp_path)
    assert on["env_steps"] == 40 and on["human_steps"] > 0 and on["takeovers"] > 0
    assert on["prior_flagged_intervened"] == on["human_steps"]
    assert on["prior_transitions"] == on["demo_transitions"] + on["human_steps"]
    assert on["prior_flagged_takeover_started"] == on["takeovers"]
    off = train_arm({**s, "steps": 20}, 0, False, tmp_path)
    assert off["human_steps"] == 0 and off["prior_flagged_intervened"] == 0


class CameraLink:
    """Pose at 100 Hz, two cameras at 10 Hz (frames stamped when complete, arriving 2 ms later)."""

    def __init__(self, phase_s=0.037):
        self.t = 0.0
        self.phase = phase_s
        self.sent = []
        self.s = ArmSample(pos=np.array([0.45, 0, 0.25]), quat=np.array([0.0, 1.0, 0.0, 0.0]),
                           task=np.r_[0.0, 0.0, 0.5, 0.0, 0.2, 0.05, 0.0, -0.05])
        self._update()

    def _update(self):
        self.s.pose_t = self.s.task_t = self.t
        k = np.floor((self.t - self.phase - 0.002) / 0.1)
        stamp = self.phase + 0.1 * k
        if stamp >= 0:
            img = np.full((8, 8, 3), int(k) % 255, np.uint8)
            self.s.images = {c: (img, stamp + 0.002, stamp) for c in ("front", "wrist")}

    def clock(self):
        return self.t

    def sleep(self, dt):
        self.t += dt
        self._update()

    def snapshot(self):
        return self.s

    def send_target(self, pos, quat, grip):
        self.sent.append(self.t)
        return self.t

    def reset(self, timeout_s):
        return True, "ok"


def test_camera_synchronised_step_acts_on_frames_just_received():
    link = CameraLink()
    env = RosArmEnv(link, RosEnvConfig(cameras=("front", "wrist"), image_size_px=8), clock=link.clock,
                    sleep=link.sleep)
    reports = []
    env.on_action_sent = lambda stamps, sent: reports.append((sent, min(stamps.values())))
    env.reset()
    for _ in range(20):
        env.step(np.zeros(7))
    lat = [sent - stamp for sent, stamp in reports]
    # every action goes out on the frame that has just arrived (2 ms transport, zero compute in this fake)
    assert len(lat) == 20 and max(lat) < 0.01
    periods = np.diff([sent for sent, _ in reports])
    assert np.allclose(periods, 0.1, atol=0.005)  # paced by the 10 Hz camera


def test_without_camera_sync_the_observation_frames_can_be_a_camera_period_old():
    link = CameraLink()
    env = RosArmEnv(link, RosEnvConfig(cameras=("front", "wrist"), image_size_px=8, camera_sync=False),
                    clock=link.clock, sleep=link.sleep)
    reports = []
    env.on_action_sent = lambda stamps, sent: reports.append(sent - min(stamps.values()))
    env.reset()
    for _ in range(10):
        env.step(np.zeros(7))
    assert max(reports) > 0.05
