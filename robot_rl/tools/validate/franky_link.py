"""The stand-in for the robot in policy validation: an :class:`~robot_rl.envs.ros_env.ArmLink` over the real Franka
driver (``drivers/franka.py``, its 1 kHz filtered impedance loop) connected to franky-sim through pylibfranka.

:class:`~robot_rl.envs.ros_env.RosArmEnv` drives it exactly as it drives the twin node or the hardware over ROS
(same state vector, same action -> target rule, targets re-sent within the policy period), with two differences
that keep the comparison with the twin fair:

* time is the robot's own clock (``RobotState.time``): franky-sim runs slower than wall time on a loaded host, so
  a policy period is 0.1 s of the robot's time, as it is in the twin. The driver's watchdog counts wall time, and
  :meth:`FrankyTaskLink.sleep` never sleeps more than ``max_wall_sleep_s`` at once so the env re-sends in time;
* the task's rules (a reach goal, its features, reward and success) come from the measured TCP, as the twin node's
  ``task/state`` stream does: :meth:`begin_episode` draws the episode's start pose and goal from the seed in the
  order the twin's ``TwinArmEnv.reset`` draws them, so episode ``seed`` is the same problem on both sides.

The reset is the driver's own joint move, to the posture ``reset_q_for(start pose)`` gives (the twin's inverse
kinematics: the twin's reset places its arm there too), after which the driver refills its energy tank as the
twin's reset does; then a short impedance move to the start pose, held until the TCP is within ``settle_tol_m``
of it and slower than ``settle_speed_m_per_s``. (An impedance move from a fixed posture instead would empty the
default 2 J tank on the way, and the episode would start with the spring off.)
Only tasks without objects can be validated this way (``reach``): franky-sim has no cube or peg.
"""
from __future__ import annotations

import time

import numpy as np

from robot_rl.contract.rotations import mat_to_quat, quat_to_mat
from robot_rl.envs.ros_env import ArmSample

VALIDATABLE_TASKS = ("reach",)


class FrankyTaskLink:
    def __init__(self, arm, task_cfg, start_rot, reset_q_for=None, prev_dt_s: float = 0.01, settle_tol_m: float = 0.005,
                 settle_speed_m_per_s: float = 0.01, settle_timeout_s: float = 8.0, max_wall_sleep_s: float = 0.02):
        self.arm, self.tcfg, self.start_rot = arm, task_cfg, np.asarray(start_rot, float)
        self.reset_q_for = reset_q_for  # start pos -> joint posture; None: the driver's configured reset posture
        self.prev_dt_s, self.settle_tol_m, self.settle_speed = prev_dt_s, settle_tol_m, settle_speed_m_per_s
        self.settle_timeout_s, self.max_wall_sleep_s = settle_timeout_s, max_wall_sleep_s
        self.goal: np.ndarray | None = None
        self.start: np.ndarray | None = None
        self._hist: list[tuple[float, np.ndarray, np.ndarray]] = []  # recent (robot time, pos, quat)
        self.on_target = None  # called with (pos, rot) for every target sent (an episode recorder)

    # ---- the episode's problem, drawn as the twin draws it ----------------------------------------------------
    def begin_episode(self, seed: int) -> None:
        """Start pose and goal of episode ``seed``: TwinArmEnv.reset's draws (start per axis, then the goal)."""
        from gymnasium.utils import seeding

        rng, _ = seeding.np_random(int(seed))
        self.start = np.array([rng.uniform(*r) for r in self.tcfg.start_range_m])
        lo, hi = np.array(self.tcfg.goal_range_m, dtype=float).T
        self.goal = rng.uniform(lo, hi)

    # ---- the robot's clock ----------------------------------------------------------------------------------------
    def clock(self) -> float:
        s = self.arm.snapshot()
        return float("-inf") if s is None else float(s.robot_time_s)

    def sleep(self, dt_s: float) -> None:
        """Until the robot's clock has advanced ``dt_s``, or ``max_wall_sleep_s`` of wall time, whichever first."""
        t_end = self.clock() + dt_s
        wall_end = time.monotonic() + self.max_wall_sleep_s
        while self.clock() < t_end and time.monotonic() < wall_end:
            time.sleep(0.002)

    # ---- ArmLink ------------------------------------------------------------------------------------------------
    def snapshot(self) -> ArmSample:
        s = self.arm.snapshot()
        if s is None:
            return ArmSample()
        t, pos, quat = float(s.robot_time_s), s.ee_pos.copy(), mat_to_quat(s.ee_rot)
        out = ArmSample(pos=pos, quat=quat, pose_t=t, pose_stamp_s=t, wrench=np.asarray(s.ee_wrench, float).copy())
        # the velocity is the env's finite difference over the latest pose and one >= prev_dt_s older (the ROS
        # env sees poses at the driver node's publish rate; a 1 ms difference would be mostly noise)
        if self._hist and t < self._hist[-1][0]:
            self._hist.clear()
        if not self._hist or t - self._hist[-1][0] >= 0.002:
            self._hist.append((t, pos, quat))
            while len(self._hist) > 2 and self._hist[1][0] <= t - self.prev_dt_s:
                self._hist.pop(0)
        older = [h for h in self._hist if h[0] <= t - self.prev_dt_s]
        if older:
            out.prev_pose_stamp_s, out.prev_pos, out.prev_quat = older[-1]
        w = self.arm.gripper_width_m()
        out.gripper_width = 0.0 if w is None else float(w)
        if self.goal is not None:
            success = float(np.linalg.norm(self.goal - pos) < self.tcfg.success_threshold_m)
            out.task = np.concatenate([[success, success], self.goal, self.goal - pos])
            out.task_t = t
        return out

    def send_target(self, pos, quat_wxyz, gripper) -> None:
        """The impedance target; the gripper is held (a pylibfranka gripper move stalls the 1 kHz loop: DESIGN.md)."""
        rot = quat_to_mat(quat_wxyz)
        self.arm.set_target(pos, rot)
        if self.on_target is not None:
            self.on_target(pos, rot)
        return None

    def reset(self, timeout_s: float) -> tuple[bool, str]:
        if self.start is None:
            return False, "no episode drawn (call begin_episode(seed) first)"
        try:
            q = None if self.reset_q_for is None else self.reset_q_for(self.start)
            self.arm.move_to_reset(timeout_s, q_rad=q)
        except Exception as e:  # the driver's refusal (fault, e-stop, timeout) is the reset's answer
            return False, f"reset move failed: {e}"
        t0 = self.clock()
        prev = None
        while self.clock() - t0 < self.settle_timeout_s:
            self.arm.set_target(self.start, self.start_rot)
            self.sleep(0.02)
            s = self.arm.snapshot()
            if prev is not None and s.robot_time_s > prev[0]:
                speed = np.linalg.norm(s.ee_pos - prev[1]) / (s.robot_time_s - prev[0])
                if np.linalg.norm(s.ee_pos - self.start) < self.settle_tol_m and speed < self.settle_speed:
                    self._hist.clear()
                    return True, "at the start pose"
            prev = (s.robot_time_s, s.ee_pos.copy())
        return False, f"did not settle at the start pose within {self.settle_timeout_s:g} s of robot time"
