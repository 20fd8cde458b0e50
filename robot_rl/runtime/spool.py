"""An actor's spool: every transition on disk before it is sent, until the learner has persisted it.

Robot time is what learning costs; an actor killed (kill -9, a power switch on the robot computer) must not take
the transitions it had not delivered with it. :class:`Spool` appends each transition to a segment file in
``folder`` (one frame: 4-byte little-endian length, CRC-32, the transition as the wire's safetensors -- nothing
on load executes code), flushes it to the OS at once (a killed process loses nothing) and fsyncs at most every
``fsync_every_s`` (a power cut loses at most that much). A restarted actor reloads what the learner has not
persisted (:meth:`load`); segments wholly persisted are deleted (:meth:`trim`).

``spool.json`` names what the spool belongs to (actor id and the observation spec, :meth:`Spool.open`): a spool
written by another task or camera set is moved aside (``<folder>.stale-<time>``), never replayed into a learner
that cannot use it, never deleted.
"""
from __future__ import annotations

import json
import os
import struct
import time
import zlib
from pathlib import Path

from robot_rl.runtime.wire import Transition, WireError, decode_transitions, encode_transitions

_HEADER = struct.Struct("<II")  # length, crc32


class Spool:
    def __init__(self, folder: str | Path, identity: dict, segment_transitions: int = 200,
                 fsync_every_s: float = 1.0):
        self.folder = Path(folder)
        self.identity = identity
        self.segment_transitions = segment_transitions
        self.fsync_every_s = fsync_every_s
        self.torn_frames = 0  # frames cut short by a kill mid-write (dropped on load)
        self.moved_aside: Path | None = None
        self._file = None
        self._seg_first = self._seg_count = 0
        self._synced_at = time.monotonic()
        self._open_folder()

    def _open_folder(self) -> None:
        ident = self.folder / "spool.json"
        if ident.is_file():
            try:
                same = json.loads(ident.read_text()) == self.identity
            except (OSError, json.JSONDecodeError):
                same = False
            if not same:
                self.moved_aside = self.folder.with_name(f"{self.folder.name}.stale-{time.strftime('%Y%m%d-%H%M%S')}")
                self.folder.rename(self.moved_aside)
        self.folder.mkdir(parents=True, exist_ok=True)
        if not ident.is_file():
            tmp = ident.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.identity, sort_keys=True))
            os.replace(tmp, ident)

    def _segments(self) -> list[Path]:
        return sorted(self.folder.glob("*.seg"), key=lambda p: int(p.stem))

    # ---- write ---------------------------------------------------------------------------------------------
    def append(self, t: Transition) -> None:
        if self._file is None or self._seg_count >= self.segment_transitions:
            self._roll(t.seq)
        data = encode_transitions([t])
        self._file.write(_HEADER.pack(len(data), zlib.crc32(data)) + data)
        self._file.flush()  # in the OS now: a killed process loses nothing
        self._seg_count += 1
        if time.monotonic() - self._synced_at >= self.fsync_every_s:
            os.fsync(self._file.fileno())
            self._synced_at = time.monotonic()

    def _roll(self, first_seq: int) -> None:
        self.close()
        self._file = open(self.folder / f"{first_seq:012d}.seg", "ab")  # noqa: SIM115 (kept open, closed in close())
        self._seg_first, self._seg_count = first_seq, 0

    def close(self) -> None:
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self._file = None

    def rewrite(self, ts: list[Transition]) -> None:
        """Replace the whole spool by ``ts`` (after the actor renumbered its stream)."""
        self.close()
        for p in self._segments():
            p.unlink()
        for t in ts:
            self.append(t)

    # ---- read / trim ---------------------------------------------------------------------------------------
    def load(self) -> list[Transition]:
        """Every complete frame in seq order; a torn last frame of a segment is dropped (counted)."""
        out: list[Transition] = []
        for seg in self._segments():
            buf = seg.read_bytes()
            i = 0
            while i + _HEADER.size <= len(buf):
                n, crc = _HEADER.unpack_from(buf, i)
                data = buf[i + _HEADER.size:i + _HEADER.size + n]
                if len(data) < n or zlib.crc32(data) != crc:
                    self.torn_frames += 1
                    break
                try:
                    out.extend(decode_transitions(data))
                except WireError:
                    self.torn_frames += 1
                    break
                i += _HEADER.size + n
        out.sort(key=lambda t: t.seq)
        return out

    def trim(self, persisted_seq: int) -> None:
        """Delete the segments whose every transition is at or below ``persisted_seq`` (the learner has them
        in a checkpoint). A segment's transitions are the seqs from its name up to the next segment's."""
        segs = self._segments()
        for seg, nxt in zip(segs, segs[1:]):
            if int(nxt.stem) - 1 <= persisted_seq:
                seg.unlink()
