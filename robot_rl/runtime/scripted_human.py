"""The scripted "human" for tests and benchmarks: watches the arm, takes over when the policy strays (no
progress toward the goal over ``patience_steps`` policy periods), and corrects with the task's noisy scripted
expert (``sim/experts.py``) for ``takeover_steps``. Its output is teleop, in the policy's action units.

It reuses the privileged expert through a read-only view of what the robot publishes (TCP pose, and the goal
from the twin's task features), so it works for tasks whose expert needs only the TCP pose and the goal
(``reach``). No rclpy here."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robot_rl.sim.experts import EXPERTS
from robot_rl.sim.tasks import TASKS


@dataclass(frozen=True)
class ScriptedHumanConfig:
    task: str = "reach"
    noise_std: float = 0.1
    patience_steps: int = 10  # policy periods without progress before taking over
    progress_m: float = 0.01  # progress: the distance to the goal shrank by at least this over the window
    takeover_steps: int = 15
    seed: int = 0


class _View:
    """Just enough of TwinArmEnv for the expert: ``twin.ee_pose()``, ``task.goal(model)``, ``tcfg``."""

    def __init__(self, task: str):
        spec = TASKS[task]
        self.tcfg = spec.config
        self.model = None
        self.pos = np.zeros(3)
        self.rot = np.eye(3)
        self.goal_pos = np.zeros(3)
        view = self

        class _Twin:
            def ee_pose(self):
                return view.pos.copy(), view.rot.copy()

        class _Task:
            name = task

            def goal(self, model):
                return view.goal_pos.copy()

        self.twin, self.task = _Twin(), _Task()


class ScriptedHuman:
    def __init__(self, cfg: ScriptedHumanConfig = ScriptedHumanConfig()):
        if cfg.task != "reach":
            raise ValueError(f"the scripted human over ROS supports 'reach' (it sees only the TCP and the goal), "
                             f"not {cfg.task!r}")
        self.cfg = cfg
        self.view = _View(cfg.task)
        self.expert = EXPERTS[TASKS[cfg.task].expert](self.view, noise_std=cfg.noise_std, seed=cfg.seed)
        self.history: list[float] = []
        self.left = 0
        self.takeovers = 0

    def observe(self, pos, rot, task_state) -> None:
        """Latest TCP pose (rotation matrix) and the twin's task state ``[reward, success, goal(3), ...]``."""
        self.view.pos, self.view.rot = np.asarray(pos, float), np.asarray(rot, float)
        self.view.goal_pos = np.asarray(task_state[2:5], float)
        self.success = bool(task_state[1] > 0.5)

    def period(self) -> np.ndarray | None:
        """Called once per policy period: the human's action (7,) while taking over, else None."""
        dist = float(np.linalg.norm(self.view.goal_pos - self.view.pos))
        self.history.append(dist)
        if self.left > 0:
            self.left -= 1
            if self.left == 0:
                self.history = [dist]
            return self.expert.act()
        p = self.cfg.patience_steps
        if getattr(self, "success", False):
            self.history = self.history[-p:]
            return None
        if len(self.history) > p and self.history[-p - 1] - dist < self.cfg.progress_m:
            self.left = self.cfg.takeover_steps - 1
            self.takeovers += 1
            self.expert.reset()
            return self.expert.act()
        self.history = self.history[-(p + 1):]
        return None

    def reset(self) -> None:
        self.history, self.left = [], 0
