"""genbench: train, evaluate and compare deep generative models side by side.

The public API (see README, "Python API" and "Extending genbench")::

    import genbench
    result = genbench.run_study("toy2d", out="runs/toy2d", seeds=3)
    model = genbench.load_run("runs/toy2d/pinwheel/mlp-vae/seed0")
    genbench.register_model("my-gan", MyGAN, example_shape=(1, 28, 28))
"""
__version__ = "0.2.0"

from genbench.api import (
    RunResult,
    StudyResult,
    evaluate,
    load_run,
    load_study,
    make_runtime,
    run_study,
    sample,
)
from genbench.data import ImageDataset, PointDataset
from genbench.data.image_data import ImageData
from genbench.errors import GenbenchError
from genbench.extend import register_dataset, register_features, register_metric, register_model, register_trainer
from genbench.features import FeatureExtractor, FeatureRequest
from genbench.metrics import EvalContext
from genbench.models.base import GAN, VAE, GenerativeModel
from genbench.scoring import SamplesScore
from genbench.train.loop import Trainer

# genbench.train and genbench.report are packages made callable (genbench.callable_package):
# genbench.train(...) is genbench.api.train, and genbench.train.adam still the module.
from genbench import report, train  # noqa: E402  (rebinds the names to the packages themselves)
from genbench.callable_package import describe_call  # noqa: E402

describe_call(train)
describe_call(report)

__all__ = [
    "GAN", "VAE", "EvalContext", "FeatureExtractor", "FeatureRequest", "GenbenchError", "GenerativeModel",
    "ImageData", "ImageDataset", "PointDataset", "RunResult", "SamplesScore", "StudyResult", "Trainer",
    "evaluate", "load_run", "load_study", "make_runtime", "register_dataset", "register_features",
    "register_metric", "register_model", "register_trainer", "report", "run_study", "sample", "train",
]
