"""Intel RealSense camera over ``pyrealsense2`` (core: no ROS).

Selects the device by serial number (or plays a recording: ``playback_file``), streams colour plus depth
aligned to colour with the configured profile, crops (default: the centred square) and resizes to the policy's
size (128x128 by default), and reports the intrinsics of the image it returns (transformed by the crop and
resize). A camera that freezes is handled with bounded timeouts: ``wait_for_frames(frame_timeout_ms)``; after
``restart_after_failures`` consecutive timeouts the pipeline is restarted; after ``max_consecutive_failures``
the read raises :class:`CameraFrozenError` (the caller decides; the node exits non-zero).
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass

import numpy as np

from robot_rl.drivers.camera_common import (CameraError, CameraFrozenError, CameraNotFoundError, Frame, Intrinsics,
                                            center_square_crop, crop_resize, validate_crop)

log = logging.getLogger("robot_rl.drivers.realsense")
PLAYBACK_END = ("loop", "stop", "hold")
DEPTH_UNITS_M = 0.001  # what we publish: 16UC1 depth is millimetres (REP 118), whatever the device's units


class RecordingEnded(CameraError):
    """A played-back recording reached its end (``playback_end="stop"``)."""


def distortion_model_name(rs, model, coeffs) -> str:
    """The CameraInfo distortion label of a librealsense model. Brown-Conrady is ROS's plumb_bob; inverse and
    modified Brown-Conrady are not (they map the other way / differ in the tangential terms), so they keep their
    own names rather than be silently rectified with the wrong model. All-zero coefficients are plumb_bob."""
    if not any(coeffs) or model in (rs.distortion.none, rs.distortion.brown_conrady):
        return "plumb_bob"
    if model == rs.distortion.kannala_brandt4:
        return "equidistant"
    return str(model).rsplit(".", 1)[-1]  # inverse_brown_conrady, modified_brown_conrady, ftheta


@dataclass(frozen=True)
class RealSenseConfig:
    serial: str = ""  # "" selects the only connected device (an error if there are several)
    playback_file: str = ""  # a .bag/.db3 recording instead of a device (tests, replays)
    # at the end of a recording: "loop" (again from the start, logged), "stop" (read() raises RecordingEnded) or
    # "hold" (read() keeps returning the last frame at the recording's rate, logged once)
    playback_end: str = "loop"
    # False: a recording plays as fast as it is read, without dropping frames (calibration from a recording)
    playback_real_time: bool = True
    color_width_px: int = 640
    color_height_px: int = 480
    fps: int = 30
    depth_enabled: bool = True
    depth_width_px: int = 640
    depth_height_px: int = 480
    crop_xywh_px: tuple[int, int, int, int] | None = None  # None: centred square
    output_width_px: int = 128
    output_height_px: int = 128
    frame_timeout_ms: int = 1000
    # calibrated intrinsics of the colour stream (a camera_info YAML, drivers.camera_common.read_camera_info_yaml);
    # None: the device's factory intrinsics
    calibration: Intrinsics | None = None
    restart_after_failures: int = 2
    max_consecutive_failures: int = 4

    def validate(self) -> None:
        for name in ("color_width_px", "color_height_px", "fps", "depth_width_px", "depth_height_px",
                     "output_width_px", "output_height_px", "frame_timeout_ms", "restart_after_failures",
                     "max_consecutive_failures"):
            v = getattr(self, name)
            if not (isinstance(v, int) and v > 0):
                raise ValueError(f"RealSenseConfig.{name} must be a positive integer, got {v!r}")
        if self.crop_xywh_px is not None:
            validate_crop(tuple(self.crop_xywh_px), self.color_width_px, self.color_height_px)
        if self.playback_end not in PLAYBACK_END:
            raise ValueError(f"RealSenseConfig.playback_end must be one of {', '.join(PLAYBACK_END)}, "
                             f"got {self.playback_end!r}")
        if self.playback_file and not os.path.isfile(self.playback_file):
            raise CameraNotFoundError(f"RealSense recording not found: {self.playback_file}")


def _import_rs():
    try:
        import pyrealsense2 as rs
    except ImportError as e:  # pragma: no cover - depends on the install
        raise CameraError(f"pyrealsense2 is not installed or libusb-1.0 is missing ({e})") from None
    return rs


def connected_serials() -> list[str]:
    rs = _import_rs()
    return [d.get_info(rs.camera_info.serial_number) for d in rs.context().query_devices()]


class RealSenseCamera:
    def __init__(self, cfg: RealSenseConfig = RealSenseConfig()):
        cfg.validate()
        self.cfg = cfg
        self.rs = _import_rs()
        self.pipeline = None
        self.align = None
        self.serial: str | None = None
        self.raw_intrinsics: Intrinsics | None = None
        self.intrinsics: Intrinsics | None = None
        self.crop = tuple(cfg.crop_xywh_px) if cfg.crop_xywh_px is not None else center_square_crop(
            cfg.color_width_px, cfg.color_height_px)
        self.depth_units_m = DEPTH_UNITS_M  # the device's (recording's) units; frames are converted to mm
        self.failures = 0
        self.restarts = 0
        self.playback_passes = 1
        self._last: Frame | None = None
        self._ended = False

    # ---- lifecycle ---------------------------------------------------------------------------------------
    def _config(self):
        rs, cfg = self.rs, self.cfg
        c = rs.config()
        if cfg.playback_file:
            c.enable_device_from_file(cfg.playback_file, repeat_playback=cfg.playback_end == "loop")
        else:
            serials = connected_serials()
            if cfg.serial:
                if cfg.serial not in serials:
                    raise CameraNotFoundError(f"no RealSense with serial {cfg.serial!r}; connected: "
                                              f"{', '.join(serials) if serials else 'none'}")
            elif len(serials) != 1:
                raise CameraNotFoundError(
                    "no RealSense connected" if not serials else
                    f"several RealSense cameras connected ({', '.join(serials)}): set the serial")
            c.enable_device(cfg.serial or serials[0])
        c.enable_stream(rs.stream.color, cfg.color_width_px, cfg.color_height_px, rs.format.rgb8, cfg.fps)
        if cfg.depth_enabled:
            c.enable_stream(rs.stream.depth, cfg.depth_width_px, cfg.depth_height_px, rs.format.z16, cfg.fps)
        return c

    def start(self) -> None:
        rs, cfg = self.rs, self.cfg
        config = self._config()
        pipe = rs.pipeline()
        try:
            profile = pipe.start(config)
        except RuntimeError as e:
            raise CameraError(f"RealSense {cfg.serial or cfg.playback_file or ''}: cannot start the requested "
                              f"profile ({cfg.color_width_px}x{cfg.color_height_px}@{cfg.fps}): {e}") from None
        dev = profile.get_device()
        self.serial = dev.get_info(rs.camera_info.serial_number)
        if cfg.playback_file:
            if cfg.serial and cfg.serial != self.serial:
                pipe.stop()
                raise CameraNotFoundError(f"recording {cfg.playback_file} is of RealSense {self.serial}, not of the "
                                          f"requested serial {cfg.serial!r}")
            dev.as_playback().set_real_time(cfg.playback_real_time)
            self._playback = dev.as_playback()
        ci = profile.get_stream(rs.stream.color).as_video_stream_profile().get_intrinsics()
        model = distortion_model_name(rs, ci.model, ci.coeffs)
        self.raw_intrinsics = Intrinsics(ci.width, ci.height, ci.fx, ci.fy, ci.ppx, ci.ppy, model,
                                         tuple(float(c) for c in ci.coeffs))
        if cfg.calibration is not None:
            self.raw_intrinsics = cfg.calibration.at_size(ci.width, ci.height)
        self.intrinsics = self.raw_intrinsics.crop_resize(self.crop, cfg.output_width_px, cfg.output_height_px)
        if cfg.depth_enabled:
            self.align = rs.align(rs.stream.color)
            for s in dev.query_sensors():
                if s.supports(rs.option.depth_units):
                    self.depth_units_m = float(s.get_option(rs.option.depth_units))
        self.pipeline = pipe
        log.info("RealSense %s started (%dx%d@%d)", self.serial, cfg.color_width_px, cfg.color_height_px, cfg.fps)

    def stop(self) -> None:
        """Stop streaming (read() raises CameraError afterwards)."""
        self._stop_pipeline()
        self.serial = None

    def _stop_pipeline(self) -> None:
        if self.pipeline is not None:
            try:
                self.pipeline.stop()
            except RuntimeError:
                pass
            self.pipeline = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    # ---- frames ------------------------------------------------------------------------------------------
    def read(self) -> Frame:
        """The next frame (blocks at most ``frame_timeout_ms`` per attempt). Timeouts restart the pipeline
        every ``restart_after_failures``; ``max_consecutive_failures`` in a row raise CameraFrozenError."""
        cfg = self.cfg
        if self.pipeline is None and self.serial is None:
            raise CameraError("camera not started")
        if self._ended:
            return self._at_end()
        while True:
            try:
                if self.pipeline is None:  # a restart failed: try again (counts as a failure if it fails)
                    self.start()
                fs = self.pipeline.wait_for_frames(cfg.frame_timeout_ms)
                if self.align is not None:
                    fs = self.align.process(fs)
                color = fs.get_color_frame()
                if not color:
                    raise RuntimeError("frameset without a colour frame")
                frame = self._convert(fs, color)
                self.failures = 0
                self._note_wrap(frame)
                self._last = frame
                return frame
            except (RuntimeError, CameraError) as e:
                if self._playback_finished():
                    self._ended = True
                    log.info("RealSense recording %s: end reached after %d frames (playback_end=%s)",
                             cfg.playback_file, self._last.frame_number if self._last else 0, cfg.playback_end)
                    return self._at_end()
                self.failures += 1
                log.warning("RealSense %s: no frame (%s), %d in a row", self.serial, e, self.failures)
                if self.failures >= cfg.max_consecutive_failures:
                    raise CameraFrozenError(
                        f"RealSense {self.serial}: no frame for {self.failures} attempts of {cfg.frame_timeout_ms} ms "
                        f"({self.restarts} pipeline restarts)") from None
                if self.failures % cfg.restart_after_failures == 0:
                    self._restart()

    def _playback_finished(self) -> bool:
        if not self.cfg.playback_file or self.cfg.playback_end == "loop" or self.pipeline is None:
            return False
        try:
            return self._playback.current_status() == self.rs.playback_status.stopped
        except RuntimeError:
            return False

    def _at_end(self) -> Frame:
        if self.cfg.playback_end == "stop" or self._last is None:
            raise RecordingEnded(f"RealSense recording {self.cfg.playback_file}: end of recording")
        time.sleep(1.0 / self.cfg.fps)  # hold: the last frame again, at the recording's rate
        f = self._last
        return Frame(f.color, f.intrinsics, time.time(), f.frame_number, f.depth, f.depth_units_m)

    def _note_wrap(self, frame: Frame) -> None:
        if self._last is not None and frame.frame_number < self._last.frame_number and self.cfg.playback_file:
            self.playback_passes += 1
            log.info("RealSense recording %s: end reached, looping from the start (pass %d)",
                     self.cfg.playback_file, self.playback_passes)

    def _restart(self) -> None:
        log.warning("RealSense %s: restarting the pipeline", self.serial)
        self.restarts += 1
        self._stop_pipeline()
        try:
            self.start()
        except CameraError as e:
            log.error("RealSense restart failed: %s", e)

    def _convert(self, fs, color) -> Frame:
        cfg = self.cfg
        img = np.asanyarray(color.get_data())
        out = crop_resize(img, self.crop, cfg.output_width_px, cfg.output_height_px)
        depth = None
        if self.align is not None:
            d = fs.get_depth_frame()
            if d:
                depth = to_millimetres(crop_resize(np.asanyarray(d.get_data()), self.crop, cfg.output_width_px,
                                                   cfg.output_height_px, nearest=True), self.depth_units_m)
        return Frame(out, self.intrinsics, time.time(), int(color.get_frame_number()), depth, DEPTH_UNITS_M)


def recording_color_profile(path: str) -> tuple[int, int, int]:
    """(width, height, fps) of the colour stream of a recording (.bag/.db3)."""
    rs = _import_rs()
    if not os.path.isfile(path):
        raise CameraNotFoundError(f"RealSense recording not found: {path}")
    dev = rs.context().load_device(path)
    try:
        dev.set_real_time(False)
        for s in dev.query_sensors():
            for prof in s.get_stream_profiles():
                if prof.stream_type() == rs.stream.color:
                    v = prof.as_video_stream_profile()
                    return v.width(), v.height(), prof.fps()
    finally:
        dev.pause()
    raise CameraError(f"RealSense recording {path} has no colour stream")


def read_recording_color(path: str, stall_timeout_s: float = 10.0) -> list[tuple[int, np.ndarray]]:
    """Every colour frame of a recording (.bag/.db3), in order, as ``(frame number, image)`` at full resolution.

    The offline reader: the playback device is set to non-real-time *before* its colour sensor starts and each
    frame is copied in the sensor's callback, which the playback waits for (librealsense's advice for reading
    every frame; a pipeline started first plays in real time until ``set_real_time(False)`` lands, and a loaded
    host can lose a frame there). ``CameraError`` if the playback delivers nothing for ``stall_timeout_s``."""
    rs = _import_rs()
    if not os.path.isfile(path):
        raise CameraNotFoundError(f"RealSense recording not found: {path}")
    dev = rs.context().load_device(path)
    pb = dev.as_playback()
    pb.set_real_time(False)
    found = [(s, p) for s in dev.query_sensors() for p in s.get_stream_profiles() if p.stream_type() == rs.stream.color]
    if not found:
        raise CameraError(f"RealSense recording {path} has no colour stream")
    sensor, prof = found[0]
    frames: list[tuple[int, np.ndarray]] = []
    sensor.open(prof)
    try:
        sensor.start(lambda f: frames.append((int(f.get_frame_number()), np.asanyarray(f.get_data()).copy())))
        # the playback reports "stopped" before it starts too: it is over once it has played (status or frames)
        started, last_n, last_t = False, -1, time.monotonic()
        while True:
            status = pb.current_status()
            started = started or status == rs.playback_status.playing or bool(frames)
            if started and status == rs.playback_status.stopped:
                break
            if len(frames) != last_n:
                last_n, last_t = len(frames), time.monotonic()
            elif time.monotonic() - last_t > stall_timeout_s:
                what = "did not start" if not started else f"stalled after {len(frames)} frames"
                raise CameraError(f"RealSense recording {path}: playback {what}")
            time.sleep(0.005)
        sensor.stop()
    finally:
        sensor.close()
    return frames


def to_millimetres(depth: np.ndarray, units_m: float) -> np.ndarray:
    """uint16 depth in ``units_m`` per count -> uint16 millimetres (rounded, saturated at 65535 mm)."""
    if abs(units_m - DEPTH_UNITS_M) < 1e-12:
        return depth
    mm = np.rint(depth.astype(np.float64) * (units_m / DEPTH_UNITS_M))
    return np.clip(mm, 0, np.iinfo(np.uint16).max).astype(np.uint16)


def write_recording(path: str, frames_rgb: list[np.ndarray], intrinsics: Intrinsics, fps: int = 30,
                    depth_frames: list[np.ndarray] | None = None, depth_intrinsics: Intrinsics | None = None,
                    serial: str = "000000000000", depth_units_m: float = 0.001, distortion: str = "") -> None:
    """Write a real RealSense recording (``rs.software_device`` + ``rs.recorder``) of the given frames with the
    given intrinsics: the file plays back through the ordinary pipeline (``RealSenseConfig.playback_file``).
    ``distortion``: a librealsense model name (``inverse_brown_conrady``, ...); default none / brown_conrady."""
    rs = _import_rs()
    if not frames_rgb:
        raise ValueError("no frames to record")
    h, w = frames_rgb[0].shape[:2]
    if (w, h) != (intrinsics.width, intrinsics.height):
        raise ValueError(f"frames are {w}x{h}, intrinsics say {intrinsics.width}x{intrinsics.height}")

    def rs_intr(i: Intrinsics):
        r = rs.intrinsics()
        r.width, r.height, r.fx, r.fy, r.ppx, r.ppy = i.width, i.height, i.fx, i.fy, i.cx, i.cy
        r.model = getattr(rs.distortion, distortion) if distortion else (
            rs.distortion.none if not any(i.coeffs) else rs.distortion.brown_conrady)
        r.coeffs = list(i.coeffs)
        return r

    def stream(kind, uid, fmt, bpp, i):
        vs = rs.video_stream()
        vs.type, vs.index, vs.uid = kind, 0, uid
        vs.width, vs.height, vs.fps, vs.bpp, vs.fmt = i.width, i.height, fps, bpp, fmt
        vs.intrinsics = rs_intr(i)
        return vs

    dev = rs.software_device()
    dev.register_info(rs.camera_info.serial_number, serial)
    dev.register_info(rs.camera_info.name, "robot_rl software RealSense")
    cs = dev.add_sensor("RGB Camera")
    cp = cs.add_video_stream(stream(rs.stream.color, 0, rs.format.rgb8, 3, intrinsics))
    sensors = [(cs, cp, frames_rgb, 3)]
    if depth_frames is not None:
        ds = dev.add_sensor("Stereo Module")
        dp = ds.add_video_stream(stream(rs.stream.depth, 1, rs.format.z16, 2, depth_intrinsics or intrinsics))
        ds.add_read_only_option(rs.option.depth_units, depth_units_m)
        sensors.append((ds, dp, depth_frames, 2))
    if os.path.exists(path):
        os.remove(path)
    rec = rs.recorder(path, dev)
    for s, p, _, _ in sensors:
        s.open(p)
        s.start(lambda f: None)
    for k in range(len(frames_rgb)):
        for s, p, frames, bpp in sensors:
            arr = np.ascontiguousarray(frames[k])
            f = rs.software_video_frame()
            f.pixels = arr
            f.stride = arr.shape[1] * bpp
            f.bpp = bpp
            f.timestamp = k * 1000.0 / fps
            f.domain = rs.timestamp_domain.hardware_clock
            f.frame_number = k
            f.profile = p.as_video_stream_profile()
            s.on_video_frame(f)
    for s, _, _, _ in sensors:
        s.stop()
        s.close()
    del rec  # flushes and closes the file
    if not (os.path.isfile(path) and os.path.getsize(path) > 0):
        raise CameraError(f"recording {path} was not written")
