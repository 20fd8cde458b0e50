"""``robot-rl calibrate``: print a ChArUco board at true scale, calibrate a camera's intrinsics, calibrate its mount
(hand-eye). Every view's feedback and the running coverage are printed as the views come in; bad input (no board,
too few views, degenerate poses, a board of another size) is one line on stderr and exit code 2.

    robot-rl calibrate board --out board.pdf --page a4
    robot-rl calibrate intrinsics --images shots/ --camera-name wrist --out wrist.yaml
    robot-rl calibrate intrinsics --recording wrist.db3 --out wrist.yaml
    robot-rl calibrate intrinsics --topic wrist --views 25 --out wrist.yaml      # live, from the camera node
    robot-rl calibrate hand-eye --data capture/ --intrinsics wrist.yaml --setup eye_in_hand --out wrist_mount.yaml
    robot-rl calibrate hand-eye --capture-twin capture/ --intrinsics wrist.yaml --setup eye_in_hand --out m.yaml
    robot-rl calibrate hand-eye --capture-ros capture/ --intrinsics wrist.yaml --setup eye_in_hand --out m.yaml
"""
from __future__ import annotations

import sys

import numpy as np

PAGES_M = {"a4": (0.297, 0.210), "letter": (0.2794, 0.2159), "a3": (0.420, 0.297)}


def _board_args(p) -> None:
    p.add_argument("--squares", default="7x5", help="squares across x down (default 7x5)")
    p.add_argument("--square-mm", type=float, default=35.0, help="square side [mm], as printed")
    p.add_argument("--marker-mm", type=float, default=26.0, help="marker side [mm], as printed")
    p.add_argument("--dictionary", default="DICT_5X5_100")


def _board(a):
    from robot_rl.calibration.board import BoardSpec, CalibrationError

    try:
        sx, sy = (int(v) for v in a.squares.lower().split("x"))
    except ValueError:
        raise CalibrationError(f"--squares {a.squares!r}: expected e.g. 7x5") from None
    spec = BoardSpec(sx, sy, a.square_mm / 1000, a.marker_mm / 1000, a.dictionary)
    spec.validate()
    return spec


def _say(line: str) -> None:
    print(line, flush=True)


def _board_cmd(a) -> int:
    from robot_rl.calibration.board import write_board

    spec = _board(a)
    page = None if a.page == "fit" else PAGES_M[a.page]
    if page is not None and spec.size_m[0] < spec.size_m[1]:
        page = page[::-1]
    w, h = write_board(spec, a.out, dpi=a.dpi, margin_m=a.margin_mm / 1000, page_m=page)
    _say(f"{a.out}: {spec.describe()} on {w * 1000:.0f} x {h * 1000:.0f} mm; print at 100 % (no fit-to-page), then "
         f"measure a square: it must be {a.square_mm:g} mm")
    return 0


def _progress(fb, coverage: str) -> None:
    _say(f"  {fb.line()}  |  {coverage}")


def _intrinsics_cmd(a) -> int:
    from robot_rl.calibration.intrinsics import IntrinsicsConfig, calibrate_views, images_from_folder, \
        images_from_recording

    spec = _board(a)
    cfg = IntrinsicsConfig(min_views=a.min_views)
    sources = [x for x in (a.images, a.recording, a.topic) if x]
    if len(sources) != 1:
        from robot_rl.calibration.board import CalibrationError

        raise CalibrationError("give exactly one of --images DIR, --recording FILE, --topic CAMERA")
    _say(f"calibrating with a {spec.describe()}")
    if a.topic:
        from robot_rl.calibration.capture_node import capture_views

        views = capture_views(a.topic, a.views, a.timeout_s)
    else:
        views = images_from_folder(a.images) if a.images else images_from_recording(a.recording, a.every)
    res = calibrate_views(spec, views, cfg, progress=_progress)
    for name, e in res.per_view_rms_px.items():
        _say(f"  {name}: reprojection RMS {e:.3f} px")
    _say(res.summary())
    res.write_yaml(a.out, a.camera_name)
    _say(f"wrote {a.out} (camera_info YAML: give it to the camera node as camera_info_url)")
    return 0


def _hand_eye_cmd(a) -> int:
    from robot_rl.calibration.board import CalibrationError
    from robot_rl.calibration.guided import board_poses, load_capture
    from robot_rl.calibration.hand_eye import calibrate_hand_eye
    from robot_rl.drivers.camera_common import read_camera_info_yaml

    spec = _board(a)
    _, intr = read_camera_info_yaml(a.intrinsics)
    if sum(bool(x) for x in (a.data, a.capture_twin, a.capture_ros)) != 1:
        raise CalibrationError("give one of --data DIR (a capture), --capture-twin DIR or --capture-ros DIR (a guided "
                               "capture first, in the twin in-process or over ROS)")
    if a.capture_twin:
        _capture_in_twin(a, spec, intr)
    if a.capture_ros:
        _capture_over_ros(a)
    cap = load_capture(a.data or a.capture_twin or a.capture_ros)
    if (cap.images[0].shape[1], cap.images[0].shape[0]) != (intr.width, intr.height):
        raise CalibrationError(f"images are {cap.images[0].shape[1]}x{cap.images[0].shape[0]}, the intrinsics "
                               f"{a.intrinsics} are for {intr.width}x{intr.height}")
    boards = board_poses(spec, intr, cap.images, progress=lambda k, why: _say(f"  view {k}: {why}"))
    ee = [e for e, b in zip(cap.ee_poses, boards) if b is not None]
    res = calibrate_hand_eye(ee, [b for b in boards if b is not None], a.setup, a.method)
    for k, (deg, mm) in enumerate(zip(res.residual_deg, res.residual_mm)):
        _say(f"  view {k}: residual {deg:.3f} deg, {mm:.2f} mm")
    _say(res.summary())
    res.write_yaml(a.out, a.camera_frame)
    _say(f"wrote {a.out}")
    return 0


def _capture_in_twin(a, spec, intr) -> None:
    """A guided capture in the twin (in-process), its camera at the nominal mount, written as a --data folder."""
    from robot_rl.calibration.guided import TwinArm, TwinBoardView, guided_capture, nominal_mount, plan, rig_board
    from robot_rl.calibration.hand_eye import read_mount_yaml
    from robot_rl.calibration.twin_board import camera_spec

    mount = read_mount_yaml(a.mount_guess)[0] if a.mount_guess else nominal_mount(a.setup)
    cam = camera_spec(intr, "wrist" if a.setup == "eye_in_hand" else "front", mount)
    targets = plan(a.setup, mount, a.views, np.random.default_rng(a.seed))
    view = TwinBoardView(spec, (cam,), **rig_board(spec, a.setup))
    _say(f"guided capture in the twin: {len(targets)} poses, {cam.name} camera")
    cap = guided_capture(TwinArm(cameras=(cam,)), view, cam.name, targets,
                         progress=lambda k, got, msg: _say(f"  pose {k + 1}/{len(targets)}: {msg}"))
    view.close()
    cap.save(a.capture_twin)
    _say(f"  {len(cap.images)} views written to {a.capture_twin} ({cap.skipped} poses not reached)")


def _capture_over_ros(a) -> None:
    """The guided capture over ROS: arm/target_pose streamed to the driver (or twin node), arm/ee_pose and the
    camera's images recorded; poses planned for the rig (board on the table at 0.55 m, or held by the hand)."""
    from robot_rl.calibration.guided import nominal_mount, plan
    from robot_rl.calibration.hand_eye import read_mount_yaml
    from robot_rl.calibration.hand_eye_capture_node import ros_guided_capture

    mount = read_mount_yaml(a.mount_guess)[0] if a.mount_guess else nominal_mount(a.setup)
    targets = plan(a.setup, mount, a.views, np.random.default_rng(a.seed))
    camera = a.camera or ("wrist" if a.setup == "eye_in_hand" else "front")
    _say(f"guided capture over ROS: {len(targets)} poses on arm/target_pose, images from camera {camera}")
    try:
        cap = ros_guided_capture(camera, targets, progress=lambda k, got, msg: _say(f"  pose {k + 1}/{len(targets)}: {msg}"))
    except TimeoutError as e:
        from robot_rl.calibration.board import CalibrationError

        raise CalibrationError(str(e)) from None
    cap.save(a.capture_ros)
    _say(f"  {len(cap.images)} views written to {a.capture_ros} ({cap.skipped} poses not reached)")


def _twin_params_cmd(a) -> int:
    import yaml

    from robot_rl.calibration.twin_cameras import twin_params

    crop = tuple(int(v) for v in a.crop.split(",")) if a.crop else None
    params = twin_params([tuple(c) for c in a.camera], a.size, crop)
    with open(a.out, "w") as f:
        f.write(yaml.safe_dump(params, sort_keys=False, default_flow_style=None))
    cams = ", ".join(c[0] for c in a.camera)
    _say(f"wrote {a.out}: the twin node's calibrated {cams} (--params-file {a.out}, or in a launch file's param list)")
    return 0


def add_parser(sub) -> None:
    from robot_rl.calibration.hand_eye import METHODS, SETUPS

    p = sub.add_parser("calibrate", help="camera calibration: ChArUco board, intrinsics, hand-eye")
    cs = p.add_subparsers(dest="what", metavar="WHAT")
    cs.required = True
    b = cs.add_parser("board", help="write a ChArUco board at true scale (PDF or PNG)")
    _board_args(b)
    b.add_argument("--out", required=True, help="board.pdf or board.png")
    b.add_argument("--dpi", type=float, default=300.0)
    b.add_argument("--margin-mm", type=float, default=10.0)
    b.add_argument("--page", choices=("fit", *PAGES_M), default="fit", help="PDF page (landscape if the board is)")
    b.set_defaults(func=_board_cmd)
    i = cs.add_parser("intrinsics", help="intrinsics from ChArUco views -> camera_info YAML")
    _board_args(i)
    i.add_argument("--images", help="a folder of images")
    i.add_argument("--recording", help="a RealSense recording (.bag/.db3)")
    i.add_argument("--topic", help="a camera name: views from camera/<name>/color/image_raw (the camera node, "
                                   "published at full size: crop_xywh_px = the frame, output_*_px = width/height)")
    i.add_argument("--views", type=int, default=30, help="--topic: distinct views to collect")
    i.add_argument("--timeout-s", type=float, default=120.0, help="--topic: give up after this long")
    i.add_argument("--every", type=int, default=1, help="--recording: every n-th frame")
    i.add_argument("--min-views", type=int, default=8)
    i.add_argument("--camera-name", default="camera")
    i.add_argument("--out", required=True, help="camera_info YAML to write")
    i.set_defaults(func=_intrinsics_cmd)
    h = cs.add_parser("hand-eye", help="camera mount from arm poses + board views -> mount YAML")
    _board_args(h)
    h.add_argument("--data", help="a capture folder: poses.yaml (image, ee_position_m, ee_rotation_wxyz) + images")
    h.add_argument("--capture-twin", help="run a guided capture in the twin first, writing this folder")
    h.add_argument("--intrinsics", required=True, help="the camera's camera_info YAML")
    h.add_argument("--setup", choices=SETUPS, default="eye_in_hand")
    h.add_argument("--method", choices=METHODS, default="park", help="cv2.calibrateHandEye method")
    h.add_argument("--capture-ros", help="run a guided capture over ROS first (arm/target_pose, arm/ee_pose, the "
                                         "camera's image topic), writing this folder")
    h.add_argument("--camera", help="--capture-ros: camera name (default wrist / front by --setup)")
    h.add_argument("--mount-guess", help="--capture-twin: nominal mount YAML the poses are planned (and rendered) with")
    h.add_argument("--views", type=int, default=20, help="--capture-twin: poses to plan")
    h.add_argument("--seed", type=int, default=0)
    h.add_argument("--camera-frame", default="camera_color_optical_frame")
    h.add_argument("--out", required=True, help="mount YAML to write")
    h.set_defaults(func=_hand_eye_cmd)
    t = cs.add_parser("twin-params", help="the twin node's cameras from the calibration files (a ROS params file): "
                                         "twin images line up with the real ones")
    t.add_argument("--camera", action="append", nargs=3, metavar=("NAME", "CAMERA_INFO", "MOUNT"), required=True,
                   help="front or wrist, its camera_info YAML and its mount YAML (repeat per camera)")
    t.add_argument("--size", type=int, default=128, help="the policy image side: the camera node's output size and "
                                                         "the twin's image_size_px")
    t.add_argument("--crop", default="", help="the camera node's crop_xywh_px as x,y,w,h (default: centred square)")
    t.add_argument("--out", required=True, help="params YAML to write")
    t.set_defaults(func=_twin_params_cmd)
    from robot_rl.tools.validate.sysid_cmd import add_twin_parser

    add_twin_parser(cs)


if __name__ == "__main__":  # pragma: no cover
    from robot_rl.tools.cli import main

    sys.exit(main(["calibrate", *sys.argv[1:]]))
