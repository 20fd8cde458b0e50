"""robot_rl: the learning side (agents, replay, env over ROS, actor/learner nodes, CLI, benchmarks)."""
import os

# Headless MuJoCo rendering unless a display exists; must precede the first `import mujoco` (sim/ does the same).
if not os.environ.get("DISPLAY"):
    os.environ.setdefault("MUJOCO_GL", "egl")

__version__ = "0.1.0"
