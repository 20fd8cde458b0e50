"""Human-intervention mux (HIL-SERL): a human takeover on the teleop topics wins over the policy, and the executed
action carries the intervention flag.

Teleop convention (``/teleop/twist`` + ``/teleop/joy``): the twist's linear/angular parts are the action's
``[0:3]`` / ``[3:6]`` in normalised units ([-1, 1], end-effector frame, the policy's own convention); joy buttons
are ``[takeover, gripper, success, fail]`` (held takeover = human drives; gripper toggles open/closed on press;
success / fail end the episode with that label). A twist above ``deadband`` also takes over (a SpaceMouse user
just pushes). Inputs older than ``timeout_s`` are ignored: a silent teleop device never drives the robot.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BUTTON_TAKEOVER, BUTTON_GRIPPER, BUTTON_SUCCESS, BUTTON_FAIL = 0, 1, 2, 3


@dataclass
class MuxDecision:
    action: np.ndarray
    intervened: bool
    takeover_started: bool
    label: str | None  # "success" / "fail" pressed by the human, else None


class InterventionMux:
    def __init__(self, timeout_s: float = 0.3, deadband: float = 0.05):
        self.timeout_s = timeout_s
        self.deadband = deadband
        self.twist = np.zeros(6)
        self.twist_t = -np.inf
        self.buttons: list[int] = []
        self.joy_t = -np.inf
        self.gripper = -1.0  # human's gripper command (-1 open .. 1 closed)
        self._prev_buttons: list[int] = []
        self._was_human = False
        self._pending_label: str | None = None

    def on_twist(self, v6, now_s: float) -> str | None:
        """A teleop twist (6, each clipped to [-1, 1]); the cause if it is refused (not 6 finite numbers)."""
        v = np.asarray(v6, float)
        if v.shape != (6,) or not np.all(np.isfinite(v)):
            return "teleop twist: not 6 finite numbers"
        self.twist, self.twist_t = np.clip(v, -1.0, 1.0), now_s
        return None

    def on_joy(self, buttons, now_s: float) -> None:
        b = [int(x) for x in buttons]
        prev = self._prev_buttons
        pressed = lambda i: len(b) > i and b[i] and not (len(prev) > i and prev[i])  # noqa: E731
        if pressed(BUTTON_GRIPPER):
            self.gripper = -self.gripper
        if pressed(BUTTON_SUCCESS):
            self._pending_label = "success"
        elif pressed(BUTTON_FAIL):
            self._pending_label = "fail"
        self.buttons, self.joy_t, self._prev_buttons = b, now_s, b

    def human_active(self, now_s: float) -> bool:
        joy_fresh = now_s - self.joy_t <= self.timeout_s
        twist_fresh = now_s - self.twist_t <= self.timeout_s
        held = joy_fresh and len(self.buttons) > BUTTON_TAKEOVER and bool(self.buttons[BUTTON_TAKEOVER])
        pushing = twist_fresh and float(np.max(np.abs(self.twist))) > self.deadband
        return held or pushing

    def decide(self, policy_action: np.ndarray, now_s: float) -> MuxDecision:
        human = self.human_active(now_s)
        started = human and not self._was_human
        if started:
            self.gripper = float(np.sign(policy_action[6]) or -1.0)  # the human starts from the policy's gripper
        self._was_human = human
        label, self._pending_label = self._pending_label, None
        if not human:
            return MuxDecision(np.asarray(policy_action, np.float32), False, False, label)
        twist = self.twist if now_s - self.twist_t <= self.timeout_s else np.zeros(6)
        a = np.concatenate([twist, [self.gripper]]).astype(np.float32)
        return MuxDecision(a, True, started, label)

    def reset(self) -> None:
        """At an episode start: forget the previous episode's inputs, so a twist or held button sent before the
        reset cannot drive the new episode's first steps (a device still held re-registers with its next
        message, at the teleop publish rate)."""
        self._was_human = False
        self._pending_label = None
        self.twist_t = self.joy_t = -np.inf
        self.buttons = []  # _prev_buttons stays: a button held across the reset is not a new press


class QuadInterventionMux(InterventionMux):
    """The quadrotor's takeover: the same inputs and buttons (no gripper), the twist read as a velocity command
    (``teleop/twist`` linear = world velocity, angular.z = yaw rate, normalised) and turned into the env's own
    action by ``to_action(twist6)`` (:meth:`robot_rl.envs.ros_quad_env.RosQuadEnv.human_action`), so a takeover is
    recorded as the action that was flown."""

    def __init__(self, to_action, timeout_s: float = 0.3, deadband: float = 0.05):
        super().__init__(timeout_s, deadband)
        self.to_action = to_action

    def decide(self, policy_action: np.ndarray, now_s: float) -> MuxDecision:
        human = self.human_active(now_s)
        started = human and not self._was_human
        self._was_human = human
        label, self._pending_label = self._pending_label, None
        if not human:
            return MuxDecision(np.asarray(policy_action, np.float32), False, False, label)
        twist = self.twist if now_s - self.twist_t <= self.timeout_s else np.zeros(6)
        return MuxDecision(np.asarray(self.to_action(twist), np.float32), True, started, label)


# ---- in-process takeovers (the trainer and the benches; the ROS actor uses the mux above) --------------------
class ExpertTakeover:
    """Scripted interventions: with probability ``prob_per_step`` per policy step the expert (``make_expert()``,
    built on first use) takes over for ``steps`` steps. ``decide(obs, rng) -> (human action or None, started)``."""

    def __init__(self, make_expert, prob_per_step: float, steps: int):
        self.make_expert, self.prob, self.steps = make_expert, prob_per_step, steps
        self.expert = None
        self.left = 0

    def decide(self, obs, rng: np.random.Generator):
        started = False
        if self.left == 0 and self.prob > 0 and rng.random() < self.prob:
            self.left, started = self.steps, True
            if self.expert is None:
                self.expert = self.make_expert()
            self.expert.reset()
        if self.left == 0:
            return None, False
        self.left -= 1
        return np.asarray(self.expert.act(obs), np.float32), started

    def reset(self) -> None:
        self.left = 0


class WatcherTakeover:
    """A human that watches the robot (e.g. :class:`robot_rl.runtime.scripted_human.ScriptedHuman`): ``observe()``
    feeds it, its ``period()`` is the teleop action or None; a takeover starts when it had been off."""

    def __init__(self, human, observe):
        self.human, self.observe = human, observe
        self._was_on = False
        self.human_steps = self.takeovers = 0

    def decide(self, obs, rng: np.random.Generator):
        self.observe(self.human)
        a = self.human.period()
        started = a is not None and not self._was_on
        self._was_on = a is not None
        self.human_steps += int(a is not None)
        self.takeovers += int(started)
        return (None, False) if a is None else (np.asarray(a, np.float32), started)

    def reset(self) -> None:
        self.human.reset()
        self._was_on = False
