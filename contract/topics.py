"""Topic and service names (relative, so a launch namespace moves them) and their QoS, per robot.

The one place where a topic name is written as a string. Nodes take each name from here as the default of a
parameter ``topics.<key>`` (:func:`robot_rl.contract.ros_node.topic_names`), so a name can be changed per
node without remapping, and a launch ``namespace`` (``/left`` -> ``/left/arm/ee_pose``) moves all of them.
QoS is plain data here (numpy-free, rclpy-free); ``robot_rl.contract.ros_node.qos`` builds the rclpy profile.

The twin node and the hardware node of a robot expose exactly these; ``tests/test_contract_params.py`` checks
that every name is relative and a valid ROS name, and that no node file writes a topic name of its own.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Qos:
    reliability: str  # "reliable" | "best_effort"
    durability: str = "volatile"  # "volatile" | "transient_local"
    depth: int = 10


# sensor streams: best effort, shallow (rclpy's qos_profile_sensor_data)
SENSOR = Qos("best_effort", "volatile", 5)
# commands and events: reliable, volatile
COMMAND = Qos("reliable", "volatile", 10)
# transitions: reliable and deep, so a burst of resends is not dropped by the history
STREAM = Qos("reliable", "volatile", 1000)
# weights: reliable + transient local ("latched"): a late-joining actor gets the last weights (all its chunks)
LATCHED = Qos("reliable", "transient_local", 64)
# one latched sample (status)
LATCHED1 = Qos("reliable", "transient_local", 1)
# safety inputs (e-stop): subscribed with every profile in this tuple so that a publisher of any reliability and
# durability matches (a best-effort volatile reader matches every writer; the reliable transient-local one also
# receives a latched e-stop published before this node started)
SAFETY = (Qos("best_effort", "volatile", 10), Qos("reliable", "transient_local", 10))


@dataclass(frozen=True)
class Endpoint:
    name: str  # relative ROS name (no leading slash)
    type: str  # "geometry_msgs/msg/PoseStamped" | "std_srvs/srv/Trigger"
    qos: Qos | tuple[Qos, ...] | None  # None for services
    doc: str = ""

    @property
    def is_service(self) -> bool:
        return "/srv/" in self.type


# ---- the arm (driver and twin publish/serve these; the actor, teleop and tools use them) --------------------
ARM = {
    "joint_states": Endpoint("arm/joint_states", "sensor_msgs/msg/JointState", SENSOR, ">= 100 Hz"),
    "ee_pose": Endpoint("arm/ee_pose", "geometry_msgs/msg/PoseStamped", SENSOR, "base frame"),
    "ee_wrench": Endpoint("arm/ee_wrench", "geometry_msgs/msg/WrenchStamped", SENSOR, "estimated external wrench"),
    "target_pose": Endpoint("arm/target_pose", "geometry_msgs/msg/PoseStamped", COMMAND,
                            "impedance target, clipped by the driver"),
    "gripper_command": Endpoint("arm/gripper/command", "std_msgs/msg/Float64", COMMAND, "0 open ... 1 closed"),
    "gripper_state": Endpoint("arm/gripper/state", "sensor_msgs/msg/JointState", SENSOR, "width"),
    "estop": Endpoint("arm/estop", "std_msgs/msg/Bool", SAFETY,
                      "latched in the driver until arm/recover; accepted from any publisher QoS"),
    "reset": Endpoint("arm/reset", "std_srvs/srv/Trigger", None, "move to the reset pose; refused while e-stopped"),
    "recover": Endpoint("arm/recover", "std_srvs/srv/Trigger", None, "clears a latched e-stop or fault"),
}
# driver-only (hardware): the Franka node's status (JSON)
ARM_DRIVER = {
    "status": Endpoint("arm/status", "std_msgs/msg/String", LATCHED1, "driver state, JSON"),
}
# arm logs only (calibration/arm_log.py: written by the log recorder of robot_rl/tools/validate, no node publishes
# it yet): the law's torque and the filters' state at each state sample, what a replay compares
ARM_LOG = {
    "control": Endpoint("arm/control", "std_msgs/msg/Float64MultiArray", SENSOR,
                        "[commanded torque x7 Nm, tank energy J, tank alpha, safety interventions]"),
}
# twin-only: privileged task signal and the twin's mode (for tests and dashboards)
TWIN = {
    "task_state": Endpoint("task/state", "std_msgs/msg/Float64MultiArray", SENSOR,
                           "[reward, success, task features...] (the twin; a reward classifier on hardware)"),
    "twin_status": Endpoint("arm/twin_status", "std_msgs/msg/Float64MultiArray", SENSOR,
                            "[mode index, episode, ticks, mode since (s, ROS time)]"),
}


def camera(name: str) -> dict[str, Endpoint]:
    """A camera's topics (realsense-ros naming) under ``camera/<name>``."""
    base = f"camera/{name}"
    return {
        "color": Endpoint(f"{base}/color/image_raw", "sensor_msgs/msg/Image", SENSOR, "rgb8"),
        "color_info": Endpoint(f"{base}/color/camera_info", "sensor_msgs/msg/CameraInfo", SENSOR,
                               "from the calibration YAML when given"),
        "depth": Endpoint(f"{base}/aligned_depth_to_color/image_raw", "sensor_msgs/msg/Image", SENSOR,
                          "16UC1, millimetres"),
        "depth_info": Endpoint(f"{base}/aligned_depth_to_color/camera_info", "sensor_msgs/msg/CameraInfo", SENSOR),
    }


TELEOP = {
    "twist": Endpoint("teleop/twist", "geometry_msgs/msg/TwistStamped", COMMAND, "6-DoF command"),
    "joy": Endpoint("teleop/joy", "sensor_msgs/msg/Joy", COMMAND, "buttons: takeover, gripper, success, fail"),
}
# the quadrotor teleop node's input: a gamepad as the ROS joy driver publishes it (axes, buttons)
GAMEPAD = {"gamepad": Endpoint("joy", "sensor_msgs/msg/Joy", COMMAND, "a gamepad (joy driver): axes, buttons")}

RL = {
    "transitions": Endpoint("rl/transitions", "std_msgs/msg/UInt8MultiArray", STREAM,
                            "actor -> learner, chunked safetensors"),
    "weights": Endpoint("rl/weights", "std_msgs/msg/UInt8MultiArray", LATCHED,
                        "learner -> actors, chunked safetensors, latched"),
    "acks": Endpoint("rl/acks", "std_msgs/msg/UInt8MultiArray", COMMAND, "received / persisted per actor"),
    "episodes": Endpoint("rl/episodes", "std_msgs/msg/String", COMMAND, "episode start / end events, JSON"),
    "latency": Endpoint("rl/latency", "std_msgs/msg/Float64MultiArray", COMMAND,
                        "[sent, weights version, source frame stamps...] per action"),
}


# ---- the quadrotor (Crazyswarm2's names and types, per robot namespace, default ``cf``): the Crazyflie node and the
# quad twin node publish / serve these. QoS as Crazyswarm2's (reliable, depth 10; a best-effort reader matches too).
CF = "crazyflie_interfaces"
QUAD = {
    "cmd_vel_legacy": Endpoint("cmd_vel_legacy", "geometry_msgs/msg/Twist", COMMAND,
                               "roll linear.y deg, pitch -linear.x deg, yaw rate angular.z deg/s, thrust linear.z "
                               "0..60000"),
    "cmd_position": Endpoint("cmd_position", f"{CF}/msg/Position", COMMAND, "x, y, z m, yaw deg"),
    "cmd_velocity_world": Endpoint("cmd_velocity_world", f"{CF}/msg/VelocityWorld", COMMAND, "m/s, yaw rate deg/s"),
    "cmd_full_state": Endpoint("cmd_full_state", f"{CF}/msg/FullState", COMMAND, "pose, twist (m/s), acc"),
    "cmd_hover": Endpoint("cmd_hover", f"{CF}/msg/Hover", COMMAND, "vx, vy m/s (heading frame), yaw rate rad/s, z m"),
    "odom": Endpoint("odom", "nav_msgs/msg/Odometry", COMMAND, ">= 100 Hz; twist: world velocity, body rates"),
    "pose": Endpoint("pose", "geometry_msgs/msg/PoseStamped", COMMAND, ">= 100 Hz"),
    "estop": Endpoint("estop", "std_msgs/msg/Bool", SAFETY, "motors off, latched; accepted from any publisher QoS"),
    "driver_status": Endpoint("driver_status", "std_msgs/msg/String", LATCHED1,
                              "link (lost / reconnected), guard, battery, JSON"),
    "emergency": Endpoint("emergency", "std_srvs/srv/Empty", None, "motors off, latched"),
    "arm": Endpoint("arm", f"{CF}/srv/Arm", None, "supervisor arming"),
    "takeoff": Endpoint("takeoff", f"{CF}/srv/Takeoff", None, "high-level commander; height clipped into the fence"),
    "land": Endpoint("land", f"{CF}/srv/Land", None, "high-level commander"),
    "go_to": Endpoint("go_to", f"{CF}/srv/GoTo", None, "high-level commander; yaw rad; goal clipped into the fence"),
    "notify_setpoints_stop": Endpoint("notify_setpoints_stop", f"{CF}/srv/NotifySetpointsStop", None,
                                      "streaming ends: the high-level commander holds"),
}
# broadcast to every robot: ``all/<service>`` is resolved next to the robot namespaces (a node in /cf1 serves
# /all/takeoff; in /swarm/cf1, /swarm/all/takeoff), as Crazyswarm2's; every robot's node serves it
QUAD_ALL = {f"all_{k}": Endpoint(f"all/{k}", QUAD[k].type, None, f"every robot: {k}")
            for k in ("emergency", "arm", "takeoff", "land", "go_to", "notify_setpoints_stop")}


def all_endpoints(cameras: tuple[str, ...] = ("<name>",)) -> dict[str, Endpoint]:
    """Every endpoint of the contract keyed by its name (the design doc's table is checked against this)."""
    out = {}
    groups = [ARM, ARM_DRIVER, ARM_LOG, TWIN, TELEOP, GAMEPAD, RL, QUAD, QUAD_ALL] + [camera(c) for c in cameras]
    for g in groups:
        for e in g.values():
            out[e.name] = e
    return out
