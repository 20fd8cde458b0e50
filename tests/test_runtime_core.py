"""Core pieces of the ROS runtime, without ROS: intervention mux, scripted human, ROS env logic over a fake
link, twin runtime watchdog, teleop device errors."""
import numpy as np
import pytest

from robot_rl.learning.config import ReplayConfig, SACConfig
from robot_rl.runtime.intervention import InterventionMux
from robot_rl.envs.ros_env import ArmSample, ObservationTimeout, RosArmEnv, RosEnvConfig, state_vector
from robot_rl.runtime.scripted_human import ScriptedHuman, ScriptedHumanConfig


def test_human_takeover_wins_and_is_flagged_once_started():
    mux = InterventionMux(timeout_s=0.3)
    pol = np.array([0.5, 0, 0, 0, 0, 0, 1], np.float32)
    d = mux.decide(pol, 0.0)
    assert not d.intervened and np.array_equal(d.action, pol)
    mux.on_joy([1, 0, 0, 0], 1.0)
    mux.on_twist([0, -0.7, 0, 0, 0, 0], 1.0)
    d = mux.decide(pol, 1.1)
    assert d.intervened and d.takeover_started and d.action[1] == pytest.approx(-0.7) and d.action[6] == 1.0
    d = mux.decide(pol, 1.2)
    assert d.intervened and not d.takeover_started
    assert not mux.decide(pol, 2.0).intervened  # stale teleop never drives


def test_success_and_gripper_buttons():
    mux = InterventionMux()
    mux.on_joy([1, 0, 0, 0], 0.0)
    mux.decide(np.array([0, 0, 0, 0, 0, 0, -1.0]), 0.0)
    mux.on_joy([1, 1, 0, 0], 0.05)
    mux.on_joy([1, 0, 1, 0], 0.1)
    d = mux.decide(np.zeros(7), 0.1)
    assert d.action[6] == 1.0 and d.label == "success"


def test_scripted_human_takes_over_only_when_the_policy_strays():
    h = ScriptedHuman(ScriptedHumanConfig(patience_steps=5, takeover_steps=3, noise_std=0.0))
    down = np.diag([1.0, -1.0, -1.0])
    goal = np.array([0.5, 0.0, 0.2])
    pos = np.array([0.4, 0.0, 0.3])
    for _ in range(5):  # making progress: no takeover
        pos = pos + 0.02 * (goal - pos) / np.linalg.norm(goal - pos)
        h.observe(pos, down, np.r_[0, 0, goal, goal - pos])
        assert h.period() is None
    acts = []
    for _ in range(8):  # stuck
        h.observe(pos, down, np.r_[0, 0, goal, goal - pos])
        acts.append(h.period())
    taken = [a for a in acts if a is not None]
    assert h.takeovers >= 1 and len(taken) >= 3 and acts[0] is None
    assert np.dot(taken[0][:3], down.T @ (goal - pos)) > 0  # moves toward the goal (EE frame)


class FakeLink:
    def __init__(self):
        self.t = 0.0
        self.targets = []
        self.s = ArmSample(pos=np.array([0.45, 0, 0.25]), quat=np.array([0.0, 1.0, 0.0, 0.0]), pose_t=0.0,
                           task=np.r_[0.0, 0.0, 0.5, 0.0, 0.2, 0.05, 0.0, -0.05], task_t=0.0)

    def clock(self):
        return self.t

    def sleep(self, dt):
        self.t += dt
        self.s.pose_t = self.s.task_t = self.t  # the robot keeps streaming

    def snapshot(self):
        return self.s

    def send_target(self, pos, quat, grip):
        self.targets.append((self.t, np.array(pos), grip))

    def reset(self, timeout_s):
        return True, "ok"


def test_ros_env_sends_targets_at_the_control_rate_and_matches_the_twin_state_layout():
    link = FakeLink()
    env = RosArmEnv(link, RosEnvConfig(target_hz=50.0), clock=link.clock, sleep=link.sleep)
    obs, _ = env.reset()
    assert obs["state"].shape == (26,) and obs["state"].dtype == np.float32
    n0 = len(link.targets)
    obs, r, term, trunc, info = env.step(np.r_[1.0, 0, 0, 0, 0, 0, 1.0])
    sent = link.targets[n0:]
    assert len(sent) >= 5  # 0.1 s period at 50 Hz
    assert all(np.allclose(p, sent[0][1]) for _, p, _ in sent) and sent[0][2] == 1.0
    # +x in the EE frame of a TCP pointing down is +x in the base frame: 1.0 * action_step_m
    assert sent[0][1][0] == pytest.approx(0.45 + env.tcfg.action_step_m)


class LateAfterResetLink(FakeLink):
    """The robot's first pose after a reset comes 0.5 s late, after the env's settle (a loaded host)."""

    resumes = 0.0

    def reset(self, timeout_s):
        self.resumes, self.sent_before_reset = self.t + 0.5, len(self.targets)
        return True, "ok"

    def sleep(self, dt):
        self.t += dt
        if self.t >= self.resumes:
            self.s.pose_t = self.s.task_t = self.t


def test_ros_env_reset_never_resends_the_previous_episodes_target_while_waiting_for_the_robot():
    link = LateAfterResetLink()
    env = RosArmEnv(link, RosEnvConfig(), clock=link.clock, sleep=link.sleep)
    env.reset()
    env.step(np.r_[1.0, 0, 0, 0, 0, 0, 1.0])  # the last target of this episode: a step away from the start
    assert env.last_target is not None
    env.reset()
    assert link.targets[link.sent_before_reset:] == []  # nothing pulled the arm back toward it


def _first_send_times(compute_s: float, steps: int = 6):
    """When each step's action was first sent, with ``compute_s`` of the robot's time spent computing each action."""
    link = FakeLink()
    env = RosArmEnv(link, RosEnvConfig(), clock=link.clock, sleep=link.sleep)
    env.reset()
    firsts = []
    for _ in range(steps):
        link.sleep(compute_s)  # the policy's inference and the observation's I/O, on the robot's clock
        n0 = len(link.targets)
        env.step(np.zeros(7))
        firsts.append(link.targets[n0][0])
    return env, np.diff(firsts)


def test_ros_env_runs_periods_on_a_fixed_schedule_so_inference_time_does_not_stretch_them():
    env, gaps = _first_send_times(compute_s=0.03)
    assert np.allclose(gaps, env.period_s, atol=1e-3)  # 10 Hz stays 10 Hz (not 1 / (0.1 + 0.03 s))
    assert env.overruns == 0


def test_ros_env_restarts_its_schedule_after_a_step_that_starts_more_than_half_a_period_late():
    env, gaps = _first_send_times(compute_s=0.07)
    assert env.overruns == 6 and np.allclose(gaps, env.period_s + 0.07, atol=1e-3)  # each period held in full


def test_ros_env_times_out_when_the_robot_is_silent():
    link = FakeLink()
    env = RosArmEnv(link, RosEnvConfig(obs_timeout_s=0.5), clock=link.clock,
                    sleep=lambda dt: setattr(link, "t", link.t + dt))
    with pytest.raises(ObservationTimeout, match="pose"):
        env.reset()


def test_state_vector_velocity_by_finite_difference():
    q = np.array([0.0, 1.0, 0.0, 0.0])
    s = ArmSample(pos=np.array([0.1, 0, 0]), quat=q, pose_stamp_s=1.01, prev_pos=np.zeros(3), prev_quat=q,
                  prev_pose_stamp_s=1.0, task=np.r_[0, 0, 1.0, 2.0])
    v = state_vector(s)
    assert v[7] == pytest.approx(10.0) and np.allclose(v[10:13], 0) and np.allclose(v[-2:], [1, 2])


def test_twin_runtime_holds_when_targets_stop_and_refuses_reset_under_estop():
    from robot_rl.controllers.watchdog import ArmMode
    from robot_rl.sim.twin_runtime import TwinRuntime, TwinRuntimeConfig

    rt = TwinRuntime(TwinRuntimeConfig(cameras=(), target_timeout_s=0.2))
    pos, quat = rt.ee_pose()
    t = 0.0
    assert rt.advance(t) == ArmMode.WAITING
    for _ in range(20):
        rt.on_target(pos + [0.0, 0.0, -0.002 * _], quat, t)
        t += 0.01
        assert rt.advance(t) == ArmMode.TRACKING
    t += 0.25
    assert rt.advance(t) == ArmMode.HOLD
    held = rt.watchdog.hold_pos.copy()
    for _ in range(50):
        t += 0.01
        rt.advance(t)
    assert np.linalg.norm(rt.ee_pose()[0] - held) < 0.01
    assert rt.on_target([np.nan, 0, 0], quat, t) == "target: position not finite"
    rt.estop()
    assert rt.advance(t + 0.01) == ArmMode.ESTOP
    ok, msg = rt.reset()
    assert not ok and "e-stop" in msg


def test_absent_teleop_device_is_a_clear_error():
    import io

    from robot_rl.drivers.teleop import DeviceUnavailable, KeyboardTeleop, open_device

    with pytest.raises(DeviceUnavailable, match="TTY"):
        KeyboardTeleop(stream=io.StringIO())
    with pytest.raises(DeviceUnavailable, match="unknown teleop device"):
        open_device("theremin")


def test_actor_evaluation_episodes_are_deterministic_announced_and_a_human_still_wins(tmp_path, monkeypatch):
    from robot_rl.runtime.actor_core import ActorConfig, ActorCore, WeightsPolicy
    from robot_rl.runtime.delivery import Outbox
    from robot_rl.runtime.learner_core import LearnerConfig, LearnerCore
    from robot_rl.runtime.wire import encode_weights
    from robot_rl.sim.arm_env import TwinArmEnv

    env = TwinArmEnv("reach")
    env.spec = None
    mux, outbox = InterventionMux(timeout_s=10.0), Outbox("a0")
    core = ActorCore(env, ActorConfig(eval_every_episodes=2), mux, outbox, clock=lambda: 0.0)
    starts, calls = [], []
    core.on_episode_start = starts.append
    first = core.run_episode()
    assert not first["eval"]  # no weights yet: nothing to evaluate
    second = core.run_episode()
    assert not second["eval"] and starts[-1] == {"episode": 2, "eval": False}  # random actions are not scored

    learner = LearnerCore(LearnerConfig(task="reach", num_demos=0, replay=ReplayConfig(capacity_transitions=16), sac=SACConfig(num_critics=2),
                                        device="cpu"), tmp_path)
    tensors, arch = learner.actor_weights()
    core.offer_weights(encode_weights(tensors, 1, arch))
    real_act = WeightsPolicy.act
    monkeypatch.setattr(WeightsPolicy, "act", lambda self, obs, deterministic, rng:
                        calls.append(deterministic) or real_act(self, obs, deterministic, rng))
    third = core.run_episode()  # the weights load at the episode's start
    assert not third["eval"] and calls and not any(calls)  # training episodes explore
    calls.clear()

    def human_holds_takeover(info):  # a real human holding takeover through the evaluation episode
        starts.append(info)
        mux.on_joy([1, 0, 0, 0], 0.0)
        mux.on_twist([0, 0, 0.5, 0, 0, 0], 0.0)

    core.on_episode_start = human_holds_takeover
    fourth = core.run_episode()
    assert fourth["eval"] and starts[-1] == {"episode": 4, "eval": True}
    assert calls and all(calls)  # evaluation: the deterministic policy
    assert fourth["intervened_steps"] == fourth["steps"] > 0  # the human's takeover still wins, and is flagged
    assert outbox.last_seq == first["steps"] + second["steps"] + third["steps"] + fourth["steps"]  # all streamed
    env.close()


def test_mux_reset_drops_the_previous_episodes_inputs():
    mux = InterventionMux(timeout_s=0.3)
    pol = np.array([0.5, 0, 0, 0, 0, 0, 1], np.float32)
    mux.on_joy([1, 0, 1, 0], 1.0)  # takeover + success held at the end of an episode
    mux.on_twist([0, 0, 0.7, 0, 0, 0], 1.0)
    assert mux.decide(pol, 1.05).label == "success"
    mux.reset()
    d = mux.decide(pol, 1.1)  # within the teleop timeout of the old messages
    assert not d.intervened and np.array_equal(d.action, pol)
    mux.on_joy([1, 0, 1, 0], 1.15)  # still held: drives again, but the held success is not a new press
    d = mux.decide(pol, 1.2)
    assert d.intervened and d.takeover_started and d.label is None


def test_twin_runtime_task_state_reward_sparse_or_dense():
    from robot_rl.sim.twin_runtime import TwinRuntime, TwinRuntimeConfig

    with pytest.raises(ValueError, match="sparse.*dense"):
        TwinRuntime(TwinRuntimeConfig(cameras=(), reward="shaped"))
    sparse, dense = (TwinRuntime(TwinRuntimeConfig(cameras=(), reward=r)) for r in ("sparse", "dense"))
    s, d = sparse.task_state(), dense.task_state()
    env = dense.env
    tcp, _ = dense.twin.ee_pose()
    assert s[0] == s[1] == 0.0  # away from the goal: no success, no sparse reward
    assert d[0] == pytest.approx(env.task.dense_reward(env.model, env.data, tcp)) and d[0] < 0  # distance shaping
    assert np.array_equal(s[2:], d[2:])  # same seed: same goal and features; only the reward differs
    sparse.close(), dense.close()
