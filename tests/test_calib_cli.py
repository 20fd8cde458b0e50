"""``robot-rl calibrate``: the board prints at true scale (PNG with its DPI, PDF on an A4 page) and is detectable;
intrinsics from an image folder print each view's feedback and the coverage and write the camera_info YAML; a
guided hand-eye capture in the twin writes a mount YAML near the true mount; bad input is one line and exit 2."""
from __future__ import annotations

import re

import numpy as np
import pytest
import yaml

cv2 = pytest.importorskip("cv2")
pytest.importorskip("mujoco")
from robot_rl.calibration.board import BoardDetector, BoardSpec  # noqa: E402
from robot_rl.calibration.guided import nominal_mount  # noqa: E402
from robot_rl.calibration.hand_eye import read_mount_yaml  # noqa: E402
from robot_rl.calibration.twin_board import BoardScene, spread_board_poses  # noqa: E402
from robot_rl.drivers.camera_common import Intrinsics, read_camera_info_yaml, write_camera_info_yaml  # noqa: E402
from robot_rl.tools.cli import main  # noqa: E402

TRUE = Intrinsics(640, 480, 605.0, 603.0, 322.0, 237.0)
BOARD_ARGS = ["--squares", "9x7", "--square-mm", "40", "--marker-mm", "30"]


def test_board_png_is_at_true_scale_and_detectable(tmp_path, capsys):
    out = str(tmp_path / "board.png")
    assert main(["calibrate", "board", "--out", out, "--dpi", "200"]) == 0
    assert "measure a square: it must be 35 mm" in capsys.readouterr().out
    img = cv2.imread(out, cv2.IMREAD_GRAYSCALE)
    px_per_mm = 200 / 25.4
    assert img.shape[1] == pytest.approx((245 + 20) * px_per_mm, abs=2)  # 7 x 35 mm + two 10 mm margins
    assert img.shape[0] == pytest.approx((175 + 20) * px_per_mm, abs=2)
    det, _ = BoardDetector(BoardSpec()).detect(img)
    assert det is not None and len(det.ids) == BoardSpec().n_corners
    corners = det.corners_px[np.argsort(det.ids)]
    assert np.linalg.norm(corners[1] - corners[0]) == pytest.approx(35 * px_per_mm, rel=0.01)  # one square


def test_board_pdf_is_an_a4_landscape_page(tmp_path):
    out = str(tmp_path / "board.pdf")
    assert main(["calibrate", "board", "--out", out, "--page", "a4"]) == 0
    box = re.search(rb"/MediaBox \[ ?0 0 ([\d.]+) ([\d.]+) ?\]", open(out, "rb").read())
    assert box and float(box[1]) == pytest.approx(297 / 25.4 * 72, abs=1) and float(box[2]) == pytest.approx(
        210 / 25.4 * 72, abs=1)


def test_intrinsics_from_a_folder_prints_progress_and_writes_camera_info(tmp_path, capsys):
    spec = BoardSpec(9, 7, 0.04, 0.03)
    scene = BoardScene(spec, TRUE, supersample=1)
    for k, t in enumerate(spread_board_poses(spec, TRUE, 14, np.random.default_rng(5), distance_m=(0.4, 0.9),
                                             max_tilt_deg=45)):
        cv2.imwrite(str(tmp_path / f"shot_{k:02d}.png"), scene.render(t)[:, :, ::-1])
    scene.close()
    out = str(tmp_path / "front.yaml")
    assert main(["calibrate", "intrinsics", "--images", str(tmp_path), "--camera-name", "front", "--out", out,
                 *BOARD_ARGS]) == 0
    text = capsys.readouterr().out
    assert "shot_00.png: 48 corners, board at" in text and "still missing:" in text
    assert re.search(r"shot_13.png: reprojection RMS 0\.\d+ px", text) and f"wrote {out}" in text
    name, intr = read_camera_info_yaml(out)
    assert name == "front" and abs(intr.fx / TRUE.fx - 1) < 0.005 and abs(intr.cx - TRUE.cx) < 2


@pytest.mark.parametrize("args, message", [
    (["--images", "{blank}"], "no board found in any of 3 views"),
    (["--images", "{blank}", "--recording", "x.db3"], "give exactly one of --images DIR, --recording FILE"),
    (["--images", "{missing}"], "image folder .* does not exist"),
    (["--recording", "{missing}.db3"], "RealSense recording not found"),
    (["--images", "{blank}", "--squares", "7by5"], "--squares '7by5': expected e.g. 7x5"),
])
def test_intrinsics_bad_input_is_one_line_and_exit_2(tmp_path, capsys, args, message):
    blank = tmp_path / "blank"
    blank.mkdir()
    for k in range(3):
        cv2.imwrite(str(blank / f"{k}.png"), np.full((480, 640, 3), 90, np.uint8))
    args = [a.format(blank=blank, missing=tmp_path / "missing") for a in args]
    assert main(["calibrate", "intrinsics", *args, "--out", str(tmp_path / "o.yaml")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("robot-rl calibrate: error:")
    assert re.search(message, err), err


def test_hand_eye_with_a_guided_twin_capture_writes_the_mount(tmp_path, capsys):
    intr = str(tmp_path / "wrist.yaml")
    write_camera_info_yaml(intr, Intrinsics(640, 480, 420.0, 420.0, 322.0, 238.0), "wrist")
    out = str(tmp_path / "wrist_mount.yaml")
    assert main(["calibrate", "hand-eye", "--capture-twin", str(tmp_path / "cap"), "--intrinsics", intr,
                 "--setup", "eye_in_hand", "--views", "12", "--camera-frame", "wrist_color_optical_frame",
                 "--out", out]) == 0
    text = capsys.readouterr().out
    assert "pose 12/12:" in text and "residual" in text and f"wrote {out}" in text
    mount, d = read_mount_yaml(out)
    truth = nominal_mount("eye_in_hand")  # the twin's camera sat at the nominal mount
    assert np.linalg.norm(mount[:3, 3] - truth[:3, 3]) < 0.003
    assert d["child_frame"] == "wrist_color_optical_frame" and d["parent_frame"] == "tcp"
    assert yaml.safe_load(open(tmp_path / "cap" / "poses.yaml"))["views"][0]["image"] == "view_000.png"
    # the capture folder is the --data input: the same mount from it
    assert main(["calibrate", "hand-eye", "--data", str(tmp_path / "cap"), "--intrinsics", intr, "--method", "tsai",
                 "--out", str(tmp_path / "again.yaml")]) == 0
    assert np.allclose(read_mount_yaml(str(tmp_path / "again.yaml"))[0][:3, 3], mount[:3, 3], atol=0.002)
