"""Classical baselines: shapes, dtypes, and moving colour statistics toward the reference."""

import numpy as np
import pytest
from PIL import Image
from skimage.color import rgb2lab

from recolor_hf.baselines import BASELINES, histogram_matching, identity, mkl, reinhard


def smooth_image(height: int, width: int, low: int, high: int, seed: int) -> np.ndarray:
    """A smooth random colour field with values in [low, high]."""
    rng = np.random.default_rng(seed)
    coarse = Image.fromarray(rng.integers(low, high, (3, 4, 3), dtype=np.uint8))
    return np.asarray(coarse.resize((width, height), Image.BILINEAR))


@pytest.fixture
def content() -> np.ndarray:
    return smooth_image(48, 64, 40, 200, seed=0)


@pytest.fixture
def reference() -> np.ndarray:
    rgb = smooth_image(30, 40, 60, 180, seed=1).astype(np.int16)
    return np.clip(rgb + [30, 0, -30], 0, 255).astype(np.uint8)  # warmer, different size


@pytest.mark.parametrize("name", list(BASELINES))
def test_shape_dtype_and_moves_mean(name, content, reference):
    result = BASELINES[name](content, reference)
    assert result.shape == content.shape and result.dtype == np.uint8
    if name != "identity":
        before = np.abs(content.mean(axis=(0, 1)) - reference.mean(axis=(0, 1))).sum()
        after = np.abs(result.mean(axis=(0, 1)) - reference.mean(axis=(0, 1))).sum()
        assert after < 0.25 * before


def test_identity(content, reference):
    assert np.array_equal(identity(content, reference), content)


def test_reinhard_matches_lab_mean_std(content, reference):
    lab, lab_ref = rgb2lab(reinhard(content, reference)), rgb2lab(reference)
    np.testing.assert_allclose(lab.mean(axis=(0, 1)), lab_ref.mean(axis=(0, 1)), atol=1.0)
    np.testing.assert_allclose(lab.std(axis=(0, 1)), lab_ref.std(axis=(0, 1)), atol=1.0)


def test_histogram_matching_matches_quantiles(content, reference):
    quantiles = np.linspace(1, 99, 50)
    result = histogram_matching(content, reference)
    for channel in range(3):
        gap = np.abs(np.percentile(result[..., channel], quantiles) - np.percentile(reference[..., channel], quantiles))
        assert gap.mean() < 1.5 and gap.max() < 8


def test_mkl_matches_mean_and_covariance(content, reference):
    result = mkl(content, reference).reshape(-1, 3).astype(np.float64)
    target = reference.reshape(-1, 3).astype(np.float64)
    np.testing.assert_allclose(result.mean(axis=0), target.mean(axis=0), atol=1.5)
    np.testing.assert_allclose(np.cov(result.T), np.cov(target.T), atol=0.05 * np.abs(np.cov(target.T)).max())
