"""InceptionV3 features through torch-fidelity, when it is installed and usable.

Never a hard dependency: torch-fidelity needs torchvision, which does not work with the
CPU torch genbench pins, and its weights come from the network unless a local file is
given. Any failure becomes one line that says why and what to do.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from genbench.errors import GenbenchError
from genbench.features import FeatureExtractor

BATCH = 100


class Inception(FeatureExtractor):
    """2048-d pool features and class probabilities of torch-fidelity's InceptionV3."""

    def __init__(self, weights: Path | None = None) -> None:
        try:
            from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
        except Exception as exc:  # ImportError, or torchvision failing inside it
            raise GenbenchError(
                f"inception features need torch-fidelity ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
                "pip install torch-fidelity with a torch build that has torchvision, use the evaluator "
                "features (labelled datasets), or --set features=[] to skip feature metrics") from None
        try:
            self.net = FeatureExtractorInceptionV3(
                "inception-v3-compat", ["2048", "logits_unbiased"],
                feature_extractor_weights_path=str(weights) if weights else None).eval()
        except Exception as exc:  # no network and no weights file
            raise GenbenchError(f"cannot load InceptionV3 weights ({type(exc).__name__}); pass --inception-weights "
                                "with a local pt_inception-2015-12-05 file") from None
        self.hash = f"torch-fidelity:{Path(weights).name if weights else 'download'}"

    @torch.no_grad()
    def features_and_probs(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        feats, probs = [], []
        for start in range(0, len(images), BATCH):
            x = torch.from_numpy(np.ascontiguousarray(images[start:start + BATCH]))
            if x.shape[1] == 1:
                x = x.expand(-1, 3, -1, -1)
            pool, logits = self.net(x)
            feats.append(pool.numpy())
            probs.append(torch.softmax(logits, dim=1).numpy())
        return np.concatenate(feats), np.concatenate(probs)
