"""Registers the quadrotor tasks (``quad_hover``, ``quad_waypoints``) and their scripted expert (the cascaded
controller) as env sources (:mod:`robot_rl.envs.sources`). Imported on the first source lookup; ``robot_rl.sim``
is imported only when an env is made.

Names: ``<task>`` (MuJoCo, attitude set points through the controller: the default), ``<task>_pybullet`` (the
PyBullet twin) and ``<task>_rotors`` (direct normalised rotor commands, Learning-to-Fly style). ``make_env``
options: ``reward`` (dense | sparse), ``engine``, ``action_mode`` and any :class:`robot_rl.sim.quad_env.QuadEnvConfig`
field (e.g. ``randomization``); cameras are refused (the quad twins render none) and ``image_size_px`` (the ROS
learner passes it for every task) is ignored.
"""
from __future__ import annotations

from robot_rl.envs.sources import EnvSourceError, register_source

QUAD_TASK_NAMES = ("quad_hover", "quad_waypoints")
VARIANTS = {"": {}, "_pybullet": {"engine": "pybullet"}, "_rotors": {"action_mode": "rotors"}}


def _register() -> None:
    for task in QUAD_TASK_NAMES:
        for suffix, fixed in VARIANTS.items():
            def make_env(task=task, fixed=fixed, cameras=(), reward="dense", image_size_px=None, **options):
                if cameras:
                    raise EnvSourceError(f"{task}: the quadrotor twins have no cameras (asked for {tuple(cameras)})")
                from robot_rl.sim.quad_env import QuadEnv

                return QuadEnv(task, **{**fixed, "reward": reward, **options})

            def make_expert(env, noise_std: float = 0.0, seed: int = 0):
                from robot_rl.sim.quad_expert import make_quad_expert

                return make_quad_expert(env.unwrapped, noise_std=noise_std, seed=seed)

            register_source(task + suffix, make_env, make_expert,
                            doc=f"quadrotor {task} ({fixed or 'MuJoCo, attitude set points'})")


_register()
