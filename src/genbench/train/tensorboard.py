"""Optional TensorBoard logging (``--tensorboard``): per run, the epoch's losses as
scalars and its sample/reconstruction grids as images, under ``<run>/tensorboard``.

TensorBoard is an optional dependency (``pip install 'genbench[tensorboard]'``), imported
only when asked for.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from genbench.errors import GenbenchError
from genbench.report.grid import make_grid

TB_FOLDER = "tensorboard"


def require_tensorboard() -> None:
    """Fail before any training when logging is asked for but cannot be done."""
    try:
        from torch.utils.tensorboard import SummaryWriter  # noqa: F401
    except ImportError:
        raise GenbenchError("--tensorboard needs the tensorboard package: pip install 'genbench[tensorboard]' "
                            "(or drop --tensorboard)") from None


class RunLoggers:
    """One SummaryWriter per run of a training group. Opened at the epoch training
    (re)starts from, so events a killed run logged after its last checkpoint are purged
    and a resumed run's curves have no duplicate steps."""

    def __init__(self, folders: list[Path], start_epoch: int) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.writers = [SummaryWriter(str(f / TB_FOLDER), purge_step=start_epoch + 1) for f in folders]

    def scalars(self, histories: list[list[dict[str, float]]]) -> None:
        """The last history row of each run (one per epoch), at step = epoch."""
        for writer, history in zip(self.writers, histories):
            row = history[-1]
            for key, value in row.items():
                if key != "epoch":
                    writer.add_scalar(key, value, int(row["epoch"]))

    def images(self, shots: list[dict[str, np.ndarray]], epoch: int, value_range: tuple[float, float]) -> None:
        for writer, per_run in zip(self.writers, shots):
            for name, images in per_run.items():
                writer.add_image(name, make_grid(images, value_range=value_range), epoch, dataformats="HWC")

    def close(self) -> None:
        for writer in self.writers:
            writer.close()
