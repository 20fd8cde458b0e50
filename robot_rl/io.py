"""Atomic file writes (temp file, fsync, rename) and small image/video writers."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` so that ``path`` is either the old file or the complete new one, never a partial one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return path


def write_image_strip(path: str | Path, frames: list[np.ndarray], n: int = 8) -> Path:
    """``n`` frames evenly spaced over the list, side by side, as one PNG."""
    import imageio.v3 as iio

    idx = np.linspace(0, len(frames) - 1, min(n, len(frames))).round().astype(int)
    strip = np.concatenate([frames[i] for i in idx], axis=1)
    return atomic_write_bytes(path, iio.imwrite("<bytes>", strip, extension=".png"))


def write_video(path: str | Path, frames: list[np.ndarray], fps: int = 10) -> Path:
    """An animated GIF (no ffmpeg needed)."""
    import imageio.v3 as iio

    data = iio.imwrite("<bytes>", np.stack(frames), extension=".gif", duration=int(1000 / fps), loop=0)
    return atomic_write_bytes(path, data)
