"""Actor node: :class:`robot_rl.runtime.actor_core.ActorCore` over ROS. Episodes run on the main thread against
:class:`RosArmEnv` (``robot:=arm``, the default) or :class:`RosQuadEnv` (``robot:=quad``: a quadrotor over
Crazyswarm2's contract, its parameters those of :class:`RosQuadEnvConfig`); a background executor receives
weights (``rl/weights``, latched, chunked: only the policy is built from them), acks (``rl/acks``) and teleop,
and the outbox is flushed to ``rl/transitions`` at 20 Hz. Optional per-episode MCAP recording (``record_dir``,
the arm's topics) and, in teleop mode, a prior buffer for the learner (``prior_out``). Parameters: the fields of
:class:`ActorConfig`, :class:`RosEnvConfig` (or :class:`RosQuadEnvConfig`) and
:class:`ActorNodeParams` (checked; a bad value is one line and exit 2); topic names ``topics.<key>``."""
from __future__ import annotations

import json
import sys
import threading
import time

from dataclasses import dataclass

import rclpy
import rclpy.node
from std_msgs.msg import Float64MultiArray, String, UInt8MultiArray

from robot_rl.contract import ros_node as rn
from robot_rl.contract.params import param
from robot_rl.contract.topics import RL
from robot_rl.envs.ros_env import ObservationTimeout, ResetRefused, RosArmEnv, RosEnvConfig
from robot_rl.envs.ros_quad_env import RosQuadEnv, RosQuadEnvConfig
from robot_rl.runtime import ros_adapter as ra
from robot_rl.runtime.actor_core import ActorConfig, ActorCore
from robot_rl.runtime.delivery import Outbox
from robot_rl.runtime.intervention import InterventionMux, QuadInterventionMux
from robot_rl.runtime.wire import Reassembler, WireError, chunk_payload, decode_ack, encode_transitions


@dataclass(frozen=True)
class ActorNodeParams:
    robot: str = param("arm", choices=("arm", "quad"), doc="arm contract (RosArmEnv) or quadrotor (RosQuadEnv)")
    torch_threads: int = param(1, ge=1, doc="policy inference threads (one leaves the cores to DDS / the twin)")
    max_episodes: int = param(0, ge=0, doc="stop after this many episodes (0: forever)")
    record_dir: str = param("", doc="per-episode MCAP recordings into this folder (empty: none)")
    prior_out: str = param("", doc="teleop mode: write every transition to this prior buffer npz at the end")
    teleop_timeout_s: float = param(0.3, gt=0.0, doc="a teleop command older than this is no takeover [s]")
    spool_dir: str = param("", doc="keep every undelivered transition on disk in <spool_dir>/<actor_id> so that a "
                                   "restarted actor re-sends it (empty: in memory only; a killed actor loses them)")


class ActorNode(rclpy.node.Node):
    def __init__(self):
        super().__init__("actor")
        self.acfg = rn.declare_config(self, ActorConfig)
        np_ = rn.declare_config(self, ActorNodeParams)
        if np_.robot == "quad":
            ecfg = rn.declare_config(self, RosQuadEnvConfig)
        else:
            ecfg = rn.declare_config(self, RosEnvConfig)
        names = rn.topic_names(self, RL)
        import torch

        torch.set_num_threads(np_.torch_threads)
        self.max_episodes, self.record_dir, self.prior_out = np_.max_episodes, np_.record_dir, np_.prior_out
        self.lock = threading.Lock()
        self.outbox = Outbox(self.acfg.actor_id, spool=self._spool(np_.spool_dir, ecfg), on_renumber=self._renumbered)
        if self.outbox.spool is not None:
            sp = self.outbox.spool
            self.get_logger().info(f"spool {sp.folder}: {self.outbox.unpersisted} undelivered transitions to re-send"
                                   + (f" ({sp.torn_frames} cut short by the last exit, dropped)" if sp.torn_frames else ""))
        if np_.robot == "quad":
            from robot_rl.runtime.quad_adapter import RosQuadLink

            self.link = RosQuadLink(self)
            self.link.service_timeout_s = ecfg.service_timeout_s
            self.env = RosQuadEnv(self.link, ecfg, seed=self.acfg.seed)
            self.mux = QuadInterventionMux(self.env.human_action, timeout_s=np_.teleop_timeout_s)
        else:
            self.link = ra.RosArmLink(self, ecfg.cameras, image_size_px=ecfg.image_size_px)
            self.env = RosArmEnv(self.link, ecfg)
            self.mux = InterventionMux(timeout_s=np_.teleop_timeout_s)
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
        pub = lambda t, k: self.create_publisher(t, names[k], rn.qos(RL[k].qos))  # noqa: E731
        self.pub_tr = pub(UInt8MultiArray, "transitions")
        self.pub_ep = pub(String, "episodes")
        self.create_subscription(UInt8MultiArray, names["weights"], self._on_weights, rn.qos(RL["weights"].qos))
        self.create_subscription(UInt8MultiArray, names["acks"], self._on_ack, rn.qos(RL["acks"].qos))
        self.create_timer(0.05, self._flush)
        # per action: [sent (ROS time s, right after the target's publish), weights version, source frame stamps...]
        self.pub_lat = pub(Float64MultiArray, "latency")
        self.env.on_action_sent = self._action_sent
        self.recorder = None
        if self.record_dir:  # the arm contract's topics (a quad recording would need its own topic set)
            self.recorder = ra.EpisodeRecorderHook(self, self.record_dir, getattr(ecfg, "cameras", ()))
        self.core.on_episode_end = self._episode_end
        self.core.on_episode_start = self._episode_start

    def _spool(self, spool_dir: str, ecfg):
        if not spool_dir:
            return None
        from pathlib import Path

        from robot_rl.runtime.spool import Spool

        ident = {"actor_id": self.acfg.actor_id, "task": ecfg.task, "cameras": list(getattr(ecfg, "cameras", ())),
                 "image_size_px": getattr(ecfg, "image_size_px", 0)}
        spool = Spool(Path(spool_dir) / self.acfg.actor_id, ident)
        if spool.moved_aside is not None:
            self.get_logger().warning(f"spool of another configuration moved aside to {spool.moved_aside}")
        return spool

    def _renumbered(self, old_first, new_first, n) -> None:
        self.get_logger().warning(f"the learner's count of {self.acfg.actor_id} differs from this actor's: {n} "
                               f"undelivered transitions renumbered from {old_first} to {new_first}")

    def _on_weights(self, m) -> None:
        try:
            payload = self.reasm.add(bytes(m.data), time.monotonic())
        except WireError as e:
            self.rejects.reject("weights: malformed chunk", str(e))
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
                self.rejects.reject("weights: do not fit this actor (kept the last good ones)", str(e))

    def stop_workers(self) -> None:
        with self._weights_cv:
            self._weights_stop = True
            self._weights_cv.notify()
        self._weights_thread.join(timeout=5.0)
        kept = ""
        if self.outbox.spool is not None:
            with self.lock:
                self.outbox.spool.close()
            kept = f"; {self.outbox.unpersisted} undelivered transitions kept in {self.outbox.spool.folder}"
        rn.say_on_exit(self, f"shutting down: no more targets (the driver's watchdog holds){kept}")

    def _on_ack(self, m) -> None:
        try:
            _, acks = decode_ack(bytes(m.data))
        except WireError as e:
            self.rejects.reject("acks: malformed", str(e))
            return
        if self.acfg.actor_id in acks:
            r, pz = acks[self.acfg.actor_id]
            with self.lock:
                self.outbox.on_ack(r, pz, time.monotonic())

    def _action_sent(self, image_stamps: dict, sent) -> None:
        if sent is None or not image_stamps:
            return
        cams = getattr(self.env.cfg, "cameras", ())
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
                self.get_logger().warning(f"robot silent ({e}); retrying")
                time.sleep(0.5)
                continue
            except ResetRefused as e:  # driver not up yet, or e-stopped until someone recovers it: wait, retry
                self.get_logger().warning(f"{e}; retrying in 1 s", throttle_duration_sec=5.0)
                time.sleep(1.0)
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
        buf = FlaggedReplayBuffer(spec, int(np.shape(items[0].action)[0]), len(items))
        for t in items:
            buf.add(t.obs, t.action, t.reward, t.next_obs, t.terminated, t.truncated, intervened=t.intervened,
                    takeover_started=t.takeover_started)
        buf.save(self.prior_out)
        self.get_logger().info(f"wrote {len(items)} transitions to {self.prior_out}")


def _spin(node: ActorNode, stop: threading.Event) -> None:
    """Callbacks on a background executor, episodes on this thread, until ``stop`` (Ctrl-C / SIGTERM)."""
    ex, spin_thread = ra.spin_in_background(node)
    try:
        node.run(stop)
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


def main(args=None) -> int:
    return rn.run_node(ActorNode, "actor_node", args, spin=_spin)


if __name__ == "__main__":
    sys.exit(main())
