"""RecolorGenerator G' — a SpaceEdit-style conditional StyleGAN2 generator (main §3.2).

An encoder turns the input image into features at every resolution down to ``min_resolution``; a decoder of
modulated layers (one StyledConv at the bottom, then per resolution an upsampling StyledConv, a StyledConv and a
ToRGB) climbs back up, adding the encoder's skip features. Each modulated layer takes either the 1-D code ``w``
(SpaceEdit) or one of the latent maps W = (W1, W2, W3) at 1/16, 1/8, 1/4 of the image (main §3.2.3): a layer
whose input is at <= 1/16 of the image takes W1, at 1/8 W2, at >= 1/4 W3. For the ``paper`` preset (256 px,
min 4 px) that is 20 layers: W1 -> layers 1-9, W2 -> 10-12, W3 -> 13-20. The decoder's RGB output is added to
the input image, so a zero decoder output is the identity.
"""

import math

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

from .config import RenamedConfigKeys
from .layers import DownEncoder, StyledConv, ToRGB, resize_map

MAP_SCALES = (16, 8, 4)  # W1, W2, W3 live at 1/16, 1/8, 1/4 of the image


def channels_at(scale: int, resolution: int, channel_base: int, channel_max: int) -> int:
    """Feature width at 1/``scale`` of the image: min(channel_base / resolution_at_scale, channel_max)."""
    return min(channel_base * scale // resolution, channel_max)


class RecolorGenerator(RenamedConfigKeys, ModelMixin, ConfigMixin):
    """G'(I, w) or G'(I, W): re-renders image I under a 1-D code or latent maps.

    Args:
        native_resolution: the resolution R the layer stack is built for, which sets its depth (log2(R /
            min_resolution) + 1 levels); the model is convolutional, inputs must be multiples of R / min_resolution
            (not the pipeline's working ``resolution``; configs saved with ``resolution`` load too).
        min_resolution: resolution of the bottleneck at which the decoder starts.
        channel_base, channel_max: widths, ``min(channel_base / r, channel_max)`` at resolution r.
        style_dim: D, the size of the code w and the channels of the maps W.
        num_style_layers: derived from the sizes (recorded in the config); a saved value must match.
    """

    RENAMED_KEYS = {"resolution": "native_resolution"}

    @register_to_config
    def __init__(self, native_resolution: int = 256, min_resolution: int = 4, channel_base: int = 16384,
                 channel_max: int = 512, style_dim: int = 512, num_style_layers: int | None = None):
        super().__init__()
        levels = int(math.log2(native_resolution // min_resolution)) + 1
        scales = [2**k for k in range(levels)]  # 1, 2, ..., R / min_resolution
        ch = [channels_at(s, native_resolution, channel_base, channel_max) for s in scales]
        self.encoder = DownEncoder(3, tuple(ch))
        self.bottom = StyledConv(ch[-1], ch[-1], style_dim)
        self.bottom_rgb = ToRGB(ch[-1], style_dim)
        self.ups = nn.ModuleList(StyledConv(ch[k + 1], ch[k], style_dim, upsample=True) for k in range(levels - 1))
        self.convs = nn.ModuleList(StyledConv(ch[k], ch[k], style_dim) for k in range(levels - 1))
        self.rgbs = nn.ModuleList(ToRGB(ch[k], style_dim) for k in range(levels - 1))
        # The downsampling factor of each style layer's input, in forward order.
        factors = [scales[-1], scales[-1]]
        for k in reversed(range(levels - 1)):
            factors += [scales[k + 1], scales[k], scales[k]]
        self.layer_map_index = [0 if f >= MAP_SCALES[0] else 1 if f == MAP_SCALES[1] else 2 for f in factors]
        if num_style_layers not in (None, len(factors)):
            raise ValueError(f"these sizes give {len(factors)} style layers, not num_style_layers={num_style_layers}")
        self.register_to_config(num_style_layers=len(factors))

    def layer_latents(self, w: torch.Tensor | None, maps, size: tuple[int, int]) -> list[torch.Tensor]:
        """One latent per style layer: the code w (B, D) everywhere, or the map each layer takes from W.

        ``maps`` is (W1, W2, W3) or a single map W0 (B, D, h, w) (main §3.3), which is first resized to
        1/16, 1/8 and 1/4 of the image ``size`` to make (W1, W2, W3).
        """
        if (w is None) == (maps is None):
            raise ValueError("pass exactly one of `w` (1-D code) or `maps` (latent maps)")
        if w is not None:
            return [w] * len(self.layer_map_index)
        if torch.is_tensor(maps):
            maps = tuple(resize_map(maps, (size[0] // s, size[1] // s)) for s in MAP_SCALES)
        if len(maps) != len(MAP_SCALES):
            raise ValueError(f"`maps` must hold {len(MAP_SCALES)} maps (W1, W2, W3), got {len(maps)}")
        return [maps[i] for i in self.layer_map_index]

    def forward(self, image: torch.Tensor, w: torch.Tensor | None = None, maps=None) -> torch.Tensor:
        """image: (B, 3, H, W) in [0, 1]; w: (B, D) or maps: (W1, W2, W3) -> (B, 3, H, W) re-coloured image."""
        latents = iter(self.layer_latents(w, maps, image.shape[-2:]))
        feats = self.encoder(image * 2 - 1)
        x = self.bottom(feats[-1], next(latents))
        rgb = self.bottom_rgb(x, next(latents))
        for k in reversed(range(len(self.ups))):
            x = self.ups[k](x, next(latents)) + feats[k]
            x = self.convs[k](x, next(latents))
            rgb = self.rgbs[k](x, next(latents), skip=rgb)
        return image + rgb
