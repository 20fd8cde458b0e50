"""Teleop node: a device of ``drivers/teleop.py`` -> ``/teleop/twist`` (TwistStamped, action units) and
``/teleop/joy`` (Joy, buttons [takeover, gripper, success, fail]) at ``rate_hz``. An absent device: one clear
line on stderr and exit code 3 (no traceback)."""
from __future__ import annotations

import sys

import rclpy
import rclpy.executors
import rclpy.node
from geometry_msgs.msg import TwistStamped
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Joy

from robot_rl.drivers.teleop import DeviceUnavailable, open_device

EXIT_NO_DEVICE = 3


class TeleopNode(rclpy.node.Node):
    def __init__(self):
        super().__init__("teleop")
        name = self.declare_parameter("device", "keyboard").value
        rate = self.declare_parameter("rate_hz", 20.0).value
        self.dev = open_device(name)
        qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self.pub_twist = self.create_publisher(TwistStamped, "/teleop/twist", qos)
        self.pub_joy = self.create_publisher(Joy, "/teleop/joy", qos)
        self.create_timer(1.0 / rate, self._tick)
        self.get_logger().info(f"teleop: {name}")

    def _tick(self) -> None:
        c = self.dev.read()
        stamp = self.get_clock().now().to_msg()
        t = TwistStamped()
        t.header.stamp = stamp
        t.twist.linear.x, t.twist.linear.y, t.twist.linear.z = (float(v) for v in c.twist[:3])
        t.twist.angular.x, t.twist.angular.y, t.twist.angular.z = (float(v) for v in c.twist[3:])
        j = Joy()
        j.header.stamp = stamp
        j.buttons = [int(b) for b in c.buttons]
        self.pub_twist.publish(t)
        self.pub_joy.publish(j)


def main(args=None) -> int:
    rclpy.init(args=sys.argv if args is None else args)
    try:
        node = TeleopNode()
    except DeviceUnavailable as e:
        print(f"teleop_node: {e}", file=sys.stderr)
        rclpy.shutdown()
        return EXIT_NO_DEVICE
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, rclpy.executors.ExternalShutdownException):
        pass
    finally:
        node.dev.close()
        node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
