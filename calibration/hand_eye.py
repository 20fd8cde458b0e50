"""Hand-eye calibration with OpenCV's ``cv2.calibrateHandEye`` (any of its methods by name): the camera mount from
arm poses (``ee_pose``: the TCP in the base frame) and board poses seen by the camera (``T_cam_board``).

* ``eye_in_hand`` (a wrist camera): the mount is ``T_tcp_cam``; the board is fixed in the base frame.
* ``eye_to_hand`` (a fixed front camera): the mount is ``T_base_cam``; the board is held by the hand.

Either way ``A_i X B_i = Y`` for every view (A: the arm pose, or its inverse for eye-to-hand; B: the board in
the camera; Y: the board in the base or in the TCP frame); the residuals are each view's Y against their mean.
A fitted scale of the camera's translations against the arm's says whether the board's square size is right.
Writes the mount as a YAML transform (``translation_m``, ``rotation_wxyz``, frames, method, residuals)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robot_rl.calibration.board import CalibrationError, _cv2
from robot_rl.contract.rotations import mat_to_quat, quat_to_mat

SETUPS = ("eye_in_hand", "eye_to_hand")
METHODS = ("tsai", "park", "horaud", "andreff", "daniilidis")


def _pose(r, t) -> np.ndarray:
    m = np.eye(4)
    m[:3, :3], m[:3, 3] = r, np.ravel(t)
    return m


def _inv(t: np.ndarray) -> np.ndarray:
    return _pose(t[:3, :3].T, -t[:3, :3].T @ t[:3, 3])


def _angle_deg(r: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip((np.trace(r) - 1) / 2, -1.0, 1.0))))


def _axis(r: np.ndarray) -> np.ndarray:
    v = np.array([r[2, 1] - r[1, 2], r[0, 2] - r[2, 0], r[1, 0] - r[0, 1]])
    n = np.linalg.norm(v)
    return v / n if n > 1e-12 else v


def mean_rotation(rs) -> np.ndarray:
    u, _, vt = np.linalg.svd(np.sum(rs, axis=0))
    return u @ np.diag([1.0, 1.0, np.linalg.det(u @ vt)]) @ vt


@dataclass(frozen=True)
class HandEyeConfig:
    min_views: int = 6  # fewest views
    min_rotation_deg: float = 10.0  # the arm's rotations between views must reach this ...
    min_axis_spread_deg: float = 20.0  # ... about axes at least this far apart (one axis only: degenerate)
    max_scale_error: float = 0.03  # |camera / arm translation scale - 1| above this: the board's size is wrong


@dataclass(frozen=True)
class HandEyeResult:
    setup: str
    method: str
    mount: np.ndarray  # eye_in_hand: T_tcp_cam; eye_to_hand: T_base_cam
    target: np.ndarray  # the board: eye_in_hand T_base_board; eye_to_hand T_tcp_board
    residual_deg: np.ndarray  # per view: rotation of that view's board pose from the mean [deg]
    residual_mm: np.ndarray  # per view: translation from the mean [mm]
    scale: float  # fitted camera / arm translation scale (1 when the board's square size is right)

    @property
    def rms_deg(self) -> float:
        return float(np.sqrt(np.mean(self.residual_deg ** 2)))

    @property
    def rms_mm(self) -> float:
        return float(np.sqrt(np.mean(self.residual_mm ** 2)))

    def summary(self) -> str:
        t = self.mount[:3, 3] * 1000
        return (f"{self.setup} ({self.method}): mount t = [{t[0]:.1f}, {t[1]:.1f}, {t[2]:.1f}] mm, q = "
                f"[{', '.join(f'{v:.4f}' for v in mat_to_quat(self.mount[:3, :3]))}]; residuals RMS "
                f"{self.rms_deg:.3f} deg, {self.rms_mm:.2f} mm over {len(self.residual_mm)} views (worst "
                f"{self.residual_deg.max():.3f} deg, {self.residual_mm.max():.2f} mm); scale {self.scale:.4f}")

    def write_yaml(self, path: str, camera_frame: str, base_frame: str = "base", tcp_frame: str = "tcp") -> None:
        import yaml

        parent = tcp_frame if self.setup == "eye_in_hand" else base_frame
        d = {"setup": self.setup, "parent_frame": parent, "child_frame": camera_frame,
             "translation_m": [float(v) for v in self.mount[:3, 3]],
             "rotation_wxyz": [float(v) for v in mat_to_quat(self.mount[:3, :3])],
             "method": self.method, "views": int(len(self.residual_mm)),
             "residual_rms_deg": self.rms_deg, "residual_rms_mm": self.rms_mm, "translation_scale": self.scale}
        with open(path, "w") as f:
            f.write(yaml.safe_dump(d, sort_keys=False, default_flow_style=None))


def read_mount_yaml(path: str) -> tuple[np.ndarray, dict]:
    """(4x4 transform parent <- camera optical frame, the file's fields); a malformed file is one line."""
    import yaml

    try:
        with open(path) as f:
            d = yaml.safe_load(f)
        t = np.asarray(d["translation_m"], float).reshape(3)
        r = quat_to_mat(np.asarray(d["rotation_wxyz"], float))
        if d.get("setup") not in SETUPS:
            raise ValueError(f"setup must be one of {', '.join(SETUPS)}")
    except OSError as e:
        raise CalibrationError(f"mount file {path}: cannot read it ({e.strerror})") from None
    except (KeyError, TypeError, ValueError, AttributeError, yaml.YAMLError) as e:
        raise CalibrationError(f"mount file {path}: needs setup, translation_m [3] and rotation_wxyz [4] ({e})") from None
    return _pose(r, t), d


def check_motion(arm: list[np.ndarray], cfg: HandEyeConfig) -> None:
    """The arm must rotate between views, about more than one axis (else the mount is not observable)."""
    if len(arm) < cfg.min_views:
        raise CalibrationError(f"too few hand-eye views: {len(arm)} (need {cfg.min_views})")
    rel = [arm[0][:3, :3].T @ a[:3, :3] for a in arm[1:]]
    rel += [arm[i][:3, :3].T @ arm[j][:3, :3] for i in range(len(arm)) for j in range(i + 2, len(arm), 3)]
    big = [r for r in rel if _angle_deg(r) >= cfg.min_rotation_deg]
    if not big:
        raise CalibrationError(f"degenerate poses: the arm rotated at most {max(map(_angle_deg, rel)):.1f} deg between "
                               f"views (need {cfg.min_rotation_deg:g}): rotate the hand about different axes")
    axes = np.array([_axis(r) for r in big])
    spread = float(np.degrees(np.arccos(np.clip(np.abs(axes @ axes.T), 0, 1)).max()))
    if spread < cfg.min_axis_spread_deg:
        raise CalibrationError(f"degenerate poses: every rotation between views is about one axis (spread "
                               f"{spread:.1f} deg, need {cfg.min_axis_spread_deg:g}): the mount's offset along it is "
                               "not observable; rotate about at least two axes")


def calibrate_hand_eye(ee_poses: list[np.ndarray], board_in_cam: list[np.ndarray], setup: str = "eye_in_hand",
                       method: str = "park", cfg: HandEyeConfig = HandEyeConfig()) -> HandEyeResult:
    """``ee_poses``: T_base_tcp per view; ``board_in_cam``: T_cam_board per view (same order)."""
    cv2 = _cv2()
    if setup not in SETUPS:
        raise CalibrationError(f"unknown hand-eye setup {setup!r}: expected one of {', '.join(SETUPS)}")
    if method not in METHODS:
        raise CalibrationError(f"unknown hand-eye method {method!r}: expected one of {', '.join(METHODS)}")
    if len(ee_poses) != len(board_in_cam):
        raise CalibrationError(f"{len(ee_poses)} arm poses but {len(board_in_cam)} board detections")
    a = [np.asarray(p, float) if setup == "eye_in_hand" else _inv(np.asarray(p, float)) for p in ee_poses]
    b = [np.asarray(p, float) for p in board_in_cam]
    check_motion(a, cfg)
    r_x, t_x = cv2.calibrateHandEye([p[:3, :3] for p in a], [p[:3, 3] for p in a], [p[:3, :3] for p in b],
                                    [p[:3, 3] for p in b], method=getattr(cv2, f"CALIB_HAND_EYE_{method.upper()}"))
    x = _pose(r_x, t_x)
    scale = translation_scale(a, b, x[:3, :3])
    if abs(scale - 1.0) > cfg.max_scale_error:
        raise CalibrationError(f"board scale mismatch: the camera measures the arm's motions {1 / scale:.3f}x as long "
                               "(is square_length_m the printed size? measure a square)")
    ys = [p @ x @ q for p, q in zip(a, b)]
    r_y = mean_rotation([y[:3, :3] for y in ys])
    t_y = np.mean([y[:3, 3] for y in ys], axis=0)
    res_deg = np.array([_angle_deg(r_y.T @ y[:3, :3]) for y in ys])
    res_mm = np.array([1000 * np.linalg.norm(y[:3, 3] - t_y) for y in ys])
    return HandEyeResult(setup, method, x, _pose(r_y, t_y), res_deg, res_mm, scale)


def translation_scale(a: list[np.ndarray], b: list[np.ndarray], r_x: np.ndarray) -> float:
    """Least squares of R_Ai (R_X s t_Bi + t_X) + t_Ai = t_Y for (s, t_X, t_Y), given R_X."""
    rows, rhs = [], []
    for p, q in zip(a, b):
        ra = p[:3, :3]
        rows.append(np.hstack([(ra @ r_x @ q[:3, 3])[:, None], ra, -np.eye(3)]))
        rhs.append(-p[:3, 3])
    sol = np.linalg.lstsq(np.vstack(rows), np.concatenate(rhs), rcond=None)[0]
    return float(sol[0])
