"""The twins: MuJoCo arm scenes and tasks, domain randomisation, scripted experts.

Importing ``sim`` registers the twin tasks as gymnasium envs ``robot_rl/<task>-v0``.
"""
import os

# Headless rendering by default (no display): EGL works with Mesa on CPU. Must be set before mujoco is imported.
if not os.environ.get("DISPLAY"):
    os.environ.setdefault("MUJOCO_GL", "egl")


def register_envs() -> list[str]:
    """Register every task of ``sim.tasks.TASKS`` as ``robot_rl/<name>-v0``; returns the ids."""
    import gymnasium as gym

    from robot_rl.sim.tasks import TASKS

    ids = []
    for name in TASKS:
        env_id = f"robot_rl/{name}-v0"
        if env_id not in gym.registry:
            gym.register(env_id, entry_point="robot_rl.sim.arm_env:TwinArmEnv", kwargs={"task": name},
                         max_episode_steps=TASKS[name].config.episode_steps)
        ids.append(env_id)
    return ids


register_envs()
