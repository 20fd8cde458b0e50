"""Wire format of ``/rl/transitions`` and ``/rl/weights``: byte payloads that execute no code on load.

* A **transition** (or a batch of them) is a safetensors blob of numpy arrays plus string metadata (actor id,
  sequence number, flags). Observations are stored under ``obs/<key>`` and ``next_obs/<key>``.
* **Weights** are a safetensors blob of tensors (the actor's network and the state normalisation) plus metadata
  (version = learner update count).
* Any payload larger than ``chunk_bytes`` is split into **chunks**. Each chunk is a small binary frame::

      MAGIC(4) | header_len(u32 LE) | header (JSON, utf-8) | body bytes

  The header names the message (``msg_id``), the chunk index and count, the total size and the SHA-256 of the
  whole payload. :class:`Reassembler` collects chunks (any order, duplicates ignored), checks sizes and the
  digest, and yields the payload once complete; incomplete messages expire after ``max_age_s`` (the caller's
  clock) or when too many are in flight.

Nothing here imports rclpy; nodes put the frames into ``std_msgs/UInt8MultiArray`` messages.
"""
from __future__ import annotations

import hashlib
import json
import struct
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
from safetensors.numpy import load as st_load_np
from safetensors.numpy import save as st_save_np

MAGIC = b"RLW1"
DEFAULT_CHUNK_BYTES = 256 * 1024
_HDR = struct.Struct("<I")


class WireError(ValueError):
    """A payload or chunk that cannot be decoded (truncated, corrupted, wrong kind)."""


# ---- transitions ---------------------------------------------------------------------------------------------
@dataclass
class Transition:
    obs: dict[str, np.ndarray]
    action: np.ndarray
    reward: float
    next_obs: dict[str, np.ndarray]
    terminated: bool
    truncated: bool
    intervened: bool = False  # a human chose this action
    takeover_started: bool = False  # the human took over on this step
    success: bool = False
    actor_id: str = ""
    seq: int = 0  # per-actor sequence number, 1, 2, 3, ... (the learner acknowledges contiguous prefixes)
    episode: int = 0


_T_FLAGS = ("terminated", "truncated", "intervened", "takeover_started", "success")


def encode_transitions(ts: list[Transition]) -> bytes:
    """A batch of transitions (same actor, consecutive seqs not required) as one safetensors blob."""
    if not ts:
        raise WireError("no transitions to encode")
    arrays: dict[str, np.ndarray] = {}
    for k in ts[0].obs:
        arrays[f"obs/{k}"] = np.stack([np.asarray(t.obs[k]) for t in ts])
        arrays[f"next_obs/{k}"] = np.stack([np.asarray(t.next_obs[k]) for t in ts])
    arrays["action"] = np.stack([np.asarray(t.action, np.float32) for t in ts])
    arrays["reward"] = np.asarray([t.reward for t in ts], np.float32)
    for f in _T_FLAGS:
        arrays[f] = np.asarray([getattr(t, f) for t in ts], np.uint8)
    arrays["seq"] = np.asarray([t.seq for t in ts], np.int64)
    arrays["episode"] = np.asarray([t.episode for t in ts], np.int64)
    arrays = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
    return st_save_np(arrays, metadata={"kind": "transitions", "actor_id": ts[0].actor_id})


def decode_transitions(data: bytes) -> list[Transition]:
    meta = _metadata(data)
    if meta.get("kind") != "transitions":
        raise WireError(f"payload is {meta.get('kind')!r}, expected 'transitions'")
    try:
        a = st_load_np(bytes(data))
        n = len(a["reward"])
        obs_keys = [k[4:] for k in a if k.startswith("obs/")]
        out = []
        for i in range(n):
            out.append(Transition(
                obs={k: a[f"obs/{k}"][i] for k in obs_keys},
                action=a["action"][i], reward=float(a["reward"][i]),
                next_obs={k: a[f"next_obs/{k}"][i] for k in obs_keys},
                **{f: bool(a[f][i]) for f in _T_FLAGS},
                actor_id=meta.get("actor_id", ""), seq=int(a["seq"][i]), episode=int(a["episode"][i])))
    except (KeyError, IndexError, ValueError) as e:
        raise WireError(f"malformed transitions payload: {e}") from None
    return out


# ---- weights -------------------------------------------------------------------------------------------------
def encode_weights(tensors: dict[str, np.ndarray], version: int, extra: dict[str, str] | None = None) -> bytes:
    arrays = {k: np.ascontiguousarray(np.asarray(v)) for k, v in tensors.items()}
    meta = {"kind": "weights", "version": str(int(version)), **(extra or {})}
    return st_save_np(arrays, metadata=meta)


def decode_weights(data: bytes) -> tuple[dict[str, np.ndarray], int, dict[str, str]]:
    meta = _metadata(data)
    if meta.get("kind") != "weights":
        raise WireError(f"payload is {meta.get('kind')!r}, expected 'weights'")
    try:
        return st_load_np(bytes(data)), int(meta["version"]), meta
    except (KeyError, ValueError) as e:
        raise WireError(f"malformed weights payload: {e}") from None


def _metadata(data: bytes) -> dict[str, str]:
    """The safetensors header's ``__metadata__`` (read without touching the tensors)."""
    data = bytes(data)
    if len(data) < 8:
        raise WireError("payload too short for a safetensors header")
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8:
        raise WireError("safetensors header length exceeds the payload (truncated?)")
    try:
        hdr = json.loads(data[8:8 + n])
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise WireError(f"safetensors header is not JSON: {e}") from None
    meta = hdr.get("__metadata__") or {}
    if not isinstance(meta, dict):
        raise WireError("safetensors metadata is not a mapping")
    return meta


# ---- chunking ------------------------------------------------------------------------------------------------
def chunk_payload(payload: bytes, chunk_bytes: int = DEFAULT_CHUNK_BYTES, msg_id: str | None = None) -> list[bytes]:
    """Split ``payload`` into framed chunks (one frame if it fits)."""
    if chunk_bytes < 1:
        raise ValueError("chunk_bytes must be >= 1")
    payload = bytes(payload)
    msg_id = msg_id or uuid.uuid4().hex
    digest = hashlib.sha256(payload).hexdigest()
    count = max(1, -(-len(payload) // chunk_bytes))
    frames = []
    for i in range(count):
        body = payload[i * chunk_bytes:(i + 1) * chunk_bytes]
        hdr = json.dumps({"id": msg_id, "i": i, "n": count, "size": len(payload), "sha256": digest},
                         separators=(",", ":")).encode()
        frames.append(MAGIC + _HDR.pack(len(hdr)) + hdr + body)
    return frames


def parse_chunk(frame: bytes) -> tuple[dict, bytes]:
    frame = bytes(frame)
    if len(frame) < 8 or frame[:4] != MAGIC:
        raise WireError("not a robot_rl wire chunk (bad magic)")
    (n,) = _HDR.unpack(frame[4:8])
    if 8 + n > len(frame):
        raise WireError("chunk header runs past the frame (truncated)")
    try:
        hdr = json.loads(frame[8:8 + n])
        for k, t in (("id", str), ("i", int), ("n", int), ("size", int), ("sha256", str)):
            if not isinstance(hdr[k], t):
                raise TypeError(k)
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as e:
        raise WireError(f"bad chunk header: {e}") from None
    if not (0 <= hdr["i"] < hdr["n"]) or hdr["size"] < 0:
        raise WireError(f"chunk index {hdr['i']} out of range 0..{hdr['n'] - 1}")
    return hdr, frame[8 + n:]


@dataclass
class _Partial:
    n: int
    size: int
    sha256: str
    started_s: float
    parts: dict[int, bytes] = field(default_factory=dict)


class Reassembler:
    """Collects chunks into payloads. ``add(frame, now_s)`` returns the payload when its last chunk arrives
    (digest verified), else None. Corrupt or inconsistent messages raise :class:`WireError` and are dropped."""

    def __init__(self, max_age_s: float = 30.0, max_in_flight: int = 64):
        self.max_age_s = max_age_s
        self.max_in_flight = max_in_flight
        self._partial: dict[str, _Partial] = {}
        self._done: OrderedDict[str, None] = OrderedDict()  # recently completed ids: late duplicates ignored
        self.dropped = 0  # messages given up (expired, evicted or corrupt)

    def add(self, frame: bytes, now_s: float) -> bytes | None:
        hdr, body = parse_chunk(frame)
        self._expire(now_s)
        mid = hdr["id"]
        if mid in self._done:
            return None
        p = self._partial.get(mid)
        if p is None:
            if len(self._partial) >= self.max_in_flight:
                oldest = min(self._partial, key=lambda k: self._partial[k].started_s)
                del self._partial[oldest]
                self.dropped += 1
            p = self._partial[mid] = _Partial(hdr["n"], hdr["size"], hdr["sha256"], now_s)
        elif (p.n, p.size, p.sha256) != (hdr["n"], hdr["size"], hdr["sha256"]):
            del self._partial[mid]
            self.dropped += 1
            raise WireError(f"message {mid}: chunk headers disagree")
        p.parts.setdefault(hdr["i"], body)
        if len(p.parts) < p.n:
            return None
        del self._partial[mid]
        self._done[mid] = None
        while len(self._done) > 4 * self.max_in_flight:
            self._done.popitem(last=False)
        payload = b"".join(p.parts[i] for i in range(p.n))
        if len(payload) != p.size or hashlib.sha256(payload).hexdigest() != p.sha256:
            self.dropped += 1
            raise WireError(f"message {mid}: reassembled payload fails its size/SHA-256 check")
        return payload

    def _expire(self, now_s: float) -> None:
        for mid in [m for m, p in self._partial.items() if now_s - p.started_s > self.max_age_s]:
            del self._partial[mid]
            self.dropped += 1

    @property
    def in_flight(self) -> int:
        return len(self._partial)


# ---- acknowledgements ----------------------------------------------------------------------------------------
def encode_ack(acks: dict[str, tuple[int, int]], learner_id: str) -> bytes:
    """``{actor_id: (received, persisted)}``: highest contiguous seq received / checkpointed per actor."""
    return json.dumps({"learner": learner_id, "acks": {k: list(v) for k, v in acks.items()}}).encode()


def decode_ack(data: bytes) -> tuple[str, dict[str, tuple[int, int]]]:
    try:
        d = json.loads(bytes(data))
        return str(d["learner"]), {str(k): (int(v[0]), int(v[1])) for k, v in d["acks"].items()}
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError, IndexError) as e:
        raise WireError(f"bad ack payload: {e}") from None
