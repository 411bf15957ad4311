"""genbench's offline feature extractor: a small CNN classifier trained on a dataset's
training split, deterministically, and cached.

Inception features need weights that cannot be downloaded here and a torchvision that
does not work with this CPU torch; a classifier trained on the data itself gives
features that separate its classes, which is what FD, KID and precision/recall need
(cf. the LeNet-based FID used for MNIST). Its penultimate layer gives the features, its
softmax the class probabilities for the Inception Score and class coverage. Numbers are
comparable only between runs scored by the same evaluator: its hash is stored beside
every metric it produced.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from genbench.errors import GenbenchError
from genbench.features import FeatureExtractor
from genbench.io import load_checkpoint, save_torch

VERSION = "evaluator-v1"  # change when the architecture or training recipe changes
EPOCHS, BATCH, LR, SEED = 4, 128, 2e-3, 0
FEATURE_BATCH = 1000


class EvaluatorNet(nn.Module):
    """Three conv blocks (32, 64, 128 channels, BatchNorm, ReLU, 2x2 max-pool after the
    first two), global average pool to 128 features, a linear classifier."""

    def __init__(self, channels: int, classes: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i, (c_in, c_out) in enumerate(zip((channels, 32, 64), (32, 64, 128))):
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]
            if i < 2:
                layers.append(nn.MaxPool2d(2, ceil_mode=True))
        self.trunk = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(128, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(x))


def cache_dir() -> Path:
    return Path(os.environ.get("GENBENCH_CACHE", Path.home() / ".cache" / "genbench")) / "evaluators"


def data_hash(images: np.ndarray, labels: np.ndarray) -> str:
    h = hashlib.sha256(VERSION.encode())
    h.update(str(images.shape).encode())
    h.update(np.ascontiguousarray(images).tobytes())
    h.update(np.ascontiguousarray(labels).tobytes())
    return h.hexdigest()[:16]


def _as_input(images: np.ndarray) -> torch.Tensor:
    return torch.tensor(images, dtype=torch.float32) / 255.0


class Evaluator(FeatureExtractor):
    """A trained evaluator: ``features`` and ``probs`` of uint8 (N, C, H, W) images."""

    def __init__(self, net: EvaluatorNet, digest: str, test_accuracy: float) -> None:
        self.net, self.hash, self.test_accuracy = net.eval(), digest, test_accuracy

    @torch.no_grad()
    def features_and_probs(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        feats, probs = [], []
        for start in range(0, len(images), FEATURE_BATCH):
            f = self.net.trunk(_as_input(images[start:start + FEATURE_BATCH]))
            feats.append(f.numpy())
            probs.append(F.softmax(self.net.head(f), dim=1).numpy())
        return np.concatenate(feats), np.concatenate(probs)

    def probs(self, images: np.ndarray) -> np.ndarray:
        return self.features_and_probs(images)[1]



def train_evaluator(train: np.ndarray, train_labels: np.ndarray, test: np.ndarray, test_labels: np.ndarray,
                    epochs: int = EPOCHS) -> tuple[EvaluatorNet, float]:
    """Train from a fixed seed in a fixed order (same data, same CPU: same weights);
    return the net and its test accuracy."""
    torch.manual_seed(SEED)
    classes = int(max(train_labels.max(), test_labels.max())) + 1
    net = EvaluatorNet(train.shape[1], classes)
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    gen = torch.Generator().manual_seed(SEED)
    steps = epochs * -(-len(train) // BATCH)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=LR, total_steps=steps)
    x_all, y_all = _as_input(train), torch.from_numpy(train_labels.astype(np.int64))
    net.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(train), generator=gen).split(BATCH):
            loss = F.cross_entropy(net(x_all[idx]), y_all[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    net.eval()
    evaluator = Evaluator(net, "", 0.0)
    accuracy = float((evaluator.probs(test).argmax(1) == test_labels).mean())
    return net, accuracy


def load_or_train_evaluator(dataset: str, train: np.ndarray, train_labels: np.ndarray | None, test: np.ndarray,
                            test_labels: np.ndarray | None, quiet: bool = False) -> Evaluator:
    """The dataset's evaluator from the cache, trained on first use (once per dataset)."""
    if train_labels is None or test_labels is None:
        raise GenbenchError(f"the evaluator is a classifier and {dataset} has no labels; "
                            f"score it with the inception features (--features inception)")
    digest = data_hash(train, train_labels)
    path = cache_dir() / f"{dataset}-{digest}.pt"
    saved = load_checkpoint(path)
    if saved is not None and saved.get("hash") == digest:
        net = EvaluatorNet(saved["channels"], saved["classes"])
        net.load_state_dict(saved["state"])
        return Evaluator(net, digest, saved["test_accuracy"])
    if not quiet:
        print(f"genbench: training the {dataset} evaluator (once; cached in {path.parent})")
    net, accuracy = train_evaluator(train, train_labels, test, test_labels)
    save_torch(path, {"hash": digest, "channels": train.shape[1], "classes": net.head.out_features,
                      "state": net.state_dict(), "test_accuracy": accuracy})
    return Evaluator(net, digest, accuracy)
