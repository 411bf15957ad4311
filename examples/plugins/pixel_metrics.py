"""An example genbench plugin adding a feature extractor and a metric.

- ``pixel-pca`` features: the first 64 principal components of the training images'
  pixels (scikit-learn's PCA, fit once per dataset). No classifier, so no class
  probabilities: the Inception Score and class coverage are left out for it, while FD,
  KID, precision/recall and density/coverage get ``_pixel-pca`` keys beside the
  evaluator's.
- ``copy_frac``: the share of samples that lie closer to their nearest *training* image
  than 95% of unseen real images (the test split) do: about 0.05 for a model that
  generalises, near 1 for one that copies its training set (and for the oracle, which
  *is* training images).
"""
import numpy as np
from sklearn.decomposition import PCA
from sklearn.neighbors import NearestNeighbors

import genbench
from genbench.data import load_image_split

COMPONENTS = 64
COPY_N = 2000  # samples and test images compared, and training images searched


class PixelPCA(genbench.FeatureExtractor):
    def __init__(self, train_images: np.ndarray):
        pixels = train_images.reshape(len(train_images), -1).astype(np.float32) / 255
        self.pca = PCA(COMPONENTS, random_state=0).fit(pixels[:10_000])
        self.hash = f"pixel-pca-{COMPONENTS}-{len(train_images)}"

    def features_and_probs(self, images):
        return self.pca.transform(images.reshape(len(images), -1).astype(np.float32) / 255), None


def load_pixel_pca(request: genbench.FeatureRequest) -> PixelPCA:
    return PixelPCA(load_image_split(request.dataset, request.params, "train", request.data_dir).images)


def copy_fraction(samples: np.ndarray, ctx: genbench.EvalContext) -> float:
    """Share of samples nearer a training image than the 5th percentile of the test
    images' distances to theirs (Euclidean, pixels in [0, 1])."""
    def flat(images):
        return images[:COPY_N].reshape(min(len(images), COPY_N), -1).astype(np.float32) / 255

    index = NearestNeighbors(n_neighbors=1).fit(flat(ctx.train))
    threshold = np.percentile(index.kneighbors(flat(ctx.test))[0], 5)
    return float((index.kneighbors(flat(samples))[0] < threshold).mean())


genbench.register_features("pixel-pca", load_pixel_pca, description="PCA of the training pixels, 64 components")
genbench.register_metric("copy_frac", copy_fraction, kind="images", higher_is_better=False,
                         description="share of samples nearer a training image than 95% of test images are")
