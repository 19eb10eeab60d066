"""Metrics on known values and input checks."""

import math
import sys

import numpy as np
import pytest

from recolor_hf import metrics
from recolor_hf.metrics import ciede2000, evaluate_pair, lpips_distance, mae, psnr


@pytest.fixture
def image() -> np.ndarray:
    return np.random.default_rng(0).integers(20, 230, (24, 32, 3), dtype=np.uint8)


def test_identical_images(image):
    assert mae(image, image) == 0.0
    assert psnr(image, image) == math.inf
    assert ciede2000(image, image) == pytest.approx(0.0, abs=1e-9)


def test_constant_offset(image):
    shifted = image + np.uint8(10)
    assert mae(shifted, image) == pytest.approx(10.0)
    assert psnr(shifted, image) == pytest.approx(20 * math.log10(255 / 10))


def test_float_input_matches_uint8(image):
    shifted = image + np.uint8(5)
    assert mae(shifted / 255.0, image) == pytest.approx(mae(shifted, image))
    assert ciede2000(shifted / 255.0, image.astype(np.float32) / 255.0) == pytest.approx(ciede2000(shifted, image), rel=1e-4)


def test_ciede2000_black_white_is_100():
    black, white = np.zeros((4, 4, 3), np.uint8), np.full((4, 4, 3), 255, np.uint8)
    assert ciede2000(black, white) == pytest.approx(100.0, abs=0.01)


@pytest.mark.parametrize("fn", [mae, psnr, ciede2000, lpips_distance, evaluate_pair])
def test_bad_inputs_raise(fn, image):
    with pytest.raises(ValueError, match="sizes differ"):
        fn(image, image[:-1])
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        fn(image[..., 0], image[..., 0])
    with pytest.raises(ValueError, match="uint8 or float"):
        fn(image.astype(np.int32), image.astype(np.int32))


def test_evaluate_pair_keys(image):
    scores = evaluate_pair(image, image)
    assert set(scores) == {"mae", "psnr", "ciede2000", "lpips"}
    assert scores["lpips"] is None or scores["lpips"] == pytest.approx(0.0, abs=1e-6)


def test_lpips_none_without_package(image, monkeypatch):
    monkeypatch.setitem(sys.modules, "lpips", None)  # makes `import lpips` raise ImportError
    metrics.real_lpips.cache_clear()
    try:
        assert lpips_distance(image, image) is None
        assert metrics.lpips_name() is None
    finally:
        metrics.real_lpips.cache_clear()


def test_flicker_counts_only_change_beyond_the_content(image):
    frames = [np.roll(image, shift, axis=1) for shift in range(4)]  # a pan
    assert metrics.flicker(frames, frames) == 0
    flashing = [np.clip(f.astype(int) + (20 if t % 2 else 0), 0, 255).astype(np.uint8) for t, f in enumerate(frames)]
    still = [image] * 4
    assert metrics.flicker([flashing[t] for t in range(4)], still) > metrics.flicker(flashing, frames) + 5

    def undo_pan(t, previous, current):  # frame t-1 moved onto frame t: the content no longer changes at all
        return np.roll(previous, 1, axis=1)[:, 1:], current[:, 1:]

    aligned = metrics.flicker(flashing, frames, undo_pan)
    assert aligned == pytest.approx(np.mean([ciede2000(b[:, 1:], np.roll(a, 1, axis=1)[:, 1:])
                                             for a, b in zip(flashing, flashing[1:])]))
    with pytest.raises(ValueError, match="need >= 2"):
        metrics.flicker(frames[:1], frames[:1])
