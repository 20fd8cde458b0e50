"""Teleop node: a device of ``drivers/teleop.py`` -> ``teleop/twist`` (TwistStamped, action units) and
``teleop/joy`` (Joy, buttons [takeover, gripper, success, fail]) at ``rate_hz``. Names are relative (a launch
namespace moves them) and parameters ``topics.twist`` / ``topics.joy``. A bad parameter: one line, exit code 2;
an absent device: one clear line on stderr and exit code 3 (no traceback)."""
from __future__ import annotations

import sys
from dataclasses import dataclass

import rclpy.node
from geometry_msgs.msg import TwistStamped
from sensor_msgs.msg import Joy

from robot_rl.contract import ros_node as rn
from robot_rl.contract import topics as T
from robot_rl.contract.params import param
from robot_rl.drivers.teleop import DeviceUnavailable, open_device

EXIT_NO_DEVICE = 3


@dataclass(frozen=True)
class TeleopNodeParams:
    device: str = param("keyboard", doc="keyboard | gamepad | spacemouse")
    rate_hz: float = param(20.0, gt=0, le=1000, doc="publish rate")


class TeleopNode(rclpy.node.Node):
    def __init__(self):
        super().__init__("teleop")
        p = rn.declare_config(self, TeleopNodeParams)
        names = rn.topic_names(self, T.TELEOP)
        self.dev = open_device(p.device)
        self.pub_twist = self.create_publisher(TwistStamped, names["twist"], rn.qos(T.TELEOP["twist"].qos))
        self.pub_joy = self.create_publisher(Joy, names["joy"], rn.qos(T.TELEOP["joy"].qos))
        self.create_timer(1.0 / p.rate_hz, self._tick)
        self.get_logger().info(f"teleop: {p.device}")

    def _tick(self) -> None:
        c = self.dev.read()
        self._publish(c.twist, c.buttons)

    def _publish(self, twist, buttons) -> None:
        stamp = self.get_clock().now().to_msg()
        j = Joy()
        j.header.stamp = stamp
        j.buttons = [int(b) for b in buttons]
        self.pub_twist.publish(rn.twist_msg(stamp, twist))
        self.pub_joy.publish(j)

    def shut_down(self) -> None:
        """A last zero command with every button released: the actor ends a takeover now, not after its
        teleop timeout."""
        self._publish([0.0] * 6, [0, 0, 0, 0])
        self.dev.close()
        rn.say_on_exit(self, "shutting down: takeover released (zero command, buttons up)")


def main(args=None) -> int:
    return rn.run_node(TeleopNode, "teleop_node", args, on_exit=TeleopNode.shut_down,
                       errors={DeviceUnavailable: EXIT_NO_DEVICE})


if __name__ == "__main__":
    sys.exit(main())
