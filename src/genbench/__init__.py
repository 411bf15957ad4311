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

# genbench.train and genbench.report are both subpackages and API functions: the packages
# are made callable, so genbench.train(...) is genbench.api.train and genbench.train.adam a module.
from genbench import api, report, train  # noqa: E402  (binds the names to the packages themselves)
from genbench.callable_package import make_callable  # noqa: E402

make_callable(train, api.train)
make_callable(report, api.report)

__all__ = [
    "GAN", "VAE", "EvalContext", "FeatureExtractor", "FeatureRequest", "GenbenchError", "GenerativeModel",
    "ImageData", "ImageDataset", "PointDataset", "RunResult", "SamplesScore", "StudyResult", "Trainer",
    "evaluate", "load_run", "load_study", "make_runtime", "register_dataset", "register_features",
    "register_metric", "register_model", "register_trainer", "report", "run_study", "sample", "train",
]
