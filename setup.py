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

setup(
    name=PACKAGE,
    version="0.1.0",
    description="Learn robot skills on real hardware, safely: PyTorch RL + ROS 2 + a MuJoCo twin",
    packages=find_packages(include=["robot_rl", "robot_rl.*", "controllers", "controllers.*", "drivers", "drivers.*",
                                    "sim", "sim.*", "calibration", "calibration.*"]),
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + PACKAGE]),
        ("share/" + PACKAGE, ["package.xml"]),
        ("share/" + PACKAGE + "/launch", glob("launch/*.yaml")),
    ],
    python_requires=">=3.10",
    install_requires=[
        "setuptools",
        "numpy>=1.24",
        "mujoco>=3.2",
        "gymnasium>=1.0",
        "pyyaml>=6",
        "imageio>=2.30",
        "matplotlib>=3.7",
        "tqdm>=4.60",
        "safetensors>=0.4",
    ],
    extras_require={
        "ros": ROS_WHEELS,
        "torch": ["torch>=2.2"],
        "realsense": ["pyrealsense2>=2.54"],
        "test": ["pytest>=7", "hypothesis>=6"],
        "all": ROS_WHEELS + ["torch>=2.2", "pyrealsense2>=2.54", "pytest>=7", "hypothesis>=6"],
    },
    zip_safe=True,
    maintainer="robot_rl maintainers",
    maintainer_email="maintainers@robot-rl.invalid",
    license="Apache-2.0",
    tests_require=["pytest"],
    entry_points={"console_scripts": ["robot-rl = robot_rl.cli:main"]},
)
