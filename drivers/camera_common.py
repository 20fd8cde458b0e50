"""What every camera driver shares (no ROS): a frame type, pinhole intrinsics with the CameraInfo fields, and
crop-then-resize to the policy's image size with the intrinsics transformed to match."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class CameraError(RuntimeError):
    """A clear, user-facing camera error."""


class CameraNotFoundError(CameraError):
    """The requested device is not there."""


class CameraFrozenError(CameraError):
    """No frame within the timeout, repeatedly, restarts included."""


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics of an image [px]; ``coeffs``: distortion (plumb_bob k1 k2 t1 t2 k3)."""

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    distortion_model: str = "plumb_bob"
    coeffs: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0, 0.0)

    def k(self) -> list[float]:
        """CameraInfo.k (row-major 3x3)."""
        return [self.fx, 0.0, self.cx, 0.0, self.fy, self.cy, 0.0, 0.0, 1.0]

    def p(self) -> list[float]:
        """CameraInfo.p (row-major 3x4, monocular: no translation)."""
        return [self.fx, 0.0, self.cx, 0.0, 0.0, self.fy, self.cy, 0.0, 0.0, 0.0, 1.0, 0.0]

    def r(self) -> list[float]:
        return [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]

    def crop_resize(self, crop: tuple[int, int, int, int], out_w: int, out_h: int) -> "Intrinsics":
        """Intrinsics of the image cropped to (x, y, w, h) then resized to out_w x out_h (pixel-centre convention)."""
        x, y, w, h = crop
        sx, sy = out_w / w, out_h / h
        return Intrinsics(out_w, out_h, self.fx * sx, self.fy * sy, (self.cx - x + 0.5) * sx - 0.5,
                          (self.cy - y + 0.5) * sy - 0.5, self.distortion_model, self.coeffs)


@dataclass(frozen=True)
class Frame:
    color: np.ndarray  # uint8 HxWx3, RGB
    intrinsics: Intrinsics  # of ``color`` (after crop and resize)
    stamp_s: float  # time.time() when the frame was received
    frame_number: int
    depth: np.ndarray | None = None  # uint16 HxW aligned to color (same crop/resize), depth_units_m per unit
    depth_units_m: float = 0.001


def center_square_crop(width: int, height: int) -> tuple[int, int, int, int]:
    s = min(width, height)
    return ((width - s) // 2, (height - s) // 2, s, s)


def validate_crop(crop: tuple[int, int, int, int], width: int, height: int) -> None:
    x, y, w, h = crop
    if w <= 0 or h <= 0 or x < 0 or y < 0 or x + w > width or y + h > height:
        raise ValueError(f"crop (x, y, w, h)={crop} does not fit in a {width}x{height} image")


def _index_map(n_in: int, n_out: int) -> np.ndarray:
    """Nearest source index for each output pixel centre."""
    return np.minimum(((np.arange(n_out) + 0.5) * (n_in / n_out)).astype(np.int64), n_in - 1)


def crop_resize(img: np.ndarray, crop: tuple[int, int, int, int], out_w: int, out_h: int,
                nearest: bool = False) -> np.ndarray:
    """Crop to (x, y, w, h) and resize. Colour: area averaging when shrinking by an integer factor, else
    nearest; ``nearest=True`` (depth) never mixes values."""
    x, y, w, h = crop
    c = img[y:y + h, x:x + w]
    if (w, h) == (out_w, out_h):
        return np.ascontiguousarray(c)
    if not nearest and w % out_w == 0 and h % out_h == 0:
        fy, fx = h // out_h, w // out_w
        shape = (out_h, fy, out_w, fx) + c.shape[2:]
        return c.reshape(shape).mean(axis=(1, 3)).round().astype(img.dtype)
    return np.ascontiguousarray(c[_index_map(h, out_h)][:, _index_map(w, out_w)])
