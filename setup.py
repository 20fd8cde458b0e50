"""robot_rl: installable with pip (no ROS distro needed) and with colcon in a ROS 2 workspace (ament_python)."""
from glob import glob

from setuptools import find_packages, setup

PACKAGE = "robot_rl"

# ROS 2 from PyPI wheels, for machines without a ROS distro (on a ROS install these come from the distro).
ROS_WHEELS = [
    "ros-rclpy",
    "ros-rmw-fastrtps-cpp",
    "ros-std-msgs",
    "ros-sensor-msgs",
    "ros-geometry-msgs",
    "ros-nav-msgs",
    "ros-std-srvs",
]

EXTRAS = {
    "ros": ROS_WHEELS + ["mcap>=1.1", "rosbags>=0.10"],  # + MCAP recording with ROS 2 (CDR) encoding
    "torch": ["torch>=2.2", "tensorboard>=2.10"],
    # pylibfranka pinned: its network protocol version must match the robot's (and franky-sim's) firmware
    # cflib: the official Crazyflie client (its UDP link reaches the CRTP protocol peer, sim/cf_peer.py, in tests)
    "hardware": ["pylibfranka==0.21.3", "pyrealsense2>=2.54", "opencv-python-headless>=4.10,<5", "cflib==0.1.34"],
    "teleop": ["pygame>=2.1"],  # SpaceMouse: pip install pyspacemouse (needs hidapi)
    "bench": ["stable-baselines3>=2.3"],  # the SAC baseline measured side by side
    # franky-sim: the libfranka-protocol MuJoCo server the driver tests run against (ships fr3.xml)
    "test": ["pytest>=7", "hypothesis>=6", "mcap-ros2-support>=0.5", "franky-sim>=1.0"],
}
EXTRAS["all"] = sorted({r for k in ("ros", "torch", "hardware", "bench", "test") for r in EXTRAS[k]})

NODES = [
    "twin_node = robot_rl.sim.twin_node:main",
    "actor_node = robot_rl.runtime.actor_node:main",
    "learner_node = robot_rl.runtime.learner_node:main",
    "scripted_human_node = robot_rl.runtime.scripted_human_node:main",
    "teleop_node = robot_rl.drivers.teleop_node:main",
    "franka_node = robot_rl.drivers.franka_node:main",
    "camera_node = robot_rl.drivers.camera_node:main",
    "crazyflie_node = robot_rl.drivers.crazyflie_node:main",
    "quad_twin_node = robot_rl.sim.quad_twin_node:main",
    "quad_teleop_node = robot_rl.drivers.quad_teleop_node:main",
]

LAYERS = ("contract", "controllers", "sim", "drivers", "calibration")  # top-level folders -> robot_rl.<folder>
PACKAGE_DIR = {PACKAGE: PACKAGE, **{f"{PACKAGE}.{d}": d for d in LAYERS}}
PACKAGES = [p for p in find_packages(include=[PACKAGE, PACKAGE + ".*"])]
for d in LAYERS:
    PACKAGES += [f"{PACKAGE}.{p}" for p in find_packages(include=[d, d + ".*"])]

setup(
    name=PACKAGE,
    version="0.1.0",
    description="Learn robot skills on real hardware, safely: PyTorch RL + ROS 2 + a MuJoCo twin",
    # One install namespace: the top-level folders contract/, controllers/, sim/, drivers/, calibration/ install
    # as robot_rl.contract, robot_rl.controllers, ... so nothing generic lands in site-packages.
    packages=PACKAGES,
    package_dir=PACKAGE_DIR,
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + PACKAGE]),
        ("share/" + PACKAGE, ["package.xml"]),
        ("share/" + PACKAGE + "/launch", glob("launch/*.yaml")),
        ("share/" + PACKAGE + "/launch/params", glob("launch/params/*.yaml")),
    ],
    python_requires=">=3.10",
    install_requires=[
        "setuptools",
        "numpy>=1.24",
        "mujoco>=3.2",
        "pybullet>=3.2.5",  # the quadrotor twin's second engine (sim/quad_bullet.py), a PyPI wheel
        "gymnasium>=1.0",
        "pyyaml>=6",
        "imageio>=2.30",
        "matplotlib>=3.7",
        "tqdm>=4.60",
        "safetensors>=0.4",
        "scipy>=1.10",  # least squares (calibrate twin), correlation statistics (validate policies)
    ],
    extras_require=EXTRAS,
    zip_safe=True,
    maintainer="robot_rl maintainers",
    maintainer_email="maintainers@robot-rl.invalid",
    license="Apache-2.0",
    tests_require=["pytest"],
    entry_points={"console_scripts": ["robot-rl = robot_rl.tools.cli:main"] + NODES},
)
