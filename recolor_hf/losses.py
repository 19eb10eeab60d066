"""Training losses beyond plain L1: the perceptual loss (real LPIPS when its weights are on disk, else
EfficientNet-Lite0 features) and an L1 distance in CIELAB (beyond the paper: weighs colour casts in near-neutral
regions as the evaluation's CIEDE2000 does, unlike RGB L1).

(The other losses of main eq. 6 are L1 and the w0 loss, ``RecolorPipeline.w0_distance``.)"""

import torch
import torch.nn.functional as F
from torch import nn

from .metrics import real_lpips
from .models.backbones import FeatureBackbone
from .models.colour import rgb_to_lab

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
