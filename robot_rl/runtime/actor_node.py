"""Actor node: :class:`robot_rl.runtime.actor_core.ActorCore` over ROS. Episodes run on the main thread against
:class:`RosArmEnv`; a background executor receives weights (``/rl/weights``, latched, chunked), acks
(``/rl/acks``) and teleop, and the outbox is flushed to ``/rl/transitions`` at 20 Hz. Optional per-episode
MCAP recording (``record_dir``) and, in teleop mode, a prior buffer for the learner (``prior_out``)."""
from __future__ import annotations

import json
import sys
import threading
import time

import rclpy
import rclpy.node
from std_msgs.msg import Float64MultiArray, String, UInt8MultiArray

from robot_rl import ros_adapter as ra
from robot_rl.runtime.actor_core import ActorConfig, ActorCore
from robot_rl.runtime.delivery import Outbox
from robot_rl.runtime.intervention import InterventionMux
from robot_rl.envs.ros_env import ObservationTimeout, RosArmEnv, RosEnvConfig
from robot_rl.runtime.wire import Reassembler, WireError, chunk_payload, decode_ack, encode_transitions


class ActorNode(rclpy.node.Node):
    def __init__(self):
        super().__init__("actor")
        p = lambda n, d: self.declare_parameter(n, d).value  # noqa: E731
        self.acfg = ActorConfig(actor_id=p("actor_id", "actor0"), mode=p("mode", "policy"),
                                weights_every_steps=p("weights_every_steps", 10), seed=p("seed", 0),
                                eval_every_episodes=p("eval_every_episodes", 0))
        cams = tuple(c for c in p("cameras", "").split(",") if c)  # comma-separated; "" = state only
        ecfg = RosEnvConfig(task=p("task", "reach"), cameras=cams, obs_timeout_s=p("obs_timeout_s", 1.0),
                            camera_sync=p("camera_sync", True), camera_sync_slack_s=p("camera_sync_slack_s", 0.05))
        import torch

        torch.set_num_threads(p("torch_threads", 1))  # policy inference: one thread leaves the cores to DDS/twin
        self.max_episodes = p("max_episodes", 0)  # 0: forever
        self.record_dir = p("record_dir", "")
        self.prior_out = p("prior_out", "")
        self.lock = threading.Lock()
        self.mux = InterventionMux(timeout_s=p("teleop_timeout_s", 0.3))
        self.outbox = Outbox(self.acfg.actor_id)
        self.link = ra.RosArmLink(self, ecfg.cameras)
        self.env = RosArmEnv(self.link, ecfg)
        self.core = ActorCore(self.env, self.acfg, self.mux, self.outbox, self.lock)
        ra.TeleopListener(self, self.mux, self.lock)
        self.reasm = Reassembler()
        # complete weights payloads are built into a policy on their own thread, so the (single) executor thread
        # keeps delivering images and poses meanwhile (a pixel policy takes ~20 ms to build on a CPU)
        self._weights_cv = threading.Condition()
        self._weights_payload: bytes | None = None
        self._weights_stop = False
        self._weights_thread = threading.Thread(target=self._build_weights, name="actor-weights", daemon=True)
        self._weights_thread.start()
        self.pub_tr = self.create_publisher(UInt8MultiArray, "/rl/transitions", ra.STREAM)
        self.pub_ep = self.create_publisher(String, "/rl/episodes", ra.RELIABLE)
        self.create_subscription(UInt8MultiArray, "/rl/weights", self._on_weights, ra.LATCHED)
        self.create_subscription(UInt8MultiArray, "/rl/acks", self._on_ack, ra.RELIABLE)
        self.create_timer(0.05, self._flush)
        # per action: [sent (ROS time s, right after the target's publish), weights version, source frame stamps...]
        self.pub_lat = self.create_publisher(Float64MultiArray, "/rl/latency", ra.RELIABLE)
        self.env.on_action_sent = self._action_sent
        self.recorder = None
        if self.record_dir:
            self.recorder = ra.EpisodeRecorderHook(self, self.record_dir, ecfg.cameras)
        self.core.on_episode_end = self._episode_end
        self.core.on_episode_start = self._episode_start

    def _on_weights(self, m) -> None:
        try:
            payload = self.reasm.add(bytes(m.data), time.monotonic())
        except WireError as e:
            self.get_logger().warn(f"dropped a weights chunk: {e}")
            return
        if payload is not None:
            with self._weights_cv:  # only the newest complete payload matters
                self._weights_payload = payload
                self._weights_cv.notify()

    def _build_weights(self) -> None:
        while True:
            with self._weights_cv:
                while self._weights_payload is None and not self._weights_stop:
                    self._weights_cv.wait()
                if self._weights_stop:
                    return
                payload, self._weights_payload = self._weights_payload, None
            try:
                self.core.offer_weights(payload)
            except ValueError as e:  # WireError included: keep acting on the last good weights
                self.get_logger().error(f"ignored weights that do not fit this actor: {e}")

    def stop_workers(self) -> None:
        with self._weights_cv:
            self._weights_stop = True
            self._weights_cv.notify()
        self._weights_thread.join(timeout=5.0)

    def _on_ack(self, m) -> None:
        try:
            _, acks = decode_ack(bytes(m.data))
        except WireError:
            return
        if self.acfg.actor_id in acks:
            r, pz = acks[self.acfg.actor_id]
            with self.lock:
                self.outbox.on_ack(r, pz, time.monotonic())

    def _action_sent(self, image_stamps: dict, sent) -> None:
        if sent is None or not image_stamps:
            return
        cams = self.env.cfg.cameras
        self.pub_lat.publish(Float64MultiArray(data=[float(sent), float(self.core.weights_version),
                                                     *(float(image_stamps[c]) for c in cams)]))

    def _flush(self) -> None:
        with self.lock:
            batch = self.outbox.to_send(time.monotonic())
        for t in batch:  # one message per transition keeps every message small
            for frame in chunk_payload(encode_transitions([t])):
                self.pub_tr.publish(ra.bytes_msg(frame))

    def _episode_start(self, info: dict) -> None:
        """Announce the episode (``eval``: a scripted human stands down for it)."""
        self.pub_ep.publish(String(data=json.dumps({"event": "start", "actor": self.acfg.actor_id, **info})))

    def _episode_end(self, info: dict) -> None:
        info = {**info, "actor": self.acfg.actor_id, "weight_loads": self.core.weight_loads,
                "unpersisted": self.outbox.unpersisted, "sent": self.outbox.last_seq}
        self.pub_ep.publish(String(data=json.dumps({"event": "end", **info})))
        self.get_logger().info(f"episode {info}")

    def run(self, stop: threading.Event) -> None:
        n = 0
        while not stop.is_set() and rclpy.ok() and (self.max_episodes <= 0 or n < self.max_episodes):
            if self.recorder is not None:
                self.recorder.start(self.core.episode + 1)
            try:
                self.core.run_episode(stop)
            except ObservationTimeout as e:
                self.get_logger().warn(f"robot silent ({e}); retrying")
                time.sleep(0.5)
                continue
            finally:
                if self.recorder is not None:
                    self.recorder.stop()
            n += 1
        if self.prior_out:
            self._write_prior()

    def _write_prior(self) -> None:
        """Teleop mode: every recorded transition into a prior buffer file (npz) for the learner."""
        import numpy as np

        from robot_rl.learning.flagged_replay import FlaggedReplayBuffer

        items = [t for t in self.outbox._items.values()]
        if not items:
            return
        spec = {k: (tuple(np.shape(v)), np.asarray(v).dtype) for k, v in items[0].obs.items()}
        buf = FlaggedReplayBuffer(spec, 7, len(items))
        for t in items:
            buf.add(t.obs, t.action, t.reward, t.next_obs, t.terminated, t.truncated, intervened=t.intervened,
                    takeover_started=t.takeover_started)
        buf.save(self.prior_out)
        self.get_logger().info(f"wrote {len(items)} transitions to {self.prior_out}")


def main(args=None) -> int:
    ra.init(args)
    node = ActorNode()
    ex, spin_thread = ra.spin_in_background(node)
    stop = threading.Event()
    try:
        node.run(stop)
    except KeyboardInterrupt:
        pass
    except Exception:  # noqa: BLE001  (a publish after SIGINT shut the context down is a clean exit)
        if rclpy.ok():
            raise
    finally:
        stop.set()
        # the spin thread must be out of rclpy's C++ wait before the interpreter exits, or the process aborts
        # ("terminate called without an active exception") and a finished recording exits non-zero
        ex.shutdown(timeout_sec=5.0)
        spin_thread.join(timeout=5.0)
        node.stop_workers()
        node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
