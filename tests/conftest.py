import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
if not os.environ.get("DISPLAY"):
    os.environ.setdefault("MUJOCO_GL", "egl")

# Import order matters at interpreter exit: pyrealsense2 imported before rclpy makes the process segfault while
# unloading (seen with pyrealsense2 2.59 + the kilted rclpy wheels), which turns a green pytest run into exit 139.
# rclpy first is fine, so load it before any test module can import pyrealsense2.
try:
    import rclpy  # noqa: F401,E402
except ImportError:
    pass
