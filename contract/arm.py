"""The arm's I/O layout (numpy only): what the policy sees and what its action means, for every arm backend.

One definition, used by the in-process twin env (``robot_rl.sim.arm_env.TwinArmEnv``) and by the env that drives a
robot over ROS (``robot_rl.envs.ros_env.RosArmEnv``), so data and policies carry over between them and the actor's
process needs neither MuJoCo nor ``robot_rl.sim``:

* the state vector: ``[tcp_pos(3), tcp_quat wxyz(4), tcp_linvel(3), tcp_angvel(3), gripper_width(1), wrench(6),
  task features]`` (base frame, SI units; :data:`STATE_LAYOUT`, :data:`STATE_SLICES`, :data:`PROPRIO_DIM`);
* the action: float32 (7,) in [-1, 1] -- xyz delta, rotation-vector delta (both in the end-effector frame, scaled
  by the task's ``action_step_m`` / ``action_step_rad``), gripper closedness mapped from [-1, 1] to [0 open,
  1 closed] unless the task locks the gripper; the impedance target is the measured pose plus the scaled delta,
  its position clipped into the task's workspace box (:func:`action_to_target`);
* the task registry :data:`ARM_TASKS` (name -> :class:`ArmTaskIO`): rates, scaling, workspace, gripper lock and
  the number of task features. The twin's task configs (``sim/tasks.py``) are built from it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robot_rl.contract.rotations import rotvec_to_mat

STATE_LAYOUT: tuple[tuple[str, int], ...] = (
    ("tcp_pos", 3),  # [m], base frame
    ("tcp_quat", 4),  # w, x, y, z, on the hemisphere of QUAT_HEMISPHERE_WXYZ (see there)
    ("tcp_linvel", 3),  # [m/s], base frame
    ("tcp_angvel", 3),  # [rad/s], base frame
    ("gripper_width", 1),  # [m]
    ("wrench", 6),  # estimated external wrench [N, Nm], base frame
)


def _slices(layout) -> dict[str, slice]:
    out, i = {}, 0
    for name, n in layout:
        out[name] = slice(i, i + n)
        i += n
    return out


STATE_SLICES: dict[str, slice] = _slices(STATE_LAYOUT)

# The state's quaternion is q or -q (the same rotation), whichever has q . QUAT_HEMISPHERE_WXYZ >= 0: the
# tool-down orientation every arm task works around (180 deg about base x). The usual w >= 0 rule is
# discontinuous exactly there (w = 0): a tilt of a fraction of a degree flipped the whole quaternion (qx +1 <-> -1),
# and a policy saw the flip at different moments on the twin and on franky-sim. This hemisphere is continuous for
# every orientation within 180 deg of tool-down.
QUAT_HEMISPHERE_WXYZ = np.array([0.0, 1.0, 0.0, 0.0])


def state_quat(quat_wxyz) -> np.ndarray:
    """The quaternion as the state carries it (:data:`QUAT_HEMISPHERE_WXYZ`)."""
    q = np.asarray(quat_wxyz, float).reshape(4)
    return q if float(q @ QUAT_HEMISPHERE_WXYZ) >= 0.0 else -q
PROPRIO_DIM: int = sum(n for _, n in STATE_LAYOUT)  # task features follow, from index PROPRIO_DIM
ACTION_DIM = 7  # xyz delta, rotation-vector delta, gripper


@dataclass(frozen=True)
class ArmTaskIO:
    """What a task's policy I/O looks like: the part of a task every backend needs (no scene, no physics)."""

    n_task_features: int
    episode_steps: int = 100
    policy_hz: float = 10.0
    # action scaling: [-1, 1] -> metres / radians per policy step, end-effector frame
    action_step_m: float = 0.02
    action_step_rad: float = 0.1
    # workspace box the impedance target is clipped into, base frame [m]
    workspace_min_m: tuple[float, float, float] = (0.25, -0.3, 0.005)
    workspace_max_m: tuple[float, float, float] = (0.75, 0.3, 0.45)
    # None: the policy drives the gripper; a number: the gripper is held at that closedness (0 open .. 1 closed)
    gripper_locked_closedness: float | None = None

    @property
    def state_dim(self) -> int:
        return PROPRIO_DIM + self.n_task_features

    def config_fields(self) -> dict:
        """The fields a task config (``sim.tasks.TaskConfig``) shares with this I/O description."""
        return {k: getattr(self, k) for k in ARM_TASK_CONFIG_FIELDS}


ARM_TASK_CONFIG_FIELDS = ("episode_steps", "policy_hz", "action_step_m", "action_step_rad", "workspace_min_m",
                          "workspace_max_m", "gripper_locked_closedness")

ARM_TASKS: dict[str, ArmTaskIO] = {
    "reach": ArmTaskIO(n_task_features=6),  # goal(3), goal - tcp(3)
    "pick_cube": ArmTaskIO(n_task_features=6),  # cube(3), cube - tcp(3)
    "peg_insert": ArmTaskIO(n_task_features=6, gripper_locked_closedness=0.75),  # hole top(3), tip - hole(3)
}


def arm_task_io(task: str) -> ArmTaskIO:
    if task not in ARM_TASKS:
        raise ValueError(f"unknown task {task!r}; known tasks: {', '.join(sorted(ARM_TASKS))}")
    return ARM_TASKS[task]


def state_dim_for(task: str) -> int:
    """State size of a task: PROPRIO_DIM + its number of task features."""
    return arm_task_io(task).state_dim


def checked_action(action) -> np.ndarray:
    """``action`` as 7 float64 in [-1, 1] (clipped); ValueError for a wrong shape or a NaN/inf entry."""
    a = np.asarray(action, dtype=np.float64).reshape(-1)
    if a.shape != (ACTION_DIM,) or not np.all(np.isfinite(a)):
        raise ValueError(f"action must be {ACTION_DIM} finite numbers (xyz, rotvec, gripper), got {action!r}; "
                         f"the target is left unchanged")
    return np.clip(a, -1.0, 1.0)


def action_to_target(a, pos, rot, io: ArmTaskIO) -> tuple[np.ndarray, np.ndarray, float | None]:
    """The impedance target for action ``a`` (7, in [-1, 1]) from the measured TCP pose (``pos`` (3,) [m],
    ``rot`` (3, 3), base frame): (target position clipped into the workspace box, target rotation, gripper
    closedness in [0, 1], or None when the task locks the gripper)."""
    a = np.asarray(a, dtype=float)
    rot = np.asarray(rot, dtype=float)
    target_pos = np.clip(np.asarray(pos, float) + rot @ (a[:3] * io.action_step_m),
                         io.workspace_min_m, io.workspace_max_m)
    target_rot = rot @ rotvec_to_mat(a[3:6] * io.action_step_rad)
    grip = None if io.gripper_locked_closedness is not None else float(0.5 * (a[6] + 1.0))
    return target_pos, target_rot, grip


def state_vector(pos, quat_wxyz, linvel, angvel, gripper_width: float, wrench, features) -> np.ndarray:
    """The state vector (float32) in :data:`STATE_LAYOUT` order, task features last."""
    return np.concatenate([np.asarray(pos, float).reshape(3), state_quat(quat_wxyz),
                           np.asarray(linvel, float).reshape(3), np.asarray(angvel, float).reshape(3),
                           [float(gripper_width)], np.asarray(wrench, float).reshape(6),
                           np.asarray(features, float).reshape(-1)]).astype(np.float32)
