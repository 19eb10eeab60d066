"""Small composable layers: equalised linear/conv, modulated conv (1-D code or spatial map), ToRGB, ASPP-with-w.

Shapes: images and features are (B, C, H, W); a 1-D latent code ``w`` is (B, D); a latent map ``W`` is
(B, D, h, w). Every modulated layer accepts either, so a spatially constant map gives exactly the same
result as the equal 1-D code (the 1-D code is broadcast as a (B, D, 1, 1) map).
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

LRELU_SLOPE = 0.2
LRELU_GAIN = math.sqrt(2.0)  # keeps activations at unit variance after leaky ReLU (StyleGAN2)
DEMOD_EPS = 1e-8


def leaky_relu(x: torch.Tensor) -> torch.Tensor:
    """StyleGAN2's scaled leaky ReLU."""
    return F.leaky_relu(x, LRELU_SLOPE) * LRELU_GAIN


def resize_map(latent: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize a latent map (B, D, h, w) to ``size``; a 1-D code (B, D) becomes a (B, D, 1, 1) map.

    Downsampling averages (area), upsampling is bilinear; a constant map stays exactly constant.
    """
    if latent.dim() == 2:
        return latent[:, :, None, None]
    if tuple(latent.shape[-2:]) == tuple(size):
        return latent
    if latent.shape[-2] >= size[0] and latent.shape[-1] >= size[1]:
        return F.interpolate(latent, size=size, mode="area")
    return F.interpolate(latent, size=size, mode="bilinear", align_corners=False)


class EqualLinear(nn.Module):
    """Linear layer with equalised learning rate (weights ~ N(0, 1), scaled at run time).

    Applies to a code (B, in) or, over the channel axis, to a map (B, in, h, w).
    """

    def __init__(self, in_features: int, out_features: int, bias_init: float = 0.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features))
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init)))
        self.scale = 1.0 / math.sqrt(in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:
            return F.linear(x, self.weight * self.scale, self.bias)
        return F.conv2d(x, (self.weight * self.scale)[:, :, None, None], self.bias)


class EqualConv2d(nn.Module):
    """Conv2d with equalised learning rate, followed by the scaled leaky ReLU when ``activate``."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int = 3, stride: int = 1, dilation: int = 1,
                 activate: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_ch))
        self.scale = 1.0 / math.sqrt(in_ch * kernel_size**2)
        self.stride, self.dilation, self.activate = stride, dilation, activate
        self.padding = dilation * (kernel_size // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.conv2d(x, self.weight * self.scale, self.bias, self.stride, self.padding, self.dilation)
        return leaky_relu(x) if self.activate else x


class ModulatedConv2d(nn.Module):
    """StyleGAN2 modulated convolution, spatial-adaptive (main eq. 1: x'_ij = m_ij * x_ij).

    The latent (code (B, D) or map (B, D, h, w)) is turned into a per-pixel style m = affine(W) resized to the
    input's resolution, (B, C_in, H, W) (or (B, C_in, 1, 1) for a code). The input is modulated, convolved and, when
    ``demodulate``, divided per pixel by the norm of the effective weight
    d_o = (sum_{i,k} (weight_{o,i,k} m_i)^2)^(-1/2). With ``upsample`` the modulated input is
    upsampled x2 before the convolution (the layer's latent lives at the input resolution).
    """

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, style_dim: int, demodulate: bool = True,
                 upsample: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel_size, kernel_size))
        self.scale = 1.0 / math.sqrt(in_ch * kernel_size**2)
        self.affine = EqualLinear(style_dim, in_ch, bias_init=1.0)
        self.demodulate, self.upsample = demodulate, upsample
        self.padding = kernel_size // 2

    def forward(self, x: torch.Tensor, latent: torch.Tensor) -> torch.Tensor:
        """x: (B, C_in, H, W); latent: (B, D) or (B, D, h, w) -> (B, C_out, H', W')."""
        # affine(resize(W)) = resize(affine(W)): both are linear and the resize's weights sum to 1, so the affine
        # runs at the latent's own (lower) resolution
        style = resize_map(self.affine(latent), x.shape[-2:])  # (B, C_in, H, W) or (B, C_in, 1, 1)
        weight = self.weight * self.scale
        x = x * style
        if self.demodulate:
            energy = weight.pow(2).sum(dim=(2, 3))  # (C_out, C_in)
            demod = torch.rsqrt(F.conv2d(style.pow(2), energy[:, :, None, None]) + DEMOD_EPS)
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        x = F.conv2d(x, weight, padding=self.padding)
        if self.demodulate:
            if self.upsample and demod.shape[-1] > 1:
                demod = F.interpolate(demod, scale_factor=2, mode="bilinear", align_corners=False)
            x = x * demod
        return x


class StyledConv(nn.Module):
    """Modulated 3x3 conv + bias + scaled leaky ReLU (one style layer of the decoder)."""

    def __init__(self, in_ch: int, out_ch: int, style_dim: int, upsample: bool = False):
        super().__init__()
        self.conv = ModulatedConv2d(in_ch, out_ch, 3, style_dim, upsample=upsample)
        self.bias = nn.Parameter(torch.zeros(1, out_ch, 1, 1))

    def forward(self, x: torch.Tensor, latent: torch.Tensor) -> torch.Tensor:
        return leaky_relu(self.conv(x, latent) + self.bias)


class ToRGB(nn.Module):
    """Modulated 1x1 conv to RGB without demodulation (one style layer); adds the upsampled skip."""

    def __init__(self, in_ch: int, style_dim: int, out_ch: int = 3):
        super().__init__()
        self.conv = ModulatedConv2d(in_ch, out_ch, 1, style_dim, demodulate=False)
        nn.init.zeros_(self.conv.weight)  # the generator starts as the identity (its RGB output is a residual)
        self.bias = nn.Parameter(torch.zeros(1, out_ch, 1, 1))

    def forward(self, x: torch.Tensor, latent: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        out = self.conv(x, latent) + self.bias
        if skip is not None:
            out = out + F.interpolate(skip, size=out.shape[-2:], mode="bilinear", align_corners=False)
        return out


class DownEncoder(nn.Module):
    """A 3x3 stem and stride-2 conv blocks: (B, in_ch, H, W) -> [features at 1/1, 1/2, 1/4, ...].

    ``channels[k]`` is the width at 1/2^k of the input; the list returned has one entry per level.
    """

    def __init__(self, in_ch: int, channels: tuple[int, ...]):
        super().__init__()
        self.stem = EqualConv2d(in_ch, channels[0], 3)
        self.blocks = nn.ModuleList(
            nn.Sequential(EqualConv2d(i, o, 3, stride=2), EqualConv2d(o, o, 3))
            for i, o in zip(channels[:-1], channels[1:])
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = [self.stem(x)]
        for block in self.blocks:
            feats.append(block(feats[-1]))
        return feats


class ASPPWithCode(nn.Module):
    """ASPP whose global-average-pooling branch is replaced by the global code w (main §3.4.3).

    Branches: 1x1 conv, one dilated 3x3 conv per rate, and EqualLinear(w) broadcast over space;
    concatenated and projected by a 1x1 conv. (B, in_ch, H, W), (B, D) -> (B, out_ch, H, W).
    """

    def __init__(self, in_ch: int, out_ch: int, style_dim: int, rates: tuple[int, ...]):
        super().__init__()
        self.branches = nn.ModuleList([EqualConv2d(in_ch, out_ch, 1)])
        self.branches.extend(EqualConv2d(in_ch, out_ch, 3, dilation=r) for r in rates)
        self.code = EqualLinear(style_dim, out_ch)
        self.project = EqualConv2d(out_ch * (len(rates) + 2), out_ch, 1)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        feats = [branch(x) for branch in self.branches]
        feats.append(leaky_relu(self.code(w))[:, :, None, None].expand(-1, -1, *x.shape[-2:]))
        return self.project(torch.cat(feats, dim=1))
