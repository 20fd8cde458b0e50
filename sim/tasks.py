"""Twin tasks as data: one config dataclass per task, one small class for its objects, reset, success and reward.

``TASKS`` is the registry (name -> TaskSpec); ``sim.register_envs`` turns it into gymnasium ids
``robot_rl/<name>-v0``. The policy-I/O part of each config (rates, action scaling, workspace, gripper lock) is
built from the contract's arm task registry (``robot_rl.contract.arm.ARM_TASKS``), which the ROS env uses without
MuJoCo; the rest (scene, randomisation, success) is the twin's own.
"""
from __future__ import annotations

import abc
import dataclasses
from dataclasses import dataclass

import mujoco
import numpy as np

from robot_rl.contract.arm import ARM_TASKS, ArmTaskIO
from robot_rl.contract.rotations import mat_to_euler_zyx, quat_to_mat, rotvec_to_quat

_IO = ArmTaskIO(n_task_features=0)  # the contract's defaults

Range3 = tuple[tuple[float, float], tuple[float, float], tuple[float, float]]


@dataclass(frozen=True)
class TaskConfig:
    # policy I/O (robot_rl.contract.arm.ArmTaskIO): the contract's values
    episode_steps: int = _IO.episode_steps
    policy_hz: float = _IO.policy_hz
    # action scaling (DESIGN.md): [-1, 1] -> metres / radians per policy step, end-effector frame
    action_step_m: float = _IO.action_step_m
    action_step_rad: float = _IO.action_step_rad
    # workspace box the impedance target is clipped into, base frame [m]
    workspace_min_m: tuple[float, float, float] = _IO.workspace_min_m
    workspace_max_m: tuple[float, float, float] = _IO.workspace_max_m
    # randomised start of the TCP (pointing down), base frame [m]
    start_range_m: Range3 = ((0.40, 0.50), (-0.05, 0.05), (0.22, 0.28))
    # None: the policy drives the gripper; a number: the gripper is held at that closedness (0 open .. 1 closed)
    gripper_locked_closedness: float | None = _IO.gripper_locked_closedness
    success_threshold_m: float = 0.02
    settle_s: float = 0.05


@dataclass(frozen=True)
class ReachConfig(TaskConfig):
    goal_range_m: Range3 = ((0.35, 0.60), (-0.20, 0.20), (0.08, 0.35))
    success_threshold_m: float = 0.02


@dataclass(frozen=True)
class PickCubeConfig(TaskConfig):
    cube_half_size_m: float = 0.02
    cube_mass_kg: float = 0.05
    cube_friction: float = 1.0
    cube_range_m: tuple[tuple[float, float], tuple[float, float]] = ((0.40, 0.58), (-0.12, 0.12))
    cube_yaw_range_rad: tuple[float, float] = (0.0, 0.0)
    lift_success_m: float = 0.1


@dataclass(frozen=True)
class PegInsertConfig(TaskConfig):
    peg_half_width_m: float = 0.01
    peg_length_below_tcp_m: float = 0.06
    hole_half_width_m: float = 0.012  # 2 mm clearance per side
    hole_depth_m: float = 0.05
    block_half_size_m: float = 0.05
    hole_range_m: tuple[tuple[float, float], tuple[float, float]] = ((0.45, 0.58), (-0.10, 0.10))
    insert_success_m: float = 0.03  # tip this far below the block's top face, inside the hole
    gripper_locked_closedness: float | None = ARM_TASKS["peg_insert"].gripper_locked_closedness
    start_range_m: Range3 = ((0.40, 0.50), (-0.05, 0.05), (0.20, 0.26))


def _uniform(rng: np.random.Generator, ranges) -> np.ndarray:
    lo, hi = np.array(ranges, dtype=float).T
    return rng.uniform(lo, hi)


class Task(abc.ABC):
    """Objects, reset, features, success and dense reward of one twin task."""

    name: str = ""

    def __init__(self, cfg: TaskConfig):
        self.cfg = cfg

    def objects_xml(self) -> str:
        return ""

    def bind(self, model: mujoco.MjModel) -> None:
        """Look up ids once the model is compiled."""

    def reset(self, model, data, rng: np.random.Generator) -> None:
        """Randomise the objects (called before the arm settles)."""

    def features(self, model, data, tcp_pos: np.ndarray) -> np.ndarray:
        return np.zeros(0)

    def hand_xml(self) -> str:
        """A tool rigidly held in the hand, if the task has one."""
        return ""

    @abc.abstractmethod
    def success(self, model, data, tcp_pos: np.ndarray) -> bool:
        """Sparse success of the current state."""

    @abc.abstractmethod
    def dense_reward(self, model, data, tcp_pos: np.ndarray) -> float:
        """Shaped reward (higher is better), for the optional dense reward mode."""


class ReachTask(Task):
    name = "reach"
    cfg: ReachConfig

    def objects_xml(self) -> str:
        return ('<body name="goal" pos="0.5 0 0.2"><site name="goal" size="0.015" rgba="0.1 0.9 0.1 0.8" group="0"/>'
                "</body>")

    def bind(self, model):
        self.goal_body = model.body("goal").id

    def reset(self, model, data, rng):
        model.body_pos[self.goal_body] = _uniform(rng, self.cfg.goal_range_m)

    def goal(self, model) -> np.ndarray:
        return model.body_pos[self.goal_body].copy()

    def features(self, model, data, tcp_pos):
        g = self.goal(model)
        return np.concatenate([g, g - tcp_pos])

    def success(self, model, data, tcp_pos):
        return bool(np.linalg.norm(self.goal(model) - tcp_pos) < self.cfg.success_threshold_m)

    def dense_reward(self, model, data, tcp_pos):
        return -float(np.linalg.norm(self.goal(model) - tcp_pos))


class PickCubeTask(Task):
    name = "pick_cube"
    cfg: PickCubeConfig

    def objects_xml(self) -> str:
        c = self.cfg
        h = c.cube_half_size_m
        return (f'<body name="cube" pos="0.5 0 {h}"><freejoint name="cube"/>'
                f'<geom name="cube" type="box" size="{h} {h} {h}" mass="{c.cube_mass_kg}" rgba="0.85 0.15 0.15 1" '
                f'friction="{c.cube_friction} 0.01 0.001" condim="4" contype="1" conaffinity="3"/></body>')

    def bind(self, model):
        self.cube_body = model.body("cube").id
        self.cube_qadr = model.jnt_qposadr[model.joint("cube").id]
        self.cube_dadr = model.jnt_dofadr[model.joint("cube").id]

    def reset(self, model, data, rng):
        c = self.cfg
        xy = _uniform(rng, c.cube_range_m)
        yaw = rng.uniform(*c.cube_yaw_range_rad)
        a = self.cube_qadr
        data.qpos[a:a + 3] = (xy[0], xy[1], c.cube_half_size_m)
        data.qpos[a + 3:a + 7] = rotvec_to_quat((0.0, 0.0, yaw))
        data.qvel[self.cube_dadr:self.cube_dadr + 6] = 0.0

    def cube_pos(self, data) -> np.ndarray:
        return data.qpos[self.cube_qadr:self.cube_qadr + 3].copy()

    def cube_yaw(self, data) -> float:
        return mat_to_euler_zyx(quat_to_mat(data.qpos[self.cube_qadr + 3:self.cube_qadr + 7]))[2]

    def features(self, model, data, tcp_pos):
        p = self.cube_pos(data)
        return np.concatenate([p, p - tcp_pos])

    def success(self, model, data, tcp_pos):
        return bool(self.cube_pos(data)[2] > self.cfg.cube_half_size_m + self.cfg.lift_success_m)

    def dense_reward(self, model, data, tcp_pos):
        p = self.cube_pos(data)
        reach = -float(np.linalg.norm(p - tcp_pos))
        lift = float(np.clip((p[2] - self.cfg.cube_half_size_m) / self.cfg.lift_success_m, 0.0, 1.0))
        return reach + lift


class PegInsertTask(Task):
    name = "peg_insert"
    cfg: PegInsertConfig

    def hand_xml(self) -> str:
        """The peg, rigidly held in the hand (appended to the hand body)."""
        c = self.cfg
        from robot_rl.sim.panda_model import PANDA_TCP_OFFSET_M

        half_len = (c.peg_length_below_tcp_m + 0.02) / 2
        centre = PANDA_TCP_OFFSET_M + c.peg_length_below_tcp_m - half_len
        tip = PANDA_TCP_OFFSET_M + c.peg_length_below_tcp_m
        w = c.peg_half_width_m
        return (f'<geom name="peg" type="box" size="{w} {w} {half_len}" pos="0 0 {centre}" mass="0.05" '
                f'rgba="0.2 0.4 0.9 1" contype="4" conaffinity="4" friction="0.3 0.005 0.0001" condim="4"/>'
                f'<site name="peg_tip" pos="0 0 {tip}" size="0.003" group="3"/>')

    def objects_xml(self) -> str:
        c = self.cfg
        b, h, d = c.block_half_size_m, c.hole_half_width_m, c.hole_depth_m / 2
        side = (b - h) / 2
        off = h + side
        walls = [
            (off, 0.0, side, b),
            (-off, 0.0, side, b),
            (0.0, off, h, side),
            (0.0, -off, h, side),
        ]
        geoms = "".join(
            f'<geom type="box" pos="{x} {y} {d}" size="{sx} {sy} {d}" rgba="0.55 0.45 0.3 1" contype="1" '
            f'conaffinity="7" friction="0.3 0.005 0.0001" condim="4"/>'
            for x, y, sx, sy in walls
        )
        return f'<body name="block" pos="0.5 0 0">{geoms}<site name="hole" pos="0 0 {2 * d}" size="0.004"/></body>'

    def bind(self, model):
        self.block_body = model.body("block").id
        self.tip_site = model.site("peg_tip").id

    def reset(self, model, data, rng):
        model.body_pos[self.block_body, :2] = _uniform(rng, self.cfg.hole_range_m)

    def hole_top(self, model) -> np.ndarray:
        p = model.body_pos[self.block_body].copy()
        p[2] = self.cfg.hole_depth_m
        return p

    def tip(self, data) -> np.ndarray:
        return data.site_xpos[self.tip_site].copy()

    def features(self, model, data, tcp_pos):
        h = self.hole_top(model)
        return np.concatenate([h, self.tip(data) - h])

    def success(self, model, data, tcp_pos):
        d = self.tip(data) - self.hole_top(model)
        inside = abs(d[0]) < self.cfg.hole_half_width_m and abs(d[1]) < self.cfg.hole_half_width_m
        return bool(inside and d[2] < -self.cfg.insert_success_m)

    def dense_reward(self, model, data, tcp_pos):
        goal = self.hole_top(model) - np.array([0.0, 0.0, self.cfg.insert_success_m])
        return -float(np.linalg.norm(self.tip(data) - goal))


@dataclass(frozen=True)
class TaskSpec:
    task_cls: type[Task]
    config: TaskConfig
    expert: str  # name in sim.experts.EXPERTS


def _spec(task_cls: type[Task], cfg_cls: type[TaskConfig]) -> TaskSpec:
    """A registry entry whose policy-I/O fields come from the contract's ``ARM_TASKS[task_cls.name]``."""
    return TaskSpec(task_cls, cfg_cls(**ARM_TASKS[task_cls.name].config_fields()), task_cls.name)


TASKS: dict[str, TaskSpec] = {
    "reach": _spec(ReachTask, ReachConfig),
    "pick_cube": _spec(PickCubeTask, PickCubeConfig),
    "peg_insert": _spec(PegInsertTask, PegInsertConfig),
}


def make_task(name: str, **overrides) -> Task:
    if name not in TASKS:
        raise KeyError(f"unknown task {name!r}; known tasks: {', '.join(sorted(TASKS))}")
    spec = TASKS[name]
    cfg = spec.config
    if overrides:
        cfg = dataclasses.replace(cfg, **overrides)
    return spec.task_cls(cfg)
