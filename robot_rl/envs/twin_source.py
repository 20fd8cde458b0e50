"""Registers the MuJoCo twin's tasks (``reach``, ``pick_cube``, ``peg_insert``) and their scripted experts as env
sources (:mod:`robot_rl.envs.sources`). Imported on the first source lookup, never by the learning core."""
from __future__ import annotations

from robot_rl.envs.sources import register_source


def _register() -> None:
    import robot_rl.sim  # noqa: F401  (headless rendering defaults)
    from robot_rl.sim.tasks import TASKS

    for name in TASKS:
        def make_env(task=name, **options):
            from robot_rl.sim.arm_env import TwinArmEnv

            import gymnasium as gym

            env = TwinArmEnv(task, **options)
            if env.spec is None:  # say the episode length (the learner sizes its prior buffer by it)
                env.spec = gym.envs.registration.EnvSpec(f"robot_rl/{task}-v0", max_episode_steps=env.tcfg.episode_steps)
            return env

        def make_expert(env, noise_std: float = 0.0, seed: int = 0):
            from robot_rl.sim.experts import make_expert as twin_expert

            return twin_expert(env.unwrapped, noise_std=noise_std, seed=seed)

        register_source(name, make_env, make_expert, doc=f"MuJoCo twin task {name}")


_register()
