"""Image-quality metrics for re-colorization results (DESIGN §6).

Every function takes two RGB images of the same size, shape (H, W, 3), either uint8
(0–255) or float (0–1), and compares a prediction with its ground truth.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Callable

import numpy as np
from skimage.color import deltaE_ciede2000, rgb2lab

# torchvision backbone files that `lpips` would otherwise download, by `lpips` net name.
LPIPS_BACKBONE_FILES = {"alex": "alexnet-owt-7be5be79.pth", "vgg": "vgg16-397923af.pth"}


def _as_float(image: np.ndarray, name: str) -> np.ndarray:
    """Return `image` as float64 RGB in [0, 1], checking its shape and dtype."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"{name} must have shape (H, W, 3), got {image.shape}")
    if image.dtype == np.uint8:
        return image.astype(np.float64) / 255.0
    if np.issubdtype(image.dtype, np.floating):
        return image.astype(np.float64)
    raise ValueError(f"{name} must be uint8 or float, got {image.dtype}")


def _pair(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both images as float64 in [0, 1]; raise ValueError unless they have the same size."""
    pred, gt = _as_float(pred, "pred"), _as_float(gt, "gt")
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


def flicker(outputs: list[np.ndarray], sources: list[np.ndarray],
            align: Callable[[int, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None) -> float:
    """Temporal flicker of a processed video: the mean ΔE00 between consecutive output frames minus that between
    consecutive source frames (0 = the output changes over time exactly as much as the source does).

    outputs, sources: the same number (>= 2) of (H, W, 3) frames, output and source of equal size.
    align: optional motion compensation, ``align(t, frame t-1, frame t) -> (frame t-1 resampled onto frame t's
    pixels, frame t)``, both cropped alike; applied the same way to outputs and sources.
    """
    if len(outputs) != len(sources) or len(outputs) < 2:
        raise ValueError(f"need >= 2 output and source frames, as many of each; got {len(outputs)}, {len(sources)}")

    def mean_change(frames: list[np.ndarray]) -> float:
        pairs = [(a, b) if align is None else align(t, a, b) for t, (a, b) in enumerate(zip(frames, frames[1:]), 1)]
        return float(np.mean([ciede2000(b, a) for a, b in pairs]))

    return mean_change(outputs) - mean_change(sources)


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

    def to_tensor(image: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(image).float().permute(2, 0, 1)[None] * 2.0 - 1.0

    with torch.no_grad():
        return float(model[1](to_tensor(pred), to_tensor(gt)).item())


def evaluate_pair(pred: np.ndarray, gt: np.ndarray) -> dict[str, float | None]:
    """All metrics for one prediction: keys mae, psnr, ciede2000, lpips (None if unavailable)."""
    return {
        "mae": mae(pred, gt),
        "psnr": psnr(pred, gt),
        "ciede2000": ciede2000(pred, gt),
        "lpips": lpips_distance(pred, gt),
    }
