"""Run outputs of the training loop: scalar logs (TensorBoard, or CSV without it) and learning-curve PNGs."""
from __future__ import annotations

import csv
import io
from pathlib import Path

from robot_rl.io import atomic_write_bytes


class ScalarLogger:
    """TensorBoard when it is importable, otherwise ``metrics.csv``; ``kind`` says which."""

    def __init__(self, directory: Path):
        directory.mkdir(parents=True, exist_ok=True)
        try:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(directory / "tb"))
            self.kind = "tensorboard"
            self.path = directory / "tb"
        except ImportError:
            self._tb = None
            self.kind = "csv"
            self.path = directory / "metrics.csv"
            self._f = open(self.path, "a", newline="")
            self._csv = csv.writer(self._f)

    def log(self, step: int, scalars: dict[str, float]) -> None:
        for k, v in scalars.items():
            if v is None:
                continue
            if self._tb is not None:
                self._tb.add_scalar(k, v, step)
            else:
                self._csv.writerow([step, k, v])

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
        else:
            self._f.close()


def plot_curves(path: Path, curves: dict[str, list[tuple[int, float]]], title: str, ylabel: str = "eval success rate",
                target: float | None = 0.9) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for label, pts in curves.items():
        if pts:
            xs, ys = zip(*pts)
            ax.plot(xs, ys, marker="o", ms=3, label=label)
    if target is not None:
        ax.axhline(target, color="grey", ls="--", lw=1)
    ax.set_xlabel("env steps")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    bio = io.BytesIO()
    fig.savefig(bio, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return atomic_write_bytes(path, bio.getvalue())
