"""The ChArUco board in MuJoCo: a textured board body for any scene (the arm twin's included), a small scene that
renders the board from a camera of known intrinsics at known board poses (ground truth for the calibration tests
and for recordings), a sampler of well-spread board poses, and a lens distortion warp with known coefficients.

Board frame (OpenCV's): origin at the top-left corner of the squares, x along the width, y down, z into the board.
"""
from __future__ import annotations

import numpy as np

from robot_rl.calibration.board import BoardSpec, _cv2, board_image, corner_points
from robot_rl.contract.rotations import mat_to_quat, rotvec_to_mat
from robot_rl.drivers.camera_common import Intrinsics, crop_resize
from robot_rl.sim.panda_model import CameraSpec, camera_xml

BOARD_THICKNESS_M = 0.002


def pose(rot: np.ndarray, pos) -> np.ndarray:
    t = np.eye(4)
    t[:3, :3], t[:3, 3] = rot, pos
    return t


def inv(t: np.ndarray) -> np.ndarray:
    r, p = t[:3, :3], t[:3, 3]
    return pose(r.T, -r.T @ p)


def board_xml(spec: BoardSpec, name: str = "board", margin_m: float = 0.01, px_per_m: float = 5000.0,
              mocap: bool = True, world_pose: np.ndarray | None = None) -> tuple[str, str, dict[str, bytes]]:
    """(asset XML, body XML, assets) of a board body named ``name`` whose frame is the board frame; a mocap body
    (moved through ``data.mocap_pos/quat``) or fixed at ``world_pose``. ``assets`` goes to ``MjModel.from_xml_string``.
    The texture lies on the box's +z face, top-left at (-x, +y): the geom is the board frame turned 180 deg about x."""
    cv2 = _cv2()
    ok, png = cv2.imencode(".png", board_image(spec, px_per_m, margin_m))
    w, h = spec.size_m
    t = BOARD_THICKNESS_M / 2
    asset = (f'<texture name="{name}_tex" type="2d" file="{name}.png"/>'
             f'<material name="{name}_mat" texture="{name}_tex" emission="0.6" specular="0" shininess="0"/>')
    wp = np.eye(4) if world_pose is None else world_pose
    where = 'mocap="true"' if mocap else ""
    q = mat_to_quat(wp[:3, :3])
    body = (f'<body name="{name}" {where} pos="{" ".join(f"{v:.9g}" for v in wp[:3, 3])}" '
            f'quat="{" ".join(f"{v:.9g}" for v in q)}">'
            f'<geom name="{name}_geom" type="box" size="{w / 2 + margin_m:.9g} {h / 2 + margin_m:.9g} {t:.9g}" '
            f'pos="{w / 2:.9g} {h / 2:.9g} {t:.9g}" quat="0 1 0 0" material="{name}_mat" contype="0" '
            f'conaffinity="0"/></body>')
    return asset, body, {f"{name}.png": png.tobytes()}


def camera_spec(intr: Intrinsics, name: str = "cam", mount: np.ndarray | None = None) -> CameraSpec:
    m = np.eye(4) if mount is None else mount
    return CameraSpec(name, intr.width, intr.height, intr.fx, intr.fy, intr.cx, intr.cy,
                      tuple(m[:3, 3].tolist()), tuple(mat_to_quat(m[:3, :3]).tolist()))


class BoardScene:
    """A camera at the world origin (its optical frame is the world frame) and the board on a mocap body:
    :meth:`render` gives the image of the board at ``T_cam_board``."""

    def __init__(self, spec: BoardSpec, intr: Intrinsics, px_per_m: float = 5000.0, supersample: int = 2):
        import mujoco

        self.spec, self.out = spec, intr
        self.supersample = supersample
        intr = intr.at_size(intr.width * supersample, intr.height * supersample)  # rendered larger, area-averaged
        self.intr = intr
        asset, body, assets = board_xml(spec, px_per_m=px_per_m)
        xml = f"""<mujoco><visual><global offwidth="{intr.width}" offheight="{intr.height}"/>
  <quality shadowsize="0" offsamples="8"/><headlight ambient="0.5 0.5 0.5" diffuse="0.3 0.3 0.3" specular="0 0 0"/>
  <map znear="0.01"/></visual>
  <asset>{asset}</asset>
  <worldbody>{camera_xml(camera_spec(intr))}{body}</worldbody></mujoco>"""
        self.mujoco = mujoco
        self.model = mujoco.MjModel.from_xml_string(xml, assets)
        self.data = mujoco.MjData(self.model)
        self.renderer = mujoco.Renderer(self.model, intr.height, intr.width)

    def render(self, t_cam_board: np.ndarray) -> np.ndarray:
        self.data.mocap_pos[0] = t_cam_board[:3, 3]
        self.data.mocap_quat[0] = mat_to_quat(t_cam_board[:3, :3])
        self.mujoco.mj_forward(self.model, self.data)
        self.renderer.update_scene(self.data, "cam")
        img = self.renderer.render()
        return crop_resize(img, (0, 0, self.intr.width, self.intr.height), self.out.width, self.out.height)

    def close(self) -> None:
        self.renderer.close()


def project(intr: Intrinsics, t_cam_board: np.ndarray, points_board: np.ndarray, coeffs=None) -> np.ndarray:
    """(N, 2) pixels of board points seen from the camera (OpenCV model, ``coeffs`` default the intrinsics')."""
    cv2 = _cv2()
    rvec = cv2.Rodrigues(t_cam_board[:3, :3])[0]
    d = np.asarray(intr.coeffs if coeffs is None else coeffs, float)
    px, _ = cv2.projectPoints(points_board.reshape(-1, 1, 3), rvec, t_cam_board[:3, 3], intr.matrix(), d)
    return px.reshape(-1, 2)


def spread_board_poses(spec: BoardSpec, intr: Intrinsics, n: int, rng: np.random.Generator,
                       distance_m: tuple[float, float] = (0.3, 0.7), max_tilt_deg: float = 40.0,
                       margin_px: float = 10.0, coeffs=None) -> list[np.ndarray]:
    """``n`` board poses (T_cam_board) spread over distances, tilts and image regions, each with the whole board
    (squares and margin) inside the image; ``coeffs``: check visibility through that distortion."""
    w, h = spec.size_m
    outline = np.array([[-0.01, -0.01, 0], [w + 0.01, -0.01, 0], [w + 0.01, h + 0.01, 0], [-0.01, h + 0.01, 0],
                        [w / 2, -0.01, 0], [w / 2, h + 0.01, 0], [-0.01, h / 2, 0], [w + 0.01, h / 2, 0]])
    out = []
    for _ in range(200 * n):
        if len(out) == n:
            break
        z = rng.uniform(*distance_m)
        tilt = np.radians(max_tilt_deg) * rng.uniform(-1, 1, 2)
        rot = rotvec_to_mat((tilt[0], tilt[1], rng.uniform(-0.3, 0.3)))
        u, v = rng.uniform(0.15, 0.85) * intr.width, rng.uniform(0.15, 0.85) * intr.height
        centre = z * np.array([(u - intr.cx) / intr.fx, (v - intr.cy) / intr.fy, 1.0])
        t = pose(rot, centre - rot @ np.array([w / 2, h / 2, 0.0]))
        px = project(intr, t, outline, coeffs)
        if (np.all(px >= margin_px) and np.all(px[:, 0] <= intr.width - 1 - margin_px)
                and np.all(px[:, 1] <= intr.height - 1 - margin_px)):
            out.append(t)
    if len(out) < n:
        raise ValueError(f"could place only {len(out)} of {n} board poses in a {intr.width}x{intr.height} view")
    return out


def distortion_warp(intr: Intrinsics, coeffs, pad_px: int) -> tuple[Intrinsics, np.ndarray, np.ndarray]:
    """A lens distortion with known ``coeffs`` (plumb_bob): (pinhole intrinsics of a canvas ``pad_px`` larger on
    every side to render, map_x, map_y for ``cv2.remap`` from that canvas to the distorted image of ``intr``)."""
    cv2 = _cv2()
    big = Intrinsics(intr.width + 2 * pad_px, intr.height + 2 * pad_px, intr.fx, intr.fy, intr.cx + pad_px,
                     intr.cy + pad_px)
    u, v = np.meshgrid(np.arange(intr.width, dtype=np.float64), np.arange(intr.height, dtype=np.float64))
    pts = np.stack([u.ravel(), v.ravel()], -1).reshape(-1, 1, 2)
    crit = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-12)
    und = cv2.undistortPointsIter(pts, intr.matrix(), np.asarray(coeffs, float), None, big.matrix(), crit)
    und = und.reshape(intr.height, intr.width, 2).astype(np.float32)
    return big, und[..., 0], und[..., 1]


def render_distorted(scene: BoardScene, intr: Intrinsics, maps, t_cam_board: np.ndarray) -> np.ndarray:
    """The board at ``t_cam_board`` through the distorted lens of ``distortion_warp`` (``scene`` renders the canvas)."""
    cv2 = _cv2()
    return cv2.remap(scene.render(t_cam_board), maps[0], maps[1], cv2.INTER_LINEAR, borderValue=(0, 0, 0))


def board_corners_world(spec: BoardSpec, t_world_board: np.ndarray) -> np.ndarray:
    c = corner_points(spec)
    return (t_world_board[:3, :3] @ c.T).T + t_world_board[:3, 3]


def random_rotation_deg(rng: np.random.Generator, sigma_deg: float) -> np.ndarray:
    return rotvec_to_mat(np.radians(sigma_deg) * rng.standard_normal(3))
