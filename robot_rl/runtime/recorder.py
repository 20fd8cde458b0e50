"""Episode recording: one MCAP file per episode, ROS 2 message encoding (``cdr`` messages, ``ros2msg`` schemas),
readable by the ``mcap`` / ``mcap-ros2-support`` readers, rosbags and Foxglove. Messages arrive already
serialized (raw subscriptions), so nothing here imports rclpy; schema texts come from rosbags' type store."""
from __future__ import annotations

import threading
from pathlib import Path

from mcap.writer import CompressionType, Writer

from robot_rl.contract import topics as T

# what the recorder subscribes by default: the arm contract, teleop and the task state (cameras added), keyed as
# the nodes' ``topics.<key>`` parameters (names relative: a launch namespace moves them)
DEFAULT_TOPICS: dict[str, T.Endpoint] = {
    **{k: T.ARM[k] for k in ("joint_states", "ee_pose", "ee_wrench", "target_pose", "gripper_command",
                             "gripper_state")},
    **T.TELEOP,
    "task_state": T.TWIN["task_state"],
}


def camera_topics(cameras) -> dict[str, T.Endpoint]:
    """``camera.<name>.color`` / ``camera.<name>.color_info`` for each camera (same keys as the twin's)."""
    out = {}
    for c in cameras:
        eps = T.camera(c)
        out.update({f"camera.{c}.{k}": eps[k] for k in ("color", "color_info")})
    return out


_TYPESTORE = None


def msgdef(ros_type: str) -> str:
    """Full ROS 2 message definition text (with dependencies) for an MCAP ``ros2msg`` schema."""
    global _TYPESTORE
    if _TYPESTORE is None:
        from rosbags.typesys import Stores, get_typestore

        _TYPESTORE = get_typestore(Stores.ROS2_KILTED)
    text, _ = _TYPESTORE.generate_msgdef(ros_type, ros_version=2)
    return text


class McapEpisodeWriter:
    """Writes serialized (CDR) messages of one episode into one ``.mcap`` file; thread-safe."""

    def __init__(self, path: str | Path, topics: dict[str, str], metadata: dict[str, str] | None = None):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = self.path.with_suffix(".mcap.partial")
        self._f = open(self._tmp, "wb")
        self._w = Writer(self._f, compression=CompressionType.ZSTD)
        self._w.start(profile="ros2", library="robot_rl")
        self._lock = threading.Lock()
        self._channels: dict[str, int] = {}
        self.count = 0
        schemas: dict[str, int] = {}
        for topic, ros_type in topics.items():
            if ros_type not in schemas:
                schemas[ros_type] = self._w.register_schema(name=ros_type, encoding="ros2msg",
                                                            data=msgdef(ros_type).encode())
            self._channels[topic] = self._w.register_channel(topic=topic, message_encoding="cdr",
                                                             schema_id=schemas[ros_type])
        if metadata:
            self._w.add_metadata("episode", {k: str(v) for k, v in metadata.items()})

    def write(self, topic: str, cdr: bytes, log_time_ns: int, publish_time_ns: int | None = None) -> None:
        with self._lock:
            if self._w is None:
                return
            self._w.add_message(channel_id=self._channels[topic], log_time=log_time_ns, data=bytes(cdr),
                                publish_time=publish_time_ns if publish_time_ns is not None else log_time_ns,
                                sequence=self.count)
            self.count += 1

    def close(self, metadata: dict[str, str] | None = None) -> Path:
        """Finish the file (atomically renamed into place) and return its path."""
        import os

        with self._lock:
            if self._w is None:
                return self.path
            if metadata:
                self._w.add_metadata("result", {k: str(v) for k, v in metadata.items()})
            self._w.finish()
            self._w = None
            self._f.flush()
            os.fsync(self._f.fileno())
            self._f.close()
            os.replace(self._tmp, self.path)
        return self.path
