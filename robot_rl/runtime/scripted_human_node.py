"""Scripted human node: :class:`robot_rl.runtime.scripted_human.ScriptedHuman` over ROS. Reads ``arm/ee_pose`` and
``task/state``; while taking over publishes ``teleop/twist`` (action units) and ``teleop/joy`` with the
takeover button held, at 20 Hz; otherwise publishes the joy with takeover released at 2 Hz. Stands down during an
actor's evaluation episodes (``rl/episodes``). Names are relative ``topics.<key>`` parameters (a launch namespace
moves them). ``always_takeover:=true`` makes it drive all the time (demos for ``robot-rl record-demos``)."""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass

import numpy as np
import rclpy.node
from geometry_msgs.msg import PoseStamped, TwistStamped
from sensor_msgs.msg import Joy
from std_msgs.msg import Float64MultiArray, String

from robot_rl.contract import ros_node as rn
from robot_rl.contract import topics as T
from robot_rl.contract.arm import ARM_TASKS
from robot_rl.contract.params import param
from robot_rl.contract.rotations import quat_to_mat
from robot_rl.runtime.ros_adapter import node_rejects
from robot_rl.runtime.scripted_human import ScriptedHuman, ScriptedHumanConfig

_h = ScriptedHumanConfig()


@dataclass(frozen=True)
class ScriptedHumanNodeParams:
    task: str = param(_h.task, choices=tuple(ARM_TASKS))
    noise_std: float = param(_h.noise_std, ge=0, le=10, doc="action noise, action units")
    patience_steps: int = param(_h.patience_steps, ge=1, doc="policy periods without progress before taking over")
    progress_m: float = param(_h.progress_m, ge=0, doc="progress: the goal distance shrank by this over the window")
    takeover_steps: int = param(_h.takeover_steps, ge=1, doc="policy periods per takeover")
    seed: int = param(_h.seed, ge=0)
    always_takeover: bool = param(False, doc="drive all the time (demos)")
    enabled: bool = param(True)


class ScriptedHumanNode(rclpy.node.Node):
    def __init__(self):
        super().__init__("scripted_human")
        p = rn.declare_config(self, ScriptedHumanNodeParams)
        self.cfg = ScriptedHumanConfig(task=p.task, noise_std=p.noise_std, patience_steps=p.patience_steps,
                                       progress_m=p.progress_m, takeover_steps=p.takeover_steps, seed=p.seed)
        self.always = p.always_takeover
        self.enabled = p.enabled
        self.human = ScriptedHuman(self.cfg)
        self.rejects = node_rejects(self)
        self.pose = None
        self.task = None
        self.action = None
        eps = {"ee_pose": T.ARM["ee_pose"], "task_state": T.TWIN["task_state"], "episodes": T.RL["episodes"],
               **T.TELEOP}
        n = rn.topic_names(self, eps)
        q = lambda k: rn.qos(eps[k].qos)  # noqa: E731
        self.create_subscription(PoseStamped, n["ee_pose"], self._on_pose, q("ee_pose"))
        self.create_subscription(Float64MultiArray, n["task_state"], self._on_task, q("task_state"))
        self.standing_down = False  # during an actor's evaluation episode
        self._driving = False  # the last publish was a takeover
        self.create_subscription(String, n["episodes"], self._on_episode, q("episodes"))
        self.pub_twist = self.create_publisher(TwistStamped, n["twist"], q("twist"))
        self.pub_joy = self.create_publisher(Joy, n["joy"], q("joy"))
        self.create_timer(1.0 / ARM_TASKS[p.task].policy_hz, self._period)
        self.create_timer(0.05, self._publish)

    def _on_pose(self, m) -> None:
        pos, quat = rn.pose_of(m)
        try:
            if not np.all(np.isfinite(pos)):
                raise ValueError("position not finite")
            self.pose = (np.array(pos), quat_to_mat(quat))
        except ValueError as e:  # RotationError included
            self.rejects.reject("ee_pose: unusable", str(e))

    def _on_task(self, m) -> None:
        task = np.asarray(m.data, float)
        if task.size < 2 or not np.all(np.isfinite(task)):
            self.rejects.reject("task_state: fewer than 2 values or not finite")
        elif self.task is not None and task.shape != self.task.shape:
            self.rejects.reject("task_state: size changed", f"{task.size} values, was {self.task.size}")
        else:
            self.task = task

    def _on_episode(self, m) -> None:
        """Every episode boundary resets the stray detector; an evaluation episode's start stands the human down
        (the policy is scored alone) until that episode ends."""
        self.human.reset()
        self.action = None  # let go at once: the 20 Hz publisher must not send the old takeover into the new episode
        try:
            info = json.loads(m.data)
        except ValueError:
            info = None
        if not isinstance(info, dict):
            self.rejects.reject("episodes: not a JSON object")
            info = {}
        self.standing_down = bool(info.get("event") == "start" and info.get("eval"))

    def _period(self) -> None:
        if not self.enabled or self.standing_down or self.pose is None or self.task is None:
            self.action = None
            return
        try:
            self.human.observe(*self.pose, self.task)
        except (ValueError, IndexError) as e:  # task features this task's expert cannot read
            self.rejects.reject("task_state: does not fit the task", str(e))
            self.task, self.action = None, None
            return
        a = self.human.period()
        if self.always and a is None:
            a = self.human.expert.act()
        self.action = a

    def _publish(self) -> None:
        stamp = self.get_clock().now().to_msg()
        joy = Joy()
        joy.header.stamp = stamp
        if self.action is None:
            joy.buttons = [0, 0, 0, 0]
            self.pub_joy.publish(joy)
            if self._driving:  # let go of the stick too: a stale twist would keep pushing for the mux timeout
                self.pub_twist.publish(rn.twist_msg(stamp, [0.0] * 6))
                self._driving = False
            return
        self._driving = True
        joy.buttons = [1, 0, 0, 0]
        self.pub_twist.publish(rn.twist_msg(stamp, self.action[:6]))
        self.pub_joy.publish(joy)


def main(args=None) -> int:
    return rn.run_node(ScriptedHumanNode, "scripted_human_node", args)


if __name__ == "__main__":
    sys.exit(main())
