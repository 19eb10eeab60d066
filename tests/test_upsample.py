import numpy as np
import pytest
from PIL import Image

from recolor_hf.upsample import apply_affine_grid, fit_affine_grid, transfer_colour


def texture(h: int, w: int, seed: int = 0) -> np.ndarray:
    """(h, w, 3) uint8 multi-scale colour noise, values kept in ~[50, 205]."""
    rng = np.random.default_rng(seed)
    img = np.zeros((h, w, 3))
    for cells in (2, 8, 32, 128):
        small = rng.random((cells, cells, 3)).astype(np.float32)
        img += np.stack([np.asarray(Image.fromarray(small[..., c]).resize((w, h), Image.BICUBIC)) for c in range(3)], -1)
    img += rng.random((h, w, 3))  # pixel-level detail invisible at low res
    return (50 + 155 * (img - img.min()) / np.ptp(img)).round().astype(np.uint8)


def area_down(img: np.ndarray, f: int) -> np.ndarray:
    h, w = img.shape[0] // f, img.shape[1] // f
    return img[: h * f, : w * f].reshape(h, f, w, f, 3).mean(axis=(1, 3)).astype(np.float32)


def random_affine(rng: np.random.Generator) -> np.ndarray:
    m = np.eye(3, 4) + 0.15 * rng.standard_normal((3, 4))
    m[:, 3] = 0.05 * rng.standard_normal(3) + (1 - m[:, :3].sum(axis=1)) / 2  # keep mid-grey near mid-grey
    return m


def affine(img_u8: np.ndarray, m: np.ndarray) -> np.ndarray:
    return np.clip(img_u8 / 255 @ m[:, :3].T + m[:, 3], 0, 1)


def test_global_affine_is_reproduced():
    src = texture(384, 512)
    true = affine(src, random_affine(np.random.default_rng(1)))
    out = transfer_colour(src, area_down(src / 255, 4), area_down(true, 4))
    err = np.abs(out / 255 - true)
    assert err.mean() < 1 / 255
    unclipped = ((true > 0.02) & (true < 0.98)).all(axis=-1)
    assert unclipped.mean() > 0.9
    assert err[unclipped].max() < 1 / 255


@pytest.mark.parametrize("h, w, low", [(333, 517, (64, 41)), (7, 9, (9, 7)), (7, 9, (4, 3))])
def test_output_size_matches_content(h, w, low):
    src = texture(h, w, seed=2)
    src_low = np.asarray(Image.fromarray(src).resize(low, Image.BOX))
    out = transfer_colour(src, src_low, 255 - src_low)
    assert out.shape == (h, w, 3) and out.dtype == np.uint8
    # float and PIL inputs give the same result as uint8 arrays
    assert np.array_equal(out, transfer_colour(Image.fromarray(src), src_low, 255 - src_low))
    assert np.abs(transfer_colour(src / 255, src_low / 255, 1 - src_low / 255).astype(int) - out).max() <= 1


def test_local_change_beats_global_fit():
    src = texture(384, 512, seed=3)
    rng = np.random.default_rng(4)
    true = affine(src, random_affine(rng))
    true[:, 256:] = affine(src[:, 256:], random_affine(rng))
    src_low, res_low = area_down(src / 255, 4), area_down(true, 4)
    local = np.abs(transfer_colour(src, src_low, res_low) / 255 - true)
    global_ = np.abs(transfer_colour(src, src_low, res_low, grid_size=1) / 255 - true)
    assert local.mean() < 0.25 * global_.mean()
    away = np.r_[0:224, 288:512]  # columns more than 32 px (~2 grid cells) from the boundary
    assert local[:, away].mean() < 1 / 255


def test_bad_input_raises():
    src = texture(64, 96)
    low = area_down(src / 255, 4)
    with pytest.raises(ValueError, match="result_low shape"):
        fit_affine_grid(low, low[:-1])
    with pytest.raises(ValueError, match="content_low must be an \\(H, W, 3\\)"):
        fit_affine_grid(np.dstack([low, low[..., :1]]), low)
    with pytest.raises(ValueError, match="content_full must be an \\(H, W, 3\\)"):
        transfer_colour(src[..., 0], low, low)
    with pytest.raises(ValueError, match="dtype"):
        transfer_colour(src.astype(np.int64), low, low)
    with pytest.raises(ValueError, match="aspect ratio"):
        transfer_colour(src, low[:8], low[:8])
    with pytest.raises(ValueError, match="grid must have shape"):
        apply_affine_grid(src, np.zeros((4, 4, 3, 3), np.float32))
