"""Training losses beyond plain L1: the perceptual loss (real LPIPS when its weights are on disk, else
EfficientNet-Lite0 features) and an L1 distance in CIELAB (beyond the paper: weighs colour casts in near-neutral
regions as the evaluation's CIEDE2000 does, unlike RGB L1).

(The other losses of main eq. 6 are L1 and the w0 loss, ``RecolorPipeline.w0_distance``.)"""

import torch
import torch.nn.functional as F
from torch import nn

from .metrics import real_lpips
from .models.backbones import FeatureBackbone

# sRGB (D65) -> CIE XYZ, normalised by the D65 white so that white maps to (1, 1, 1)
RGB_TO_XYZ = torch.tensor([[0.412453, 0.357580, 0.180423],
                           [0.212671, 0.715160, 0.072169],
                           [0.019334, 0.119193, 0.950227]]) / torch.tensor([0.95047, 1.0, 1.08883])[:, None]
LAB_DELTA = 6 / 29  # CIELAB's f(t) is linear below t = LAB_DELTA ** 3


def rgb_to_lab(image: torch.Tensor) -> torch.Tensor:
    """Differentiable sRGB -> CIELAB (D65), as skimage.color.rgb2lab: (B, 3, H, W) in [0, 1] -> (B, 3, H, W)
    with L in [0, 100] and a, b roughly in [-128, 127]. Inputs are clamped to [0, 1]."""
    rgb = image.clamp(0, 1)
    linear = torch.where(rgb > 0.04045, ((rgb + 0.055) / 1.055).clamp_min(1e-8) ** 2.4, rgb / 12.92)
    xyz = torch.einsum("ij,bjhw->bihw", RGB_TO_XYZ.to(image), linear)
    f = torch.where(xyz > LAB_DELTA ** 3, xyz.clamp_min(1e-8) ** (1 / 3), xyz / (3 * LAB_DELTA ** 2) + 4 / 29)
    fx, fy, fz = f.unbind(1)
    return torch.stack([116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)], dim=1)


def lab_l1(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean |Lab(pred) - Lab(target)| over pixels and the L, a, b channels: (B, 3, H, W) x2 -> scalar."""
    return (rgb_to_lab(pred) - rgb_to_lab(target)).abs().mean()


class PerceptualLoss(nn.Module):
    """LPIPS(I_P, I_T) when available, else an LPIPS-like distance on frozen EfficientNet-Lite0 features.

    The fallback: unit-normalise each colour feature map (C1, C2, C3) over channels and average the squared
    differences, as LPIPS does before its learned linear heads. ``name`` says which one runs.
    Inputs (B, 3, H, W) in [0, 1] -> scalar.
    """

    def __init__(self, backbone: FeatureBackbone | None = None):
        super().__init__()
        lpips = real_lpips()
        if lpips is not None:
            self.name, self.net = lpips[0], lpips[1].requires_grad_(False)
        else:
            self.name, self.net = "efficientnet-lite0-features", backbone or FeatureBackbone()

    def train(self, mode: bool = True) -> "PerceptualLoss":
        """Always in eval mode: the loss network is frozen (no LPIPS dropout, fixed batch-norm statistics)."""
        return super().train(False)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.name.startswith("lpips"):
            return self.net(pred * 2 - 1, target * 2 - 1).mean()
        pred_feats, _ = self.net(pred)
        with torch.no_grad():
            target_feats, _ = self.net(target)
        dists = [(F.normalize(p, dim=1) - F.normalize(t, dim=1)).pow(2).sum(1).mean()
                 for p, t in zip(pred_feats, target_feats)]
        return torch.stack(dists).mean()
