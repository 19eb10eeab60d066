"""Absolute colour (beyond the paper): CIELAB conversions and per-patch Lab statistics.

With a residual generator and self-reconstruction pairs, W0R = E_W(I_R, I_R) stops describing the reference's
colours, so the reference's colour also travels as plain numbers: the per-patch CIELAB mean and standard deviation
(6 values per patch of the correspondence grid), which the correspondence gathers and ``transfer`` moves the content
toward. All statistics are (B, 6, h, w): channels L, a, b means then L, a, b standard deviations, in Lab units.
"""

import torch
import torch.nn.functional as F

# sRGB (D65) -> CIE XYZ, normalised by the D65 white so that white maps to (1, 1, 1)
RGB_TO_XYZ = torch.tensor([[0.412453, 0.357580, 0.180423],
                           [0.212671, 0.715160, 0.072169],
                           [0.019334, 0.119193, 0.950227]]) / torch.tensor([0.95047, 1.0, 1.08883])[:, None]
LAB_DELTA = 6 / 29  # CIELAB's f(t) is linear below t = LAB_DELTA ** 3
STATS_CHANNELS = 6
# Fixed affine normalisation of statistics fed to networks: (stats - STATS_OFFSET) / STATS_SCALE is O(1).
STATS_OFFSET = (50.0, 0.0, 0.0, 10.0, 5.0, 5.0)
STATS_SCALE = (25.0, 20.0, 20.0, 10.0, 5.0, 5.0)


def rgb_to_lab(image: torch.Tensor) -> torch.Tensor:
    """Differentiable sRGB -> CIELAB (D65), as skimage.color.rgb2lab: (B, 3, H, W) in [0, 1] -> (B, 3, H, W)
    with L in [0, 100] and a, b roughly in [-128, 127]. Inputs are clamped to [0, 1]."""
    rgb = image.clamp(0, 1)
    linear = torch.where(rgb > 0.04045, ((rgb + 0.055) / 1.055).clamp_min(1e-8) ** 2.4, rgb / 12.92)
    xyz = torch.einsum("ij,bjhw->bihw", RGB_TO_XYZ.to(image), linear)
    f = torch.where(xyz > LAB_DELTA ** 3, xyz.clamp_min(1e-8) ** (1 / 3), xyz / (3 * LAB_DELTA ** 2) + 4 / 29)
    fx, fy, fz = f.unbind(1)
    return torch.stack([116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)], dim=1)


def lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    """CIELAB (D65) -> sRGB, the inverse of ``rgb_to_lab``: (B, 3, H, W) -> (B, 3, H, W) clamped to [0, 1]."""
    fy = (lab[:, 0] + 16) / 116
    f = torch.stack([fy + lab[:, 1] / 500, fy, fy - lab[:, 2] / 200], dim=1)
    xyz = torch.where(f > LAB_DELTA, f ** 3, 3 * LAB_DELTA ** 2 * (f - 4 / 29))
    linear = torch.einsum("ij,bjhw->bihw", torch.linalg.inv(RGB_TO_XYZ).to(lab), xyz).clamp(0, 1)
    rgb = torch.where(linear > 0.0031308, 1.055 * linear.clamp_min(1e-8) ** (1 / 2.4) - 0.055, 12.92 * linear)
    return rgb.clamp(0, 1)


def patch_statistics(lab: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """Per-patch Lab mean and std: (B, 3, H, W) -> (B, 6, h, w) on a (h, w) grid of equal patches."""
    mean = F.adaptive_avg_pool2d(lab, grid)
    var = F.adaptive_avg_pool2d(lab * lab, grid) - mean * mean
    return torch.cat([mean, var.clamp_min(0).sqrt()], dim=1)


def normalize_statistics(stats: torch.Tensor) -> torch.Tensor:
    """(B, 6, h, w) Lab statistics -> O(1) network inputs (fixed STATS_OFFSET / STATS_SCALE)."""
    offset = stats.new_tensor(STATS_OFFSET).view(1, -1, 1, 1)
    return (stats - offset) / stats.new_tensor(STATS_SCALE).view(1, -1, 1, 1)
