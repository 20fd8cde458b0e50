"""Scripted human node: :class:`robot_rl.runtime.scripted_human.ScriptedHuman` over ROS. Reads ``/arm/ee_pose`` and
``/task/state``; while taking over publishes ``/teleop/twist`` (action units) and ``/teleop/joy`` with the
takeover button held, at 20 Hz; otherwise publishes the joy with takeover released at 2 Hz.
``always_takeover:=true`` makes it drive all the time (demos for ``robot-rl record-demos``)."""
from __future__ import annotations

import json
import sys
import time

import numpy as np
import rclpy
import rclpy.node
from geometry_msgs.msg import PoseStamped, TwistStamped
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Joy
from std_msgs.msg import Float64MultiArray, String

from robot_rl import ros_adapter as ra
from robot_rl.envs.ros_env import quat_to_mat
from robot_rl.runtime.scripted_human import ScriptedHuman, ScriptedHumanConfig


class ScriptedHumanNode(rclpy.node.Node):
    def __init__(self):
        super().__init__("scripted_human")
        p = lambda n, d: self.declare_parameter(n, d).value  # noqa: E731
        self.cfg = ScriptedHumanConfig(task=p("task", "reach"), noise_std=p("noise_std", 0.1),
                                       patience_steps=p("patience_steps", 10), takeover_steps=p("takeover_steps", 15),
                                       seed=p("seed", 0))
        self.always = p("always_takeover", False)
        self.enabled = p("enabled", True)
        self.human = ScriptedHuman(self.cfg)
        self.pose = None
        self.task = None
        self.action = None
        self.create_subscription(PoseStamped, "/arm/ee_pose", self._on_pose, qos_profile_sensor_data)
        self.create_subscription(Float64MultiArray, "/task/state", self._on_task, qos_profile_sensor_data)
        self.standing_down = False  # during an actor's evaluation episode
        self._driving = False  # the last publish was a takeover
        self.create_subscription(String, "/rl/episodes", self._on_episode, ra.RELIABLE)
        self.pub_twist = self.create_publisher(TwistStamped, "/teleop/twist", ra.RELIABLE)
        self.pub_joy = self.create_publisher(Joy, "/teleop/joy", ra.RELIABLE)
        self.create_timer(1.0 / ra_policy_hz(self.cfg.task), self._period)
        self.create_timer(0.05, self._publish)

    def _on_pose(self, m) -> None:
        o, q = m.pose.position, m.pose.orientation
        self.pose = (np.array([o.x, o.y, o.z]), quat_to_mat([q.w, q.x, q.y, q.z]))

    def _on_task(self, m) -> None:
        self.task = np.asarray(m.data)

    def _on_episode(self, m) -> None:
        """Every episode boundary resets the stray detector; an evaluation episode's start stands the human down
        (the policy is scored alone) until that episode ends."""
        self.human.reset()
        self.action = None  # let go at once: the 20 Hz publisher must not send the old takeover into the new episode
        try:
            info = json.loads(m.data)
        except ValueError:
            info = {}
        self.standing_down = bool(info.get("event") == "start" and info.get("eval"))

    def _period(self) -> None:
        if not self.enabled or self.standing_down or self.pose is None or self.task is None:
            self.action = None
            return
        self.human.observe(*self.pose, self.task)
        a = self.human.period()
        if self.always and a is None:
            a = self.human.expert.act()
        self.action = a

    def _publish(self) -> None:
        joy = Joy()
        joy.header.stamp = self.get_clock().now().to_msg()
        if self.action is None:
            joy.buttons = [0, 0, 0, 0]
            self.pub_joy.publish(joy)
            if self._driving:  # let go of the stick too: a stale twist would keep pushing for the mux timeout
                t = TwistStamped()
                t.header.stamp = joy.header.stamp
                self.pub_twist.publish(t)
                self._driving = False
            return
        self._driving = True
        t = TwistStamped()
        t.header.stamp = joy.header.stamp
        a = [float(v) for v in self.action]
        t.twist.linear.x, t.twist.linear.y, t.twist.linear.z = a[0:3]
        t.twist.angular.x, t.twist.angular.y, t.twist.angular.z = a[3:6]
        joy.buttons = [1, 0, 0, 0]
        self.pub_twist.publish(t)
        self.pub_joy.publish(joy)


def ra_policy_hz(task: str) -> float:
    from robot_rl.sim.tasks import TASKS

    return TASKS[task].config.policy_hz


def main(args=None) -> int:
    ra.init(args)
    return ra.spin_until_shutdown(ScriptedHumanNode())


if __name__ == "__main__":
    sys.exit(main())
