"""Metric registry: each entry scores a run's samples (and, for reconstructions, its
model) against the run's data, and names the numbers it writes.

The functions in the sibling modules are pure (arrays in, numbers out) and tested
against independent references; the entries here only say which arrays they get.
Image metrics work on features from an extractor (``genbench.features``); their keys
carry its name (``fd_evaluator``, ``fd_inception``), since numbers from different
extractors are not comparable.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable

import numpy as np
import torch
from tqdm import tqdm

from genbench.models.base import is_autoencoder
from genbench.metrics.collapse import class_coverage, similar_pairs
from genbench.metrics.frechet import frechet_features
from genbench.metrics.inception_score import inception_score
from genbench.metrics.kde import kde_log_likelihood
from genbench.metrics.kid import kid
from genbench.metrics.likelihood import exact_test_log_likelihood, iwae_test_log_likelihood
from genbench.metrics.mmd import mmd2_unbiased
from genbench.metrics.modes import mode_coverage
from genbench.metrics.prdc import density_coverage, precision_recall
from genbench.metrics.ssim import ssim
from genbench.registry import Registry

COLLAPSE_N = 1000  # images compared pairwise by the collapse check (study 003)


@dataclass
class EvalContext:
    """What a metric may look at besides the samples. Feature extractors are loaded, and
    real-image features computed, once per context and shared by every run scored."""

    train: np.ndarray
    test: np.ndarray
    # (centres, std) for mixture datasets, else None.
    modes: tuple[np.ndarray, float] | None
    kind: str = "points"  # the dataset's kind: "points" or "images"
    test_labels: np.ndarray | None = None
    extractors: dict[str, Callable[[], Any]] = field(default_factory=dict)  # name -> loader
    model: torch.nn.Module | None = None  # the run's model (reconstruction and likelihood metrics)
    cache: dict[Any, Any] = field(default_factory=dict)
    # True when the samples are real data (the oracle): metrics of a model's likelihood then
    # report the data's true one where a closed form exists.
    real_data: bool = False

    def extractor(self, name: str) -> Any:
        if ("extractor", name) not in self.cache:
            self.cache["extractor", name] = self.extractors[name]()
        return self.cache["extractor", name]

    def _per_array(self, key: tuple, array: np.ndarray, compute: Callable[[], Any]) -> Any:
        """``compute()`` once per array: cached under ``(*key, id(array))`` with the array
        held beside it, so its id cannot be reused until :meth:`forget_samples`."""
        key = (*key, id(array))
        if key not in self.cache:
            self.cache[key] = compute()
            self.cache["arrays", key] = array
        return self.cache[key]

    def features(self, name: str, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(features, class probabilities) of ``images``, computed once: the test split's
        for the context's life, others until :meth:`forget_samples`."""
        return self._per_array(("features", name), images, lambda: self.extractor(name).features_and_probs(images))

    def mode_stats(self, samples: np.ndarray) -> tuple[int, float]:
        """(modes covered, high-quality share) of ``samples``, computed once for the two
        metrics that report them."""
        return self._per_array(("modes",), samples, lambda: mode_coverage(samples, *self.modes))

    def forget_samples(self) -> None:
        """Drop what :meth:`_per_array` cached for anything but the test split."""
        for key in [k for k in self.cache if k[0] == "arrays" and k[1][-1] != id(self.test)]:
            del self.cache[key], self.cache[key[1]]

    def for_run(self, model: torch.nn.Module | None) -> EvalContext:
        """The same context (and shared cache) for scoring one run's model."""
        return replace(self, model=model)

    def for_real_data(self) -> EvalContext:
        """The same context (and shared cache) for scoring real data (the oracle)."""
        return replace(self, real_data=True)


@dataclass(frozen=True)
class MetricSpec:
    """``fn(samples, ctx)`` returns a number, None (does not apply), or for image metrics
    a dict of keys to numbers. ``keys`` documents those keys: template -> (description,
    higher is better); ``{f}`` stands for the extractor's name."""

    fn: Callable[[np.ndarray, EvalContext], Any]
    description: str
    higher_is_better: bool
    kind: str = "points"  # the kind of dataset the metric scores
    keys: dict[str, tuple[str, bool]] = field(default_factory=dict)

    @property
    def uses_features(self) -> bool:
        """Whether it scores feature-extractor features (its keys name the extractor)."""
        return any("{f}" in key for key in self.keys)


def _per_extractor(compute: Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray, EvalContext], dict]):
    """Run ``compute(real_feats, real_probs, fake_feats, fake_probs, ctx)`` once per
    extractor, suffixing its keys with the extractor's name."""
    def fn(samples: np.ndarray, ctx: EvalContext) -> dict[str, float]:
        out = {}
        for name in ctx.extractors:
            real, fake = ctx.features(name, ctx.test), ctx.features(name, samples)
            out.update({f"{k}_{name}": v for k, v in compute(*real, *fake, ctx).items()})
        return out
    return fn


def _fd(rf, rp, ff, fp, ctx):
    return {"fd": frechet_features(rf, ff)}


def _kid(rf, rp, ff, fp, ctx):
    mean, std = kid(rf, ff)
    return {"kid": mean, "kid_std": std}


def _is(rf, rp, ff, fp, ctx):
    if fp is None:  # an extractor without class probabilities
        return {}
    mean, std = inception_score(fp)
    return {"is": mean, "is_std": std}


def _pr(rf, rp, ff, fp, ctx):
    p, r = precision_recall(rf, ff)
    return {"precision": p, "recall": r}


def _dc(rf, rp, ff, fp, ctx):
    d, c = density_coverage(rf, ff)
    return {"density": d, "coverage": c}


def _classes(rf, rp, ff, fp, ctx):
    """Classes covered, KL to the real label distribution, and the share of samples
    predicted as each class (the report's class histogram). Only for a classifier of the
    dataset's own labels: ImageNet classes say nothing about Fashion-MNIST's."""
    if fp is None or ctx.test_labels is None or rp.shape[1] != int(ctx.test_labels.max()) + 1:
        return {}
    classes = rp.shape[1]
    predicted = fp.argmax(1)
    covered, kl = class_coverage(predicted, ctx.test_labels, classes)
    shares = np.bincount(predicted, minlength=classes) / len(predicted)
    return {"classes_covered": covered, "class_kl": kl, **{f"class_share{c}": float(v) for c, v in enumerate(shares)}}


def _collapse(samples: np.ndarray, ctx: EvalContext) -> dict[str, float]:
    count, share = similar_pairs(samples[:COLLAPSE_N])
    return {"similar_pairs": count, "similar_pairs_frac": share}


@torch.no_grad()
def _reconstruction(samples: np.ndarray, ctx: EvalContext) -> dict[str, float] | None:
    """VAE reconstructions of the test split: MSE and SSIM with pixels in [0, 1], overall
    and per class."""
    model = ctx.model
    if model is None or not is_autoencoder(model):
        return None
    lo, hi = model.value_range
    recon = []
    for start in range(0, len(ctx.test), 500):
        x = torch.tensor(ctx.test[start:start + 500], dtype=torch.float32) / 255 * (hi - lo) + lo
        recon.append(((model.reconstruct(x).float() - lo) / (hi - lo)).clamp(0, 1).numpy())
    fake, real = np.concatenate(recon), ctx.test.astype(np.float32) / 255
    mse = ((fake - real) ** 2).reshape(len(real), -1).mean(axis=1)
    sim = ssim(real, fake)
    out = {"recon_mse": float(mse.mean()), "recon_ssim": float(sim.mean())}
    if ctx.test_labels is not None:
        for c in np.unique(ctx.test_labels):
            out[f"recon_mse_class{c}"] = float(mse[ctx.test_labels == c].mean())
    return out


METRICS: Registry[MetricSpec] = Registry("metric")
METRICS.register("kde_ll_study", MetricSpec(
    lambda g, c: kde_log_likelihood(g, c.train),
    "study 000's number: KDE fit on samples, mean log-density of the training points", True))
METRICS.register("kde_ll_test", MetricSpec(
    lambda g, c: kde_log_likelihood(g, c.test),
    "KDE fit on samples, mean log-density of held-out test points", True))
METRICS.register("kde_ll_reverse", MetricSpec(
    lambda g, c: kde_log_likelihood(c.train, g),
    "KDE fit on training points, mean log-density of samples (fidelity)", True))
METRICS.register("mmd2", MetricSpec(
    lambda g, c: mmd2_unbiased(g, c.test),
    "unbiased squared MMD, RBF kernel with median bandwidth, samples vs test", False))
METRICS.register("modes_covered", MetricSpec(
    lambda g, c: None if c.modes is None else c.mode_stats(g)[0],
    "mixture modes with >= 20 samples within 3 std (mixtures only)", True))
METRICS.register("high_quality_frac", MetricSpec(
    lambda g, c: None if c.modes is None else c.mode_stats(g)[1],
    "share of samples within 3 std of a mode (mixtures only)", True))
METRICS.register("ll_exact_test", MetricSpec(
    lambda g, c: exact_test_log_likelihood(c.model, c.test, c.real_data, c.modes),
    "exact mean log-likelihood of the test points, in nats: flows integrate their velocity's exact divergence "
    "along the ODE (2D); the oracle row is the data's true density where it has a closed form (Gaussian "
    "mixtures); VAEs only bound their likelihood and GANs have none, so for them only the KDE numbers apply",
    True))
METRICS.register("ll_iwae_test", MetricSpec(
    lambda g, c: iwae_test_log_likelihood(c.model, c.test, c.real_data, c.modes),
    "importance-weighted lower bound (Burda et al. 2016, K = 1000 posterior samples) on the mean log-likelihood "
    "of the test points, in nats: VAEs, with the Gaussian decoder variance their loss implies; the oracle row is "
    "the data's true density where it has a closed form; flows have an exact likelihood (ll_exact_test) and GANs "
    "none, so for GANs only the KDE numbers apply", True))
METRICS.register("fd", MetricSpec(_per_extractor(_fd), "Frechet distance of features, samples vs test (FID with "
                                  "inception features)", False, "images",
                                  {"fd_{f}": ("Frechet distance, samples vs test", False)}))
METRICS.register("kid", MetricSpec(_per_extractor(_kid), "KID: unbiased cubic-kernel MMD^2 over 100 subsets of "
                                   "1000, mean and std", False, "images",
                                   {"kid_{f}": ("KID (mean over subsets), samples vs test", False)}))
METRICS.register("is", MetricSpec(_per_extractor(_is), "Inception Score from class probabilities, 10 splits",
                                  True, "images", {"is_{f}": ("Inception Score (10 splits)", True)}))
METRICS.register("pr", MetricSpec(_per_extractor(_pr), "improved precision (fidelity) and recall (diversity), k=3",
                                  True, "images", {"precision_{f}": ("precision, k=3: fidelity", True),
                                                   "recall_{f}": ("recall, k=3: diversity", True)}))
METRICS.register("dc", MetricSpec(_per_extractor(_dc), "density (fidelity) and coverage (diversity), k=5",
                                  True, "images", {"density_{f}": ("density, k=5: fidelity", True),
                                                   "coverage_{f}": ("coverage, k=5: diversity", True)}))
METRICS.register("class_coverage", MetricSpec(_per_extractor(_classes), "classes the evaluator sees in the "
                                              "samples (>= 20% of their real share) and KL(real || generated)",
                                              True, "images",
                                              {"classes_covered_{f}": ("classes covered", True),
                                               "class_kl_{f}": ("KL(real || generated) of predicted classes", False)}))
METRICS.register("collapse", MetricSpec(_collapse, "study 003: share of sample pairs (first 1000) with pixel "
                                        "cosine similarity > 0.9", False, "images",
                                        {"similar_pairs_frac": ("share of pairs with cosine similarity > 0.9", False)}))
METRICS.register("recon", MetricSpec(_reconstruction, "VAE reconstruction of the test split: MSE and SSIM in [0, 1] "
                                     "pixels, MSE per class", False, "images",
                                     {"recon_mse": ("reconstruction MSE on the test split", False),
                                      "recon_ssim": ("reconstruction SSIM on the test split", True)}))


def result_keys(name: str, extractors: list[str]) -> dict[str, tuple[str, bool]]:
    """The keys metric ``name`` writes for these extractors: key -> (description, higher is better)."""
    spec = METRICS.get(name)
    if not spec.keys:
        return {name: (spec.description, spec.higher_is_better)}
    return {t.format(f=f): info for t, info in spec.keys.items() for f in (extractors if "{f}" in t else [None])}


def evaluate(names: list[str], samples: np.ndarray, context: EvalContext, desc: str | None = None) -> dict[str, float]:
    """Score ``samples`` by each named metric; metrics that do not apply are left out.
    With ``desc``, a progress bar (one step per metric, with ETA) under that label."""
    out = {}
    bar = tqdm(names, desc=desc, unit="metric", leave=False, dynamic_ncols=True, disable=desc is None)
    for name in bar:
        bar.set_postfix_str(name)
        spec = METRICS.get(name)
        value = spec.fn(samples, context) if spec.kind == context.kind else None
        if isinstance(value, dict):
            out.update({k: float(v) for k, v in value.items()})
        elif value is not None:
            out[name] = float(value)
    context.forget_samples()
    return out
