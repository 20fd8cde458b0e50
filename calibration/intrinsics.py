"""Camera intrinsics from ChArUco views (OpenCV 4.x): views come from an image folder, a RealSense recording, a
camera node's topic (``calibration/capture_node.py``) or are handed in; each view gets feedback (corners, board
distance, tilt, image area) and the running coverage says which distances, tilts and image regions are still
missing. :meth:`IntrinsicsCalibrator.calibrate` fits plumb_bob intrinsics, reports the reprojection RMS per view
and overall, and the result writes the ROS camera_info YAML.

Bad input is a :class:`CalibrationError` with one line: no board in any view, too few views, degenerate poses
(the board never tilted: focal length and distortion are not observable), or a board of another size."""
from __future__ import annotations

import glob
import math
import os
from dataclasses import dataclass, field

import numpy as np

from robot_rl.calibration.board import BoardDetector, BoardSpec, CalibrationError, Detection, _cv2, corner_points
from robot_rl.contract.params import param
from robot_rl.drivers.camera_common import Intrinsics, write_camera_info_yaml

REGIONS = ("top-left", "top", "top-right", "left", "centre", "right", "bottom-left", "bottom", "bottom-right")
SIZES = ("far (board < 8% of the image)", "middle (8-20%)", "near (> 20%)")
TILTS = ("tilted left", "tilted right", "tilted up", "tilted down")


@dataclass(frozen=True)
class IntrinsicsConfig:
    min_views: int = param(8, ge=3, doc="fewest accepted views to calibrate")
    min_corners: int = param(8, ge=4, doc="fewest ChArUco corners for a view to count")
    min_tilt_spread_deg: float = param(10.0, ge=0, doc="views whose board normals all lie within this are degenerate")
    tilt_bin_deg: float = param(15.0, gt=0, doc="a view counts as tilted left/right/up/down beyond this")
    duplicate_px: float = param(2.0, ge=0, doc="a view whose corners moved less than this [px] is a duplicate")
    outlier_rms_px: float = param(1.5, gt=0, doc="views above this RMS (and 3x the median) are dropped once")
    guess_hfov_deg: float = param(65.0, gt=0, lt=180, doc="field of view assumed for feedback before a first fit")


@dataclass
class ViewFeedback:
    name: str
    accepted: bool
    reason: str = ""
    n_corners: int = 0
    distance_m: float = math.nan
    tilt_deg: float = math.nan
    area_fraction: float = 0.0
    fit_rms_px: float = math.nan  # the view against the running fit (after the first few views): a bad view shows

    def line(self) -> str:
        if not self.accepted:
            return f"{self.name}: skipped ({self.reason})"
        fit = "" if math.isnan(self.fit_rms_px) else f", {self.fit_rms_px:.2f} px from the running fit"
        return (f"{self.name}: {self.n_corners} corners, board at {self.distance_m:.2f} m, tilt {self.tilt_deg:.0f} deg, "
                f"{100 * self.area_fraction:.0f}% of the image{fit}")


@dataclass
class Coverage:
    regions: dict = field(default_factory=lambda: {r: 0 for r in REGIONS})
    sizes: dict = field(default_factory=lambda: {s: 0 for s in SIZES})
    tilts: dict = field(default_factory=lambda: {t: 0 for t in TILTS})

    def missing(self) -> list[str]:
        return [k for d in (self.regions, self.sizes, self.tilts) for k, n in d.items() if n == 0]

    def line(self, n_views: int) -> str:
        miss = self.missing()
        return f"{n_views} views; " + ("coverage complete" if not miss else "still missing: " + ", ".join(miss))


@dataclass(frozen=True)
class IntrinsicsResult:
    intrinsics: Intrinsics
    rms_px: float
    per_view_rms_px: dict  # view name -> RMS [px]
    dropped: tuple[str, ...]  # outlier views left out of the final fit
    std_fx_fy_cx_cy_px: tuple[float, float, float, float]
    poses: dict  # view name -> T_cam_board (4x4)

    def write_yaml(self, path: str, camera_name: str) -> None:
        write_camera_info_yaml(path, self.intrinsics, camera_name)

    def summary(self) -> str:
        i = self.intrinsics
        worst = max(self.per_view_rms_px.items(), key=lambda kv: kv[1])
        return (f"fx {i.fx:.2f} fy {i.fy:.2f} cx {i.cx:.2f} cy {i.cy:.2f} px (1-sigma {self.std_fx_fy_cx_cy_px[0]:.2f} "
                f"{self.std_fx_fy_cx_cy_px[1]:.2f} {self.std_fx_fy_cx_cy_px[2]:.2f} {self.std_fx_fy_cx_cy_px[3]:.2f}), "
                f"dist [{', '.join(f'{c:.4f}' for c in i.coeffs)}]; RMS {self.rms_px:.3f} px over "
                f"{len(self.per_view_rms_px)} views (worst {worst[0]} {worst[1]:.3f} px)"
                + (f"; dropped {', '.join(self.dropped)}" if self.dropped else ""))


def _rt(rvec, tvec) -> np.ndarray:
    cv2 = _cv2()
    t = np.eye(4)
    t[:3, :3], t[:3, 3] = cv2.Rodrigues(np.asarray(rvec, float))[0], np.asarray(tvec, float).ravel()
    return t


class IntrinsicsCalibrator:
    """Feed views with :meth:`add_view`; :meth:`calibrate` once enough are in."""

    def __init__(self, spec: BoardSpec, cfg: IntrinsicsConfig = IntrinsicsConfig()):
        self.spec, self.cfg = spec, cfg
        self.detector = BoardDetector(spec, cfg.min_corners)
        self.points = corner_points(spec)
        self.views: list[tuple[str, Detection]] = []
        self.size: tuple[int, int] | None = None
        self.coverage = Coverage()
        self.rejections: list[str] = []
        self._estimate: Intrinsics | None = None
        self._estimate_at = 0

    # ---- views ------------------------------------------------------------------------------------------
    def add_view(self, image: np.ndarray, name: str = "") -> ViewFeedback:
        name = name or f"view {len(self.views) + 1}"
        h, w = image.shape[:2]
        if self.size is None:
            self.size = (w, h)
        elif self.size != (w, h):
            raise CalibrationError(f"{name} is {w}x{h}, earlier views are {self.size[0]}x{self.size[1]}")
        det, reason = self.detector.detect(image)
        if det is None:
            return self._reject(name, reason)
        for other_name, other in self.views:
            common, a, b = np.intersect1d(det.ids, other.ids, return_indices=True)
            if len(common) == len(det.ids) and np.max(np.linalg.norm(
                    det.corners_px[a] - other.corners_px[b], axis=1)) < self.cfg.duplicate_px:
                return self._reject(name, f"same view as {other_name}")
        self.views.append((name, det))
        fb = ViewFeedback(name, True, n_corners=len(det.ids))
        self._feedback(det, fb)
        return fb

    def _reject(self, name: str, reason: str) -> ViewFeedback:
        self.rejections.append(reason)
        return ViewFeedback(name, False, reason)

    def _current_guess(self) -> Intrinsics:
        w, h = self.size
        n = len(self.views)
        if n >= max(4, self.cfg.min_views // 2) and n >= 2 * self._estimate_at:  # refit as the views double
            try:
                self._estimate = self._fit([d for _, d in self.views], fix_distortion=True)[0]
                self._estimate_at = n
            except Exception:  # noqa: BLE001 - feedback only: keep the previous guess
                pass
        if self._estimate is not None:
            return self._estimate
        f = 0.5 * w / math.tan(math.radians(self.cfg.guess_hfov_deg) / 2)
        return Intrinsics(w, h, f, f, (w - 1) / 2, (h - 1) / 2)

    def view_pose(self, det: Detection, intr: Intrinsics) -> np.ndarray:
        cv2 = _cv2()
        ok, rvec, tvec = cv2.solvePnP(self.points[det.ids], det.corners_px, intr.matrix(),
                                      np.asarray(intr.coeffs, float), flags=cv2.SOLVEPNP_IPPE)
        if not ok:
            raise CalibrationError("board pose not found")
        return _rt(rvec, tvec)

    def _feedback(self, det: Detection, fb: ViewFeedback) -> None:
        cv2 = _cv2()
        w, h = self.size
        guess = self._current_guess()
        t = self.view_pose(det, guess)
        if self._estimate is not None:
            px, _ = cv2.projectPoints(self.points[det.ids], cv2.Rodrigues(t[:3, :3])[0], t[:3, 3], guess.matrix(),
                                      np.asarray(guess.coeffs, float))
            fb.fit_rms_px = float(np.sqrt(np.mean(np.sum((px.reshape(-1, 2) - det.corners_px) ** 2, axis=1))))
        n = t[:3, 2]  # board normal in the camera frame (into the board)
        fb.distance_m = float(np.linalg.norm(t[:3, 3]))
        fb.tilt_deg = float(np.degrees(math.acos(min(1.0, abs(n[2])))))
        hull = cv2.convexHull(det.corners_px.astype(np.float32))
        fb.area_fraction = float(cv2.contourArea(hull)) / (w * h)
        c = self.coverage
        for u, v in det.corners_px:
            c.regions[REGIONS[3 * min(2, int(3 * v / h)) + min(2, int(3 * u / w))]] += 1
        c.sizes[SIZES[0 if fb.area_fraction < 0.08 else 1 if fb.area_fraction < 0.20 else 2]] += 1
        yaw, pitch = math.degrees(math.atan2(n[0], n[2])), math.degrees(math.atan2(n[1], n[2]))
        lim = self.cfg.tilt_bin_deg
        for hit, key in ((yaw < -lim, TILTS[0]), (yaw > lim, TILTS[1]), (pitch < -lim, TILTS[2]),
                         (pitch > lim, TILTS[3])):
            c.tilts[key] += int(hit)

    # ---- the fit ----------------------------------------------------------------------------------------
    def _fit(self, dets: list[Detection], fix_distortion: bool = False):
        cv2 = _cv2()
        obj = [self.points[d.ids].astype(np.float32).reshape(-1, 1, 3) for d in dets]
        img = [d.corners_px.astype(np.float32).reshape(-1, 1, 2) for d in dets]
        flags = (cv2.CALIB_FIX_K1 | cv2.CALIB_FIX_K2 | cv2.CALIB_FIX_K3 | cv2.CALIB_ZERO_TANGENT_DIST
                 if fix_distortion else 0)
        crit = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-12)
        rms, k, d, rvecs, tvecs, std_in, _, per_view = cv2.calibrateCameraExtended(
            obj, img, self.size, None, None, flags=flags, criteria=crit)
        d = np.asarray(d, float).ravel()
        intr = Intrinsics(self.size[0], self.size[1], float(k[0, 0]), float(k[1, 1]), float(k[0, 2]), float(k[1, 2]),
                          "plumb_bob", tuple(float(v) for v in d[:5]))
        return intr, float(rms), np.asarray(per_view, float).ravel(), np.asarray(std_in, float).ravel(), rvecs, tvecs

    def check_views(self) -> None:
        """Too few views, no board at all, or degenerate poses: a one-line CalibrationError."""
        n = len(self.views)
        if n == 0:
            if not self.rejections:
                raise CalibrationError("no views given")
            common = max(set(self.rejections), key=self.rejections.count)
            raise CalibrationError(f"no board found in any of {len(self.rejections)} views ({self.spec.describe()}); "
                                   f"{self.rejections.count(common)}x: {common}")
        if n < self.cfg.min_views:
            raise CalibrationError(f"too few views with the board: {n} (need {self.cfg.min_views}); "
                                   f"{self.coverage.line(n)}")
        guess = self._current_guess()
        normals = np.array([self.view_pose(d, guess)[:3, 2] for _, d in self.views])
        cosines = np.clip(normals @ normals.T, -1.0, 1.0)
        spread = float(np.degrees(np.arccos(cosines.min())))
        if spread < self.cfg.min_tilt_spread_deg:
            raise CalibrationError(f"degenerate poses: the board's normal varies by only {spread:.1f} deg over {n} "
                                   f"views (need {self.cfg.min_tilt_spread_deg:g}): tilt the board 20-40 deg "
                                   "left/right and up/down in some views")

    def calibrate(self) -> IntrinsicsResult:
        self.check_views()
        names = [n for n, _ in self.views]
        dets = [d for _, d in self.views]
        intr, rms, per_view, std, rvecs, tvecs = self._fit(dets)
        med = float(np.median(per_view))
        bad = [i for i, e in enumerate(per_view) if e > self.cfg.outlier_rms_px and e > 3 * med]
        dropped = tuple(names[i] for i in bad)
        if bad and len(dets) - len(bad) >= self.cfg.min_views:
            keep = [i for i in range(len(dets)) if i not in bad]
            names, dets = [names[i] for i in keep], [dets[i] for i in keep]
            intr, rms, per_view, std, rvecs, tvecs = self._fit(dets)
        else:
            dropped = ()
        poses = {n: _rt(r, t) for n, r, t in zip(names, rvecs, tvecs)}
        return IntrinsicsResult(intr, rms, dict(zip(names, per_view.tolist())), dropped,
                                tuple(float(v) for v in std[:4]), poses)


# ---- sources --------------------------------------------------------------------------------------------
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def images_from_folder(folder: str):
    """(name, RGB image) for each image file of a folder, in name order."""
    cv2 = _cv2()
    if not os.path.isdir(folder):
        raise CalibrationError(f"image folder {folder} does not exist")
    files = sorted(f for f in glob.glob(os.path.join(folder, "*")) if f.lower().endswith(IMAGE_EXTENSIONS))
    if not files:
        raise CalibrationError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in {folder}")
    for f in files:
        img = cv2.imread(f, cv2.IMREAD_COLOR)
        if img is None:
            raise CalibrationError(f"{f}: not a readable image")
        yield os.path.basename(f), img[:, :, ::-1].copy()


def images_from_recording(path: str, every: int = 1):
    """(name, RGB image) of every ``every``-th colour frame of a RealSense recording (.bag/.db3) at its full
    resolution, read by pyrealsense2's playback device (``drivers.realsense.read_recording_color``: not real
    time, no frame dropped)."""
    from robot_rl.drivers.camera_common import CameraError
    from robot_rl.drivers.realsense import read_recording_color

    try:
        frames = read_recording_color(path)
    except CameraError as e:
        raise CalibrationError(str(e)) from None
    seen = set()
    for k, (n, img) in enumerate(frames):
        if n in seen or k % every:
            continue
        seen.add(n)
        yield f"frame {n}", img


def calibrate_views(spec: BoardSpec, views, cfg: IntrinsicsConfig = IntrinsicsConfig(), progress=None) -> IntrinsicsResult:
    """Calibrate from (name, image) pairs; ``progress(feedback, coverage_line)`` after each view."""
    cal = IntrinsicsCalibrator(spec, cfg)
    for name, img in views:
        fb = cal.add_view(img, name)
        if progress is not None:
            progress(fb, cal.coverage.line(len(cal.views)))
    return cal.calibrate()
