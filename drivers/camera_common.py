"""What every camera driver shares (no ROS): a frame type, pinhole intrinsics with the CameraInfo fields,
crop-then-resize to the policy's image size with the intrinsics transformed to match, and the ROS camera_info
calibration YAML (``camera_calibration_parsers``' format) read and written."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class CameraError(RuntimeError):
    """A clear, user-facing camera error."""


class CameraNotFoundError(CameraError):
    """The requested device is not there."""


class CameraFrozenError(CameraError):
    """No frame within the timeout, repeatedly, restarts included."""


def crop_resize_matrix(crop: tuple[int, int, int, int], out_w: int, out_h: int) -> np.ndarray:
    """The 3x3 pixel map of crop to (x, y, w, h) then resize to out_w x out_h (pixel-centre convention): K' = S K,
    P' = S P."""
    x, y, w, h = crop
    sx, sy = out_w / w, out_h / h
    return np.array([[sx, 0.0, (0.5 - x) * sx - 0.5], [0.0, sy, (0.5 - y) * sy - 0.5], [0.0, 0.0, 1.0]])


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics of an image [px]; ``coeffs``: distortion (plumb_bob k1 k2 t1 t2 k3). ``projection``
    (row-major 3x4) and ``rectification`` (row-major 3x3) as a calibration file gives them; None: P = [K | 0],
    R = identity (monocular)."""

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    distortion_model: str = "plumb_bob"
    coeffs: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0, 0.0)
    projection: tuple[float, ...] | None = None
    rectification: tuple[float, ...] | None = None

    def k(self) -> list[float]:
        """CameraInfo.k (row-major 3x3)."""
        return [self.fx, 0.0, self.cx, 0.0, self.fy, self.cy, 0.0, 0.0, 1.0]

    def p(self) -> list[float]:
        """CameraInfo.p (row-major 3x4; monocular default: no translation)."""
        if self.projection is not None:
            return [float(v) for v in self.projection]
        return [self.fx, 0.0, self.cx, 0.0, 0.0, self.fy, self.cy, 0.0, 0.0, 0.0, 1.0, 0.0]

    def r(self) -> list[float]:
        if self.rectification is not None:
            return [float(v) for v in self.rectification]
        return [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]

    def matrix(self) -> np.ndarray:
        """K as a 3x3 array."""
        return np.array(self.k()).reshape(3, 3)

    def crop_resize(self, crop: tuple[int, int, int, int], out_w: int, out_h: int) -> "Intrinsics":
        """Intrinsics of the image cropped to (x, y, w, h) then resized to out_w x out_h (pixel-centre convention);
        a given projection matrix goes through the same map."""
        s = crop_resize_matrix(crop, out_w, out_h)
        k = s @ self.matrix()
        p = None if self.projection is None else tuple((s @ np.reshape(self.projection, (3, 4))).ravel().tolist())
        return Intrinsics(out_w, out_h, float(k[0, 0]), float(k[1, 1]), float(k[0, 2]), float(k[1, 2]),
                          self.distortion_model, self.coeffs, p, self.rectification)

    def at_size(self, width: int, height: int) -> "Intrinsics":
        """The same camera streaming at another resolution of the same aspect ratio (the sensor scaled, not
        cropped); a different aspect ratio is a ValueError."""
        if (width, height) == (self.width, self.height):
            return self
        if abs(width * self.height - height * self.width) > max(width, self.width) // 100:
            raise ValueError(f"calibration is for {self.width}x{self.height}, the stream is {width}x{height} "
                             "(another aspect ratio: calibrate at this resolution)")
        return self.crop_resize((0, 0, self.width, self.height), width, height)


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


# ---- the ROS camera_info calibration file ------------------------------------------------------------------
_MATRICES = (("camera_matrix", 3, 3), ("distortion_coefficients", 1, None), ("rectification_matrix", 3, 3),
             ("projection_matrix", 3, 4))


def camera_info_dict(intr: Intrinsics, camera_name: str) -> dict:
    """The camera_info YAML content (image_width, image_height, camera_name, camera_matrix, distortion_model,
    distortion_coefficients, rectification_matrix, projection_matrix)."""
    def mat(rows, data):
        data = [float(v) for v in data]
        return {"rows": rows, "cols": len(data) // rows, "data": data}

    return {"image_width": int(intr.width), "image_height": int(intr.height), "camera_name": camera_name,
            "camera_matrix": mat(3, intr.k()), "distortion_model": intr.distortion_model,
            "distortion_coefficients": mat(1, intr.coeffs), "rectification_matrix": mat(3, intr.r()),
            "projection_matrix": mat(3, intr.p())}


def write_camera_info_yaml(path: str, intr: Intrinsics, camera_name: str) -> None:
    import yaml

    text = yaml.safe_dump(camera_info_dict(intr, camera_name), sort_keys=False, default_flow_style=None)
    with open(path, "w") as f:
        f.write(text)


def camera_info_path(url_or_path: str) -> str:
    """A ``file://`` camera_info_url or a plain path -> the path."""
    return url_or_path[len("file://"):] if url_or_path.startswith("file://") else url_or_path


def read_camera_info_yaml(path: str) -> tuple[str, Intrinsics]:
    """(camera_name, intrinsics) from a camera_info YAML; a missing or malformed entry is a one-line ValueError
    naming the file and the entry."""
    import yaml

    path = camera_info_path(path)
    try:
        with open(path) as f:
            d = yaml.safe_load(f)
    except OSError as e:
        raise ValueError(f"calibration file {path}: cannot read it ({e.strerror})") from None
    except yaml.YAMLError as e:
        raise ValueError(f"calibration file {path}: not YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(d, dict):
        raise ValueError(f"calibration file {path}: expected a camera_info mapping")
    mats = {}
    for key, rows, cols in _MATRICES:
        m = d.get(key)
        data = m.get("data") if isinstance(m, dict) else None
        if not isinstance(data, list) or not all(isinstance(v, (int, float)) for v in data) or (
                cols is not None and len(data) != rows * cols):
            size = f"{rows}x{cols}" if cols else "a list"
            raise ValueError(f"calibration file {path}: {key} missing or not {size} numbers")
        mats[key] = [float(v) for v in data]
    try:
        w, h = int(d["image_width"]), int(d["image_height"])
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"calibration file {path}: image_width / image_height missing") from None
    k = mats["camera_matrix"]
    if w <= 0 or h <= 0 or k[0] <= 0 or k[4] <= 0:
        raise ValueError(f"calibration file {path}: image size {w}x{h} and focal lengths must be positive")
    intr = Intrinsics(w, h, k[0], k[4], k[2], k[5], str(d.get("distortion_model", "plumb_bob")),
                      tuple(mats["distortion_coefficients"]), tuple(mats["projection_matrix"]),
                      tuple(mats["rectification_matrix"]))
    return str(d.get("camera_name", "")), intr
