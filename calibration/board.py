"""The ChArUco board: its spec (squares, sizes in metres, ArUco dictionary), the OpenCV board, a printable image at
true scale (PNG with its DPI, or PDF on a page), and detection of its corners in an image with a reason when
there are none (no markers, markers but not of this board: the board spec is wrong, too few corners)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robot_rl.contract.params import param

M_PER_INCH = 0.0254


class CalibrationError(ValueError):
    """Bad calibration input (no board, too few views, degenerate poses, wrong board); the message is one line."""


def _cv2():
    try:
        import cv2
    except ImportError as e:  # pragma: no cover - depends on the install
        raise CalibrationError(f"OpenCV is not installed ({e}); pip install 'opencv-python-headless>=4.10,<5'") from None
    if not hasattr(cv2, "aruco") or not hasattr(cv2.aruco, "CharucoDetector"):
        raise CalibrationError(f"OpenCV {cv2.__version__} has no cv2.aruco.CharucoDetector (need >= 4.10, < 5)")
    return cv2


@dataclass(frozen=True)
class BoardSpec:
    """A ChArUco board. The default fits an A4 page in landscape at true scale (245 x 175 mm)."""

    squares_x: int = param(7, ge=3, le=40, doc="squares along the board's width")
    squares_y: int = param(5, ge=3, le=40, doc="squares along the board's height")
    square_length_m: float = param(0.035, gt=0, le=1.0, doc="chessboard square side [m]")
    marker_length_m: float = param(0.026, gt=0, le=1.0, doc="ArUco marker side [m] (< square_length_m)")
    dictionary: str = param("DICT_5X5_100", doc="OpenCV ArUco dictionary (cv2.aruco.DICT_*)")

    def validate(self) -> None:
        if not self.marker_length_m < self.square_length_m:
            raise CalibrationError(f"board: marker_length_m={self.marker_length_m} must be less than "
                                   f"square_length_m={self.square_length_m}")
        cv2 = _cv2()
        if not self.dictionary.startswith("DICT_") or not hasattr(cv2.aruco, self.dictionary):
            raise CalibrationError(f"board: unknown ArUco dictionary {self.dictionary!r} (e.g. DICT_5X5_100)")
        n_markers = (self.squares_x * self.squares_y) // 2
        size = int(self.dictionary.rsplit("_", 1)[-1]) if self.dictionary.rsplit("_", 1)[-1].isdigit() else 1 << 30
        if n_markers > size:
            raise CalibrationError(f"board: {self.squares_x}x{self.squares_y} needs {n_markers} markers, "
                                   f"{self.dictionary} has {size}")

    @property
    def size_m(self) -> tuple[float, float]:
        return self.squares_x * self.square_length_m, self.squares_y * self.square_length_m

    @property
    def n_corners(self) -> int:
        return (self.squares_x - 1) * (self.squares_y - 1)

    def describe(self) -> str:
        w, h = self.size_m
        return (f"{self.squares_x}x{self.squares_y} ChArUco, squares {self.square_length_m * 1000:g} mm, markers "
                f"{self.marker_length_m * 1000:g} mm, {self.dictionary} ({w * 1000:g} x {h * 1000:g} mm)")


def charuco_board(spec: BoardSpec):
    spec.validate()
    cv2 = _cv2()
    d = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, spec.dictionary))
    return cv2.aruco.CharucoBoard((spec.squares_x, spec.squares_y), spec.square_length_m, spec.marker_length_m, d)


def corner_points(spec: BoardSpec) -> np.ndarray:
    """(N, 3) chessboard corners in the board frame [m]: origin at the board's top-left corner, x along the
    width, y down the height, z into the board (OpenCV's convention)."""
    return np.asarray(charuco_board(spec).getChessboardCorners(), np.float64).reshape(-1, 3)


def board_image(spec: BoardSpec, px_per_m: float, margin_m: float = 0.0) -> np.ndarray:
    """The board as a grey uint8 image, ``px_per_m`` pixels per metre, with a white margin around it."""
    w, h = spec.size_m
    bw, bh = round(w * px_per_m), round(h * px_per_m)
    inner = charuco_board(spec).generateImage((bw, bh), marginSize=0, borderBits=1)
    m = round(margin_m * px_per_m)
    return np.pad(inner, ((m, m), (m, m)), constant_values=255)


def write_board(spec: BoardSpec, path: str, dpi: float = 300.0, margin_m: float = 0.01,
                page_m: tuple[float, float] | None = None) -> tuple[float, float]:
    """Write the board at true scale: a PNG carrying its DPI, or a PDF (``page_m``: the page size, default the
    board plus margins; the board is centred). Print at 100 %. Returns the image / page size [m]."""
    from PIL import Image

    px_per_m = dpi / M_PER_INCH
    img = board_image(spec, px_per_m, margin_m)
    lower = path.lower()
    if not lower.endswith((".png", ".pdf")):
        raise CalibrationError(f"board output {path}: expected a .png or .pdf file name")
    if page_m is not None:
        pw, ph = round(page_m[0] * px_per_m), round(page_m[1] * px_per_m)
        if pw < img.shape[1] or ph < img.shape[0]:
            raise CalibrationError(f"board {img.shape[1] / px_per_m * 1000:.0f} x {img.shape[0] / px_per_m * 1000:.0f} mm "
                                   f"(with margins) does not fit on a {page_m[0] * 1000:.0f} x {page_m[1] * 1000:.0f} "
                                   "mm page")
        x, y = (pw - img.shape[1]) // 2, (ph - img.shape[0]) // 2
        img = np.pad(img, ((y, ph - img.shape[0] - y), (x, pw - img.shape[1] - x)), constant_values=255)
    im = Image.fromarray(img)
    if lower.endswith(".png"):
        im.save(path, dpi=(dpi, dpi))
    else:
        im.save(path, "PDF", resolution=dpi)
    return img.shape[1] / px_per_m, img.shape[0] / px_per_m


@dataclass(frozen=True)
class Detection:
    corners_px: np.ndarray  # (N, 2) float64, sub-pixel ChArUco corners
    ids: np.ndarray  # (N,) int, the corners' indices into corner_points(spec)
    n_markers: int


class BoardDetector:
    """Finds the board's ChArUco corners; :meth:`detect` returns (detection or None, reason when None)."""

    def __init__(self, spec: BoardSpec, min_corners: int = 6):
        cv2 = _cv2()
        self.spec = spec
        self.board = charuco_board(spec)
        self.min_corners = min_corners
        self.detector = cv2.aruco.CharucoDetector(self.board)
        self.marker_ids = set(int(i) for i in np.asarray(self.board.getIds()).ravel())

    def detect(self, image: np.ndarray) -> tuple[Detection | None, str]:
        cv2 = _cv2()
        img = np.asarray(image)
        if img.dtype != np.uint8:
            raise CalibrationError(f"images must be uint8, got {img.dtype}")
        gray = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY) if img.ndim == 3 else img
        cc, ci, mc, mi = self.detector.detectBoard(gray)
        markers = [] if mi is None else [int(i) for i in np.asarray(mi).ravel()]
        if cc is None or len(cc) < self.min_corners:
            if not markers:
                return None, "no board markers found"
            foreign = sorted(set(markers) - self.marker_ids)
            if cc is None or len(cc) == 0:
                why = (f"marker ids {foreign[:5]} are not on it" if foreign
                       else "the markers do not sit where this board has them")
                return None, (f"{len(markers)} {self.spec.dictionary} markers found but no ChArUco corners: is the "
                              f"board {self.spec.squares_x}x{self.spec.squares_y}? ({why})")
            return None, f"only {len(cc)} corners (< {self.min_corners})"
        return Detection(np.asarray(cc, np.float64).reshape(-1, 2), np.asarray(ci).ravel().astype(int),
                         len(markers)), ""
