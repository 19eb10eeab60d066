"""Losses beyond plain L1: the w0 loss of main eq. 2 (training, main eq. 6, and online stylization, supp. C.7), the
perceptual loss (real LPIPS when its weights are on disk, else EfficientNet-Lite0 features) and an L1 distance in
CIELAB (beyond the paper: weighs colour casts in near-neutral regions as the evaluation's CIEDE2000 does, unlike
RGB L1)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from .metrics import real_lpips
from .models.backbones import FeatureBackbone
from .models.colour import rgb_to_lab

if TYPE_CHECKING:
    from .pipeline import RecolorPipeline


def w0_loss(pipe: RecolorPipeline, image_a: torch.Tensor, image_b: torch.Tensor) -> torch.Tensor:
    """L_w0 = ||w0(I_a) - w0(I_b)||_1 / D per image (main eq. 2), w0 = ``pipe.self_code``:
    (B, 3, H, W) x2 -> (B,)."""
    return (pipe.self_code(image_a) - pipe.self_code(image_b)).abs().mean(dim=1)


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
