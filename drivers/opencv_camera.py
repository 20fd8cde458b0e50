"""UVC webcam through OpenCV's ``cv2.VideoCapture`` (core: no ROS): crop and resize to the policy's size, with
bounded-timeout reads (a frozen camera raises :class:`CameraFrozenError` instead of blocking forever) and
nominal intrinsics (from a calibration when given, else a pinhole guess from the horizontal field of view)."""
from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass

from robot_rl.drivers.camera_common import (CameraError, CameraFrozenError, CameraNotFoundError, Frame, Intrinsics,
                                            center_square_crop, crop_resize, validate_crop)

log = logging.getLogger("robot_rl.drivers.opencv_camera")


@dataclass(frozen=True)
class OpenCVCameraConfig:
    device: str = "0"  # an index ("0") or a path/URL ("/dev/video2", a video file)
    width_px: int = 640
    height_px: int = 480
    fps: int = 30
    crop_xywh_px: tuple[int, int, int, int] | None = None  # None: centred square
    output_width_px: int = 128
    output_height_px: int = 128
    # intrinsics at width_px x height_px: fx, fy, cx, cy; None: pinhole guess from horizontal_fov_deg
    intrinsics_fx_fy_cx_cy_px: tuple[float, float, float, float] | None = None
    # a full calibration (camera_info YAML, drivers.camera_common.read_camera_info_yaml): wins over the above
    calibration: Intrinsics | None = None
    horizontal_fov_deg: float = 70.0
    open_timeout_s: float = 5.0
    frame_timeout_s: float = 1.0
    max_consecutive_failures: int = 3

    def validate(self) -> None:
        for name in ("width_px", "height_px", "fps", "output_width_px", "output_height_px", "max_consecutive_failures"):
            v = getattr(self, name)
            if not (isinstance(v, int) and v > 0):
                raise ValueError(f"OpenCVCameraConfig.{name} must be a positive integer, got {v!r}")
        for name in ("open_timeout_s", "frame_timeout_s"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"OpenCVCameraConfig.{name} must be finite and > 0, got {v!r}")
        if not (0.0 < self.horizontal_fov_deg < 180.0):
            raise ValueError("OpenCVCameraConfig.horizontal_fov_deg must be in (0, 180)")
        if self.crop_xywh_px is not None:
            validate_crop(tuple(self.crop_xywh_px), self.width_px, self.height_px)


def _import_cv2():
    try:
        import cv2
    except ImportError as e:  # pragma: no cover - depends on the install
        raise CameraError(f"OpenCV is not installed ({e}); pip install 'opencv-python-headless<5'") from None
    return cv2


class OpenCVCamera:
    def __init__(self, cfg: OpenCVCameraConfig = OpenCVCameraConfig()):
        cfg.validate()
        self.cfg = cfg
        self.cv2 = _import_cv2()
        self.cap = None
        self.crop = None
        self.intrinsics: Intrinsics | None = None
        self.frame_number = 0
        self.failures = 0

    def _with_timeout(self, fn, timeout_s: float, what: str):
        """Run a possibly-blocking OpenCV call on a helper thread (OpenCV releases the GIL while it waits)."""
        box: list = []
        t = threading.Thread(target=lambda: box.append(fn()), daemon=True)
        t.start()
        t.join(timeout_s)
        if t.is_alive():
            raise CameraFrozenError(f"OpenCV camera {self.cfg.device!r}: {what} did not return within {timeout_s:g} s")
        return box[0]

    def start(self) -> None:
        cv2, cfg = self.cv2, self.cfg
        src = int(cfg.device) if cfg.device.isdigit() else cfg.device

        def open_():
            cap = cv2.VideoCapture(src)
            if cap.isOpened():
                cap.set(cv2.CAP_PROP_FRAME_WIDTH, cfg.width_px)
                cap.set(cv2.CAP_PROP_FRAME_HEIGHT, cfg.height_px)
                cap.set(cv2.CAP_PROP_FPS, cfg.fps)
            return cap

        cap = self._with_timeout(open_, cfg.open_timeout_s, "open")
        if not cap.isOpened():
            raise CameraNotFoundError(f"no camera at {cfg.device!r} (OpenCV could not open it)")
        ok, img = self._with_timeout(cap.read, cfg.frame_timeout_s, "first read")
        if not ok or img is None:
            cap.release()
            raise CameraNotFoundError(f"camera {cfg.device!r} opened but gives no frames")
        h, w = img.shape[:2]
        self.cap = cap
        self.crop = tuple(cfg.crop_xywh_px) if cfg.crop_xywh_px is not None else center_square_crop(w, h)
        validate_crop(self.crop, w, h)
        if cfg.calibration is not None:
            raw = cfg.calibration.at_size(w, h)  # the device may not honour the requested size
        elif cfg.intrinsics_fx_fy_cx_cy_px is not None:
            raw = Intrinsics(cfg.width_px, cfg.height_px, *cfg.intrinsics_fx_fy_cx_cy_px).at_size(w, h)
        else:
            f = 0.5 * w / math.tan(math.radians(cfg.horizontal_fov_deg) / 2)
            raw = Intrinsics(w, h, f, f, (w - 1) / 2, (h - 1) / 2)
        self.intrinsics = raw.crop_resize(self.crop, cfg.output_width_px, cfg.output_height_px)
        log.info("OpenCV camera %s started (%dx%d)", cfg.device, w, h)

    def read(self) -> Frame:
        cfg = self.cfg
        if self.cap is None:
            raise CameraError("camera not started")
        while True:
            try:
                ok, img = self._with_timeout(self.cap.read, cfg.frame_timeout_s, "read")
            except CameraFrozenError:
                ok, img = False, None
            if ok and img is not None:
                self.failures = 0
                self.frame_number += 1
                rgb = img[:, :, ::-1]  # OpenCV delivers BGR
                out = crop_resize(rgb, self.crop, cfg.output_width_px, cfg.output_height_px)
                return Frame(out, self.intrinsics, time.time(), self.frame_number)
            self.failures += 1
            log.warning("OpenCV camera %s: no frame, %d in a row", cfg.device, self.failures)
            if self.failures >= cfg.max_consecutive_failures:
                raise CameraFrozenError(f"OpenCV camera {cfg.device!r}: no frame {self.failures} times in a row")

    def stop(self) -> None:
        if self.cap is not None:
            self.cap.release()
            self.cap = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
