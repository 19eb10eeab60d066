"""The two colour encoders of the paper.

- LatentEncoder E_w(I_in, I_out) -> w (B, D): the global colour transformation from I_in to I_out (main §3.2.2).
  Its self-reconstruction code w0(I) = E_w(I, I) describes an image's global style (main §3.3).
- LatentMapEncoder E_W(I_in, I_out) -> W0 (B, D, H/16, W/16): the spatial version (main §3.3); its
  self-reconstruction map W0(I) = E_W(I, I) describes local colour.
"""

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin

from .layers import DownEncoder, EqualConv2d, EqualLinear


class LatentEncoder(ModelMixin, ConfigMixin):
    """E_w: (I_in, I_out) each (B, 3, H, W) in [0, 1] -> w (B, style_dim).

    Args:
        channels: width at 1/1, 1/2, ... of the input (its length sets the depth).
        style_dim: D.
    """

    @register_to_config
    def __init__(self, channels: tuple[int, ...] = (64, 128, 256, 512, 512, 512), style_dim: int = 512):
        super().__init__()
        self.encoder = DownEncoder(6, tuple(channels))
        self.head = EqualLinear(channels[-1], style_dim)

    def forward(self, image_in: torch.Tensor, image_out: torch.Tensor) -> torch.Tensor:
        feats = self.encoder(torch.cat([image_in, image_out], dim=1) * 2 - 1)
        return self.head(feats[-1].mean(dim=(2, 3)))


class LatentMapEncoder(ModelMixin, ConfigMixin):
    """E_W: (I_in, I_out) each (B, 3, H, W) in [0, 1] -> W0 (B, style_dim, H/16, W/16).

    Args:
        channels: width at 1/1, 1/2, 1/4, 1/8, 1/16 of the input (five levels: the map is at 1/16).
        style_dim: D.
    """

    @register_to_config
    def __init__(self, channels: tuple[int, ...] = (64, 64, 128, 256, 512), style_dim: int = 512):
        super().__init__()
        self.encoder = DownEncoder(6, tuple(channels))
        self.head = EqualConv2d(channels[-1], style_dim, 1, activate=False)

    def forward(self, image_in: torch.Tensor, image_out: torch.Tensor) -> torch.Tensor:
        feats = self.encoder(torch.cat([image_in, image_out], dim=1) * 2 - 1)
        return self.head(feats[-1])
