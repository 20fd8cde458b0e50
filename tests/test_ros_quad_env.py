"""RosQuadEnv (the quadrotor env over a link, no rclpy) against the real quad twin link (``sim/cf_twin.py``: the
protocol peer's vehicle behind the setpoint guard, in real time) through a thin in-process QuadLink; the ROS link
itself is exercised over DDS in tests/test_sim_quad.py. Pins: the observation is the twin env's, the reset flies to a
random start through takeoff / go_to, reward and success are the contract's rules, a crash ends the episode, and a
velocity takeover is flown and recorded as the attitude action."""
from __future__ import annotations

import time

import numpy as np
import pytest

from robot_rl.contract import quad_tasks as rules
from robot_rl.contract.params import ParameterError
from robot_rl.contract.quad import quad_task_io
from robot_rl.envs.ros_quad_env import QuadSample, RosQuadEnv, RosQuadEnvConfig
from robot_rl.runtime.intervention import QuadInterventionMux
from robot_rl.sim.cf_twin import CfTwinConfig, CfTwinLink


class TwinQuadLink:
    """The QuadLink protocol over CfTwinLink's own interface (what the twin node translates to messages)."""

    def __init__(self):
        self.twin = CfTwinLink(CfTwinConfig())
        self.count = 0
        self.twin.on_state = self._on_state
        self._s = QuadSample()
        self.twin.connect()
        self.sent = []

    def _on_state(self, s, t):
        self.count += 1
        self._s = QuadSample(s.pos.copy(), s.quat.copy(), s.linvel.copy(), s.angvel_body.copy(), time.monotonic(),
                             self.count)

    def snapshot(self):
        return self._s

    def send_attitude(self, roll, pitch, yaw_rate, thrust):
        self.sent.append((roll, pitch, yaw_rate, thrust))
        self.twin.command("attitude", [roll, pitch, yaw_rate, thrust])

    def takeoff(self, height_m, duration_s):
        self.twin.takeoff(height_m, duration_s)
        return True, ""

    def go_to(self, xyz, yaw_rad, duration_s):
        self.twin.go_to(*xyz, yaw_rad, duration_s)
        return True, ""

    def notify_setpoints_stop(self):
        self.twin.notify_setpoints_stop()
        return True, ""


@pytest.fixture()
def env():
    link = TwinQuadLink()
    e = RosQuadEnv(link, RosQuadEnvConfig(), seed=3)
    yield e
    link.twin.close()


def test_reset_takes_off_and_flies_to_a_random_start_and_observes_the_twin_env_layout(env):
    obs, info = env.reset()
    assert obs["state"].shape == (quad_task_io("quad_hover").state_dim(),) and obs["state"].dtype == np.float32
    assert env.observation_space["state"].shape == obs["state"].shape and env.action_space.shape == (4,)
    s = env.link.snapshot()
    assert np.linalg.norm(s.pos - env.start) <= env.cfg.start_tolerance_m
    assert np.all(np.abs(env.start - np.asarray(env.task.target_m)) <= env.task.init_pos_halfwidth_m)
    # the position error leads the vector, and the last actions (zeros at a start) follow the body rates
    np.testing.assert_allclose(obs["state"][:3], s.pos - np.asarray(env.task.target_m), atol=0.05)
    assert not obs["state"][18:26].any()
    first = env.start.copy()
    env.reset()
    assert np.linalg.norm(env.start - first) > 1e-3  # each episode a new start


def test_step_reward_and_success_are_the_contract_rules_and_flying_to_the_target_succeeds(env):
    env.reset()
    total, steps = 0.0, 0
    while True:
        s = env.link.snapshot()
        toward = np.clip(1.5 * (np.asarray(env.task.target_m) - s.pos) / env.cfg.teleop_max_speed_m_per_s, -1, 1)
        a = env.human_action(np.concatenate([toward, np.zeros(3)]))
        prev = env._history[-1].copy()
        obs, r, term, trunc, info = env.step(a)
        s = env.last_sample
        err = float(np.linalg.norm(s.pos - np.asarray(env.task.target_m)))
        assert r == pytest.approx(rules.step_reward(env.task, "dense", err, s.linvel, s.angvel_body, a, prev))
        np.testing.assert_allclose(obs["state"][-4:], a, atol=1e-6)  # the action history ends with this action
        total += r
        steps += 1
        if term or trunc:
            break
    assert trunc and not term and steps == env.task.io.episode_steps
    assert info["success"] and info["pos_error_m"] < env.task.success_radius_m
    # the set point was re-sent within each period (the node's watchdog stays fed): several per step
    assert len(env.link.sent) >= 3 * steps


def test_a_policy_diving_at_the_floor_is_held_above_it_by_the_node_guard_and_the_episode_runs_on(env):
    env.reset()
    low = []
    for _ in range(20):
        obs, r, term, trunc, info = env.step(np.array([0.0, 0.0, 0.0, -1.0]))  # thrust floor: it sinks
        low.append(env.last_sample.pos[2])
        assert not term and r > 0.0  # the setpoint guard's floor, not a crash
    assert min(low) > 0.0 and min(low) < env.start[2] - 0.2  # it did sink, and stopped above the ground
    env.reset()  # the next reset flies back to a start from wherever it ended
    assert np.linalg.norm(env.link.snapshot().pos - env.start) <= env.cfg.start_tolerance_m


def test_crash_rule_is_outside_the_fence_by_the_margin_on_the_ground_or_not_finite():
    t = rules.quad_task("quad_hover")
    assert not rules.crashed(t, [0.0, 0.0, 1.0]) and not rules.crashed(t, [1.04, 0.0, 1.0])
    assert rules.crashed(t, [1.06, 0.0, 1.0]) and rules.crashed(t, [0.0, 0.0, 0.0])
    assert rules.crashed(t, [np.nan, 0.0, 1.0])
    assert rules.hover_success(t, 0.05, True, False) and not rules.hover_success(t, 0.05, True, True)
    assert not rules.hover_success(t, 0.05, False, False) and not rules.hover_success(t, 0.2, True, False)


def test_a_velocity_takeover_is_flown_as_the_attitude_action_and_marked_intervened(env):
    env.reset()
    mux = QuadInterventionMux(env.human_action, timeout_s=0.3)
    for _ in range(15):
        now = time.monotonic()
        mux.on_twist([1.0, 0.0, 0.0, 0.0, 0.0, 0.0], now)  # full stick +x: teleop_max_speed_m_per_s
        d = mux.decide(np.zeros(4, np.float32), now)
        assert d.intervened and d.action.shape == (4,)
        env.step(d.action)
    s = env.link.snapshot()
    assert s.linvel[0] == pytest.approx(env.cfg.teleop_max_speed_m_per_s, abs=0.1)
    assert abs(s.linvel[1]) < 0.1 and abs(s.linvel[2]) < 0.1
    later = time.monotonic() + 1.0  # a silent device: the policy is back
    assert not mux.decide(np.zeros(4, np.float32), later).intervened


@pytest.mark.parametrize("task", ["quad_waypoints", "no_such_task"])
def test_a_task_that_cannot_fly_over_ros_is_one_parameter_error(task):
    with pytest.raises(ParameterError, match="hover tasks only") as e:
        RosQuadEnv(link=None, cfg=RosQuadEnvConfig(task=task))
    assert "\n" not in str(e.value)
