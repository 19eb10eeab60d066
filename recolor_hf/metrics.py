"""Image-quality metrics for re-colorization results (the evaluation's MAE, PSNR, CIEDE2000, LPIPS, flicker).

Every function takes two RGB images of the same size, shape (H, W, 3), either uint8
(0–255) or float (0–1), and compares a prediction with its ground truth.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Callable

import numpy as np
from skimage.color import deltaE_ciede2000, rgb2lab

from .image_io import check_rgb_array, image_to_tensor, to_float

# torchvision backbone files that `lpips` would otherwise download, by `lpips` net name.
LPIPS_BACKBONE_FILES = {"alex": "alexnet-owt-7be5be79.pth", "vgg": "vgg16-397923af.pth"}


def _pair(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both images as float64 in [0, 1]; raise ValueError unless they have the same size."""
    pred, gt = (to_float(check_rgb_array(image, name), np.float64) for image, name in ((pred, "pred"), (gt, "gt")))
    if pred.shape != gt.shape:
        raise ValueError(f"pred and gt sizes differ: {pred.shape} vs {gt.shape}")
    return pred, gt


def mae(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean absolute error on the 0–255 scale."""
    pred, gt = _pair(pred, gt)
    return float(np.abs(pred - gt).mean() * 255.0)


def psnr(pred: np.ndarray, gt: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB for 8-bit images; inf for identical images."""
    pred, gt = _pair(pred, gt)
    mse = float(np.square((pred - gt) * 255.0).mean())
    return float("inf") if mse == 0 else float(10.0 * np.log10(255.0**2 / mse))


def ciede2000(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean CIEDE2000 colour difference (ΔE00) over all pixels."""
    pred, gt = _pair(pred, gt)
    return float(deltaE_ciede2000(rgb2lab(gt), rgb2lab(pred)).mean())


def flicker(outputs: list[np.ndarray], contents: list[np.ndarray],
            align: Callable[[int, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None) -> float:
    """Temporal flicker of a processed video: the mean ΔE00 between consecutive output frames minus that between
    consecutive content frames (0 = the output changes over time exactly as much as the content does).

    outputs, contents: the same number (>= 2) of (H, W, 3) frames, output and content of equal size.
    align: optional motion compensation, ``align(t, frame t-1, frame t) -> (frame t-1 resampled onto frame t's
    pixels, frame t)``, both cropped alike; applied the same way to outputs and contents.
    """
    if len(outputs) != len(contents) or len(outputs) < 2:
        raise ValueError(f"need >= 2 output and content frames, as many of each; got {len(outputs)}, {len(contents)}")

    def mean_change(frames: list[np.ndarray]) -> float:
        pairs = [(a, b) if align is None else align(t, a, b) for t, (a, b) in enumerate(zip(frames, frames[1:]), 1)]
        return float(np.mean([ciede2000(b, a) for a, b in pairs]))

    return mean_change(outputs) - mean_change(contents)


@functools.lru_cache(maxsize=1)
def real_lpips() -> tuple[str, Any] | None:
    """(name, model) of the first real LPIPS whose backbone weights are on disk, else None.

    Never downloads: a backbone is only built when its torchvision weights file is
    already in the torch hub cache.
    """
    try:
        import lpips
        import torch
    except Exception:  # lpips imports torchvision, which may be absent or broken beside this torch
        return None
    checkpoints = Path(torch.hub.get_dir()) / "checkpoints"
    for net, filename in LPIPS_BACKBONE_FILES.items():
        if (checkpoints / filename).is_file():
            return f"lpips-{net}", lpips.LPIPS(net=net, verbose=False).eval()
    return None


def lpips_name() -> str | None:
    """Name of the LPIPS variant `lpips_distance` uses (e.g. "lpips-alex"), or None."""
    model = real_lpips()
    return None if model is None else model[0]


def lpips_distance(pred: np.ndarray, gt: np.ndarray) -> float | None:
    """Real LPIPS distance, or None when `lpips` or its backbone weights are unavailable."""
    pred, gt = _pair(pred, gt)
    model = real_lpips()
    if model is None:
        return None
    import torch

    with torch.no_grad():  # LPIPS takes (1, 3, H, W) in [-1, 1]
        return float(model[1](*(image_to_tensor(image)[None] * 2 - 1 for image in (pred, gt))).item())


def evaluate_pair(pred: np.ndarray, gt: np.ndarray) -> dict[str, float | None]:
    """All metrics for one prediction: keys mae, psnr, ciede2000, lpips (None if unavailable)."""
    return {
        "mae": mae(pred, gt),
        "psnr": psnr(pred, gt),
        "ciede2000": ciede2000(pred, gt),
        "lpips": lpips_distance(pred, gt),
    }
