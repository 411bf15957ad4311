"""Where a study keeps each run, and how a run's data is re-created from the config.

Shared by the study runner and the report, which rebuilds everything from the folder."""
from __future__ import annotations

from pathlib import Path

from genbench.config import StudyConfig
from genbench.data import Splits, make_splits

ORACLE = "oracle"


def run_folder(root: Path, dataset: str, model: str, seed: int) -> Path:
    return root / dataset / model / f"seed{seed}"


def checkpoint_path(root: Path, dataset: str, model: str, seeds: list[int]) -> Path:
    """Seeds trained together share one checkpoint, beside their run folders."""
    return root / dataset / model / f"checkpoint-seed{'-'.join(map(str, seeds))}.pt"


def load_splits(config: StudyConfig, dataset: str, data_dir: Path | None = None) -> Splits:
    d = config.data
    return make_splits(dataset, config.datasets[dataset], d.protocol, d.n_train, d.n_holdout, d.n_test, d.data_seed,
                       data_dir)
