"""Training losses: L1, a perceptual loss (real LPIPS when its weights are on disk) and the w0 loss (main eq. 2)."""

import torch
import torch.nn.functional as F
from torch import nn

from .models.backbones import FeatureBackbone

LPIPS_BACKBONE_FILE = "alexnet-owt-7be5be79.pth"  # torchvision's AlexNet, which lpips loads from the hub cache


def real_lpips_available() -> bool:
    """True when the lpips package imports and its AlexNet backbone weights are already cached (no download)."""
    from .models.backbones import vgg16_weights_path

    try:
        import lpips  # noqa: F401
    except Exception:  # lpips needs a working torchvision; any import failure means "not available"
        return False
    return (vgg16_weights_path().parent / LPIPS_BACKBONE_FILE).is_file()


class PerceptualLoss(nn.Module):
    """LPIPS(I_P, I_T) when available, else an LPIPS-like distance on frozen EfficientNet-Lite0 features.

    The fallback: unit-normalise each colour feature map (C1, C2, C3) over channels and average the squared
    differences, as LPIPS does before its learned linear heads. ``name`` says which one runs.
    Inputs (B, 3, H, W) in [0, 1] -> scalar.
    """

    def __init__(self, backbone: FeatureBackbone | None = None):
        super().__init__()
        if real_lpips_available():
            import lpips

            self.name, self.net = "lpips-alex", lpips.LPIPS(net="alex", verbose=False).requires_grad_(False)
        else:
            self.name, self.net = "efficientnet-lite0-features", backbone or FeatureBackbone()

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.name.startswith("lpips"):
            return self.net(pred * 2 - 1, target * 2 - 1).mean()
        pred_feats, _ = self.net(pred)
        with torch.no_grad():
            target_feats, _ = self.net(target)
        dists = [(F.normalize(p, dim=1) - F.normalize(t, dim=1)).pow(2).sum(1).mean()
                 for p, t in zip(pred_feats, target_feats)]
        return torch.stack(dists).mean()
