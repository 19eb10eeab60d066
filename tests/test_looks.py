"""Photographic looks: identities, determinism, ranges, locality and transferability of local looks."""
import colorsys

import numpy as np
import pytest

from recolor_hf.looks import (LOOK_KINDS, LocalLook, Look, colour_jitter, hsv_to_rgb, random_look, rgb_to_hsv,
                              segment_local_augment)

SKY = (0.45, 0.65, 0.92)
GRASS = (0.30, 0.55, 0.18)


def photo(h: int = 64, w: int = 96, seed: int = 0) -> np.ndarray:
    """Smooth random colour field with some noise: (h, w, 3) float32 in [0, 1]."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    chans = [0.5 + 0.4 * np.sin(xx * rng.uniform(2, 8) + rng.uniform(0, 6)) * np.cos(yy * rng.uniform(2, 8))
             for _ in range(3)]
    return (np.stack(chans, -1) + rng.normal(0, 0.02, (h, w, 3))).clip(0, 1).astype(np.float32)


def sky_and_grass(h: int = 32, w: int = 48) -> np.ndarray:
    """Top half sky blue, bottom half grass green, plus slight noise."""
    img = np.empty((h, w, 3), np.float32)
    img[: h // 2], img[h // 2:] = SKY, GRASS
    return (img + np.random.default_rng(0).normal(0, 0.01, img.shape)).clip(0, 1).astype(np.float32)


def test_hsv_round_trip_matches_colorsys():
    img = photo()
    img[0, :4] = [[0.5, 0.5, 0.5], [0, 0, 0], [1, 0, 0], [0.2, 0.2, 0.9]]
    hsv = rgb_to_hsv(img)
    ref = np.array([colorsys.rgb_to_hsv(*p) for p in img.reshape(-1, 3)]).reshape(img.shape)
    assert np.abs(hsv - ref).max() < 1e-5
    assert np.abs(hsv_to_rgb(hsv) - img).max() < 1e-5


def test_colour_jitter_identity_and_ranges():
    img = photo()
    same = colour_jitter(img, np.random.default_rng(0), (1, 1), (1, 1), (1, 1), (0, 0))
    assert np.array_equal(same, img)
    assert np.array_equal(colour_jitter(img, np.random.default_rng(0), 0, 0, 0, 0), img)  # torchvision number form
    out = colour_jitter(img, np.random.default_rng(1))
    assert out.shape == img.shape and out.dtype == np.float32 and 0 <= out.min() and out.max() <= 1
    assert np.abs(out - img).mean() > 0.01
    assert np.array_equal(out, colour_jitter(img, np.random.default_rng(1)))


def test_colour_jitter_single_ops_match_torchvision_semantics():
    img = photo()
    bright = colour_jitter(img, np.random.default_rng(0), (1.5, 1.5), (1, 1), (1, 1), (0, 0))
    assert np.allclose(bright, np.clip(img * 1.5, 0, 1), atol=1e-6)
    gray = colour_jitter(img, np.random.default_rng(0), (1, 1), (1, 1), (0, 0), (0, 0))
    assert np.abs(gray - gray[..., :1]).max() < 1e-6  # saturation 0 -> grayscale
    hue = colour_jitter(img, np.random.default_rng(0), (1, 1), (1, 1), (1, 1), (0.5, 0.5))
    expected = rgb_to_hsv(img)
    expected[..., 0] = (expected[..., 0] + 0.5) % 1
    assert np.allclose(hue, hsv_to_rgb(expected), atol=1e-5)


def test_neutral_look_is_identity():
    img = photo(50, 70)
    assert np.abs(Look().apply(img) - img).max() < 1e-5
    assert np.abs(Look.random(np.random.default_rng(3), strength=0).apply(img) - img).max() < 1e-5


def test_random_look_deterministic_and_plausible():
    img = photo()
    a, b = Look.random(np.random.default_rng(5)), Look.random(np.random.default_rng(5))
    assert a == b and a != Look.random(np.random.default_rng(6))
    changes = []
    for seed in range(20):
        out = Look.random(np.random.default_rng(seed)).apply(img)
        assert out.shape == img.shape and out.dtype == np.float32 and 0 <= out.min() and out.max() <= 1
        changes.append(np.abs(out - img).mean())
    assert 0.005 < np.median(changes) < 0.15  # visible but not absurd


def test_look_components():
    img = photo()
    warm = Look(temperature=0.3).apply(img)
    assert warm[..., 0].mean() > img[..., 0].mean() and warm[..., 2].mean() < img[..., 2].mean()
    desat = Look(saturation=-1.0).apply(img)
    assert np.abs(desat - desat[..., :1]).max() < 1e-5
    brighter = Look(tone=(0, 0.1, 0.15, 0.1, 0)).apply(img)
    assert brighter.mean() > img.mean() + 0.05
    green_band = np.eye(8)[3] * 0.5  # HSL mixer: only the green band
    mixed = Look(sat_shift=tuple(-green_band)).apply(sky_and_grass())
    sky_grass = sky_and_grass()
    assert np.abs(mixed[:16] - sky_grass[:16]).mean() < 0.01 < np.abs(mixed[16:] - sky_grass[16:]).mean()


def test_local_look_edits_sky_and_grass_differently():
    img = sky_and_grass()
    local = LocalLook(("foliage", "sky"), (Look(saturation=-0.9), Look(temperature=0.2), Look()))
    masks = local.masks(img)
    assert masks.shape == (3, *img.shape[:2]) and np.allclose(masks.sum(0), 1, atol=1e-5)
    assert masks[1, :16].mean() > 0.9 and masks[0, 16:].mean() > 0.9
    out = local.apply(img)
    sky = (out - img)[:16].mean((0, 1))
    assert sky[0] > 0.03 and sky[2] < -0.03  # warmer sky
    chroma = lambda x: (x.max(-1) - x.min(-1)).mean()
    assert chroma(out[16:]) < 0.3 * chroma(img[16:])  # desaturated grass ...
    assert np.abs((out - img)[16:].mean((0, 1)) @ [0.299, 0.587, 0.114]) < 0.01  # ... at the same brightness


def test_local_look_transfers_between_photos():
    """P(A) and P(B) edit the same colours the same way, whatever else is in the photo."""
    a, b = sky_and_grass(), photo(40, 40, seed=3)
    b[:8, :8] = a[:8, :8]  # B contains a patch of A's sky
    for seed in range(5):
        look = random_look(np.random.default_rng(seed), "local")
        assert np.abs(look(a)[:8, :8] - look(b)[:8, :8]).max() < 1e-5


def test_segment_local_augment():
    img = np.concatenate([photo(48, 32, seed=1) * 0.3, photo(48, 32, seed=2) * 0.3 + 0.7], 1).astype(np.float32)
    out = segment_local_augment(img, np.random.default_rng(0), n_regions=(2, 2))
    assert out.shape == img.shape and out.dtype == np.float32 and 0 <= out.min() and out.max() <= 1
    assert np.array_equal(out, segment_local_augment(img, np.random.default_rng(0), n_regions=(2, 2)))
    delta = out - img
    assert np.abs(delta[:, :24].mean((0, 1)) - delta[:, 40:].mean((0, 1))).max() > 0.01  # regions differ


@pytest.mark.parametrize("kind", LOOK_KINDS)
def test_random_look_kinds(kind):
    img = photo()
    look = random_look(np.random.default_rng(0), kind)
    out = look(img)
    assert out.shape == img.shape and out.dtype == np.float32 and 0 <= out.min() and out.max() <= 1
    assert np.array_equal(out, look(img))  # replayable
    assert np.array_equal(out, random_look(np.random.default_rng(0), kind)(img))
    if kind == "none":
        assert np.array_equal(out, img)
    else:
        assert not np.array_equal(out, random_look(np.random.default_rng(1), kind)(img))


def test_strong_looks_are_strong_and_transferable():
    """Strong looks move colours several times more than the default global looks, and stay per-pixel functions."""
    img = photo()
    def shift(kind: str) -> float:
        return float(np.mean([np.abs(random_look(np.random.default_rng(s), kind)(img) - img).mean()
                              for s in range(12)]))
    assert shift("strong") > 2 * shift("global")
    look = random_look(np.random.default_rng(3), "strong")
    left, whole = img[:, :40], look(img)
    np.testing.assert_allclose(look(left), whole[:, :40], atol=1e-6)  # the same edit on any crop


def test_unknown_kind():
    with pytest.raises(ValueError):
        random_look(np.random.default_rng(0), "sepia")
