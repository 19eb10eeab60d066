"""Absolute colour on the reference path: CIELAB conversions and per-patch Lab statistics (beyond the paper).

With a residual generator and self-reconstruction pairs, the self-map W0R = E_W(I_R, I_R) learns an "identity"
code and stops describing the reference's colours: colour must be absolute somewhere. So the
reference's colour also travels as plain numbers: the per-patch CIELAB mean and standard deviation S_R (6 values
per patch of the correspondence grid), gathered with the same hard correspondence as W~0R:

    S~R = Hard(A_C ⊙ M) S_R                                   (as main eq. 5, on statistics)
    T = c S~R + (1 - c) Reinhard(S_S)                         (confidence fallback, c from A_C's best score)
    T <- S_S moved by Smooth(T - S_S)                         (joint bilateral smoothing of the transfer)

where Reinhard(S_S) moves the content patch's statistics by the global Lab mean/std transfer (content -> reference)
and c ramps from 0 to 1 over the predictor's ``confidence_range``. A hard match makes neighbouring patches of one
material take different reference patches (blotches); so the per-patch transfer (mean offset, log contrast gain)
is averaged over patches that are near in the image and in content colour, weighted by c (``smooth_transfer``).
The match itself prefers, among semantically similar reference patches, those of similar colour
(``correspondence.colour_prior``). The "base" image is the content with every
pixel's Lab value moved from its patch statistics S_S to T (a local Reinhard transfer); G' re-renders it under
the predicted maps. Patches whose correspondence index is -1 (user "keep" points) keep S_S.
All statistics are (B, 6, h, w): channels L, a, b means then L, a, b standard deviations, in Lab units.
"""

import torch
import torch.nn.functional as F

from .correspondence import gather_statistics

# sRGB (D65) -> CIE XYZ, normalised by the D65 white so that white maps to (1, 1, 1)
RGB_TO_XYZ = torch.tensor([[0.412453, 0.357580, 0.180423],
                           [0.212671, 0.715160, 0.072169],
                           [0.019334, 0.119193, 0.950227]]) / torch.tensor([0.95047, 1.0, 1.08883])[:, None]
LAB_DELTA = 6 / 29  # CIELAB's f(t) is linear below t = LAB_DELTA ** 3
STATS_CHANNELS = 6
SMOOTHING_WEIGHT_FLOOR = 1e-3  # weight of an unmatched patch in the smoothing (its own transfer when alone)
STD_FLOOR = 2.0  # Lab units added to both standard deviations of a gain, so flat patches do not explode
GAIN_RANGE = (0.25, 4.0)  # limits of the per-patch contrast gain T_std / S_std
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


def std_gain(target_std: torch.Tensor, content_std: torch.Tensor) -> torch.Tensor:
    """Contrast gain (T_std + STD_FLOOR) / (S_std + STD_FLOOR), per Lab channel."""
    return (target_std + STD_FLOOR) / (content_std + STD_FLOOR)


def global_transfer(stats: torch.Tensor, content: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Reinhard(S_S): patch statistics (B, 6, h, w) moved by the whole-image transfer content -> reference, each
    given as (B, 6, 1, 1) image statistics."""
    gain = std_gain(reference[:, 3:], content[:, 3:])
    mean = (stats[:, :3] - content[:, :3]) * gain + reference[:, :3]
    return torch.cat([mean, stats[:, 3:] * gain], dim=1)


def smooth_transfer(content: torch.Tensor, target: torch.Tensor, weight: torch.Tensor, keep: torch.Tensor,
                    sigmas: tuple[float, float]) -> torch.Tensor:
    """Joint bilateral smoothing of the per-patch transfer S_S -> T, guided by the content (module docstring).

    The transfer of patch i, t_i = (mu_T - mu_S, log std_gain), becomes sum_j K_ij c_j t_j / sum_j K_ij c_j with
    K_ij = exp(-|p_i - p_j|^2 / (2 s_p^2) - |mu_S,i - mu_S,j|^2 / (2 s_c^2)), p the patch centre in image-side
    units and (s_p, s_c) = ``sigmas`` (spatial, Lab). Kept patches (``keep``) neither give nor take: T = S_S.

    content, target (B, 6, h, w); weight c (B, 1, h, w) in [0, 1]; keep (B, 1, h, w) bool -> T (B, 6, h, w).
    """
    spatial, colour = sigmas
    h, w = content.shape[-2:]
    ys, xs = torch.meshgrid(torch.linspace(0, 1, h, device=content.device),
                            torch.linspace(0, 1, w, device=content.device), indexing="ij")
    position = torch.stack([ys.flatten(), xs.flatten()], dim=1).to(content)  # (N, 2)
    s, t = content.flatten(2).transpose(1, 2), target.flatten(2).transpose(1, 2)  # (B, N, 6)
    transfer = torch.cat([t[..., :3] - s[..., :3], std_gain(t[..., 3:], s[..., 3:]).log()], dim=-1)
    kernel = torch.exp(-torch.cdist(position, position).square() / (2 * spatial ** 2)
                       - torch.cdist(s[..., :3], s[..., :3]).square() / (2 * colour ** 2))  # (B, N, N)
    kept = keep.flatten(1)[:, None, :]
    kernel = kernel * torch.where(kept, 0.0, weight.flatten(1)[:, None, :] + SMOOTHING_WEIGHT_FLOOR)
    smooth = (kernel @ transfer) / kernel.sum(dim=-1, keepdim=True).clamp_min(SMOOTHING_WEIGHT_FLOOR)
    smooth = torch.where(keep.flatten(1)[..., None], 0.0, smooth)
    std = (s[..., 3:] + STD_FLOOR) * smooth[..., 3:].exp() - STD_FLOOR
    return torch.cat([s[..., :3] + smooth[..., :3], std.clamp_min(0)], dim=-1).transpose(1, 2).view_as(content)


def confidence_weight(confidence: torch.Tensor, confidence_range: tuple[float, float]) -> torch.Tensor:
    """The trust c in each patch's match: its score ramped from 0 at confidence_range[0] to 1 at [1], (B, 1, h, w)."""
    low, high = confidence_range
    return ((confidence - low) / max(high - low, 1e-6)).clamp(0, 1)


def match_blend(content: torch.Tensor, reference: torch.Tensor, index: torch.Tensor, confidence: torch.Tensor,
                confidence_range: tuple[float, float], content_whole: torch.Tensor,
                reference_whole: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The unsmoothed target c S~R + (1 - c) Reinhard(S_S) (module docstring).

    content (B, 6, hs, ws), reference (B, 6, hr, wr): patch statistics; index (B, hs*ws); confidence (B, 1, hs, ws)
    the match scores; content_whole, reference_whole (B, 6, 1, 1): whole-image statistics -> (blend, S~R, c), the
    first two (B, 6, hs, ws), c (B, 1, hs, ws) in [0, 1].
    """
    weight = confidence_weight(confidence, confidence_range)
    gathered = gather_statistics(reference, content, index)
    fallback = global_transfer(content, content_whole, reference_whole)
    return weight * gathered + (1 - weight) * fallback, gathered, weight


def target_statistics(content: torch.Tensor, reference: torch.Tensor, index: torch.Tensor,
                      confidence: torch.Tensor, confidence_range: tuple[float, float],
                      content_whole: torch.Tensor, reference_whole: torch.Tensor,
                      smoothing: tuple[float, float]) -> tuple[torch.Tensor, torch.Tensor]:
    """T = Smooth(c S~R + (1 - c) Reinhard(S_S)) (``match_blend``, then ``smooth_transfer``); kept patches (index
    -1) keep S_S. Arguments as ``match_blend``; smoothing: ``smooth_transfer``'s (spatial, colour) sigmas.

    Returns (T, S~R), each (B, 6, hs, ws): the target and the raw matched statistics it started from.
    """
    blend, gathered, weight = match_blend(content, reference, index, confidence, confidence_range, content_whole,
                                          reference_whole)
    keep = (index < 0).view_as(weight)
    return smooth_transfer(content, blend, weight, keep, smoothing), gathered


def interpolate_statistics(content: torch.Tensor, target: torch.Tensor, alpha: float) -> torch.Tensor:
    """Strength on statistics, as supp. eq. 3 on maps: means S + alpha (T - S), stds geometrically."""
    mean = content[:, :3] + alpha * (target[:, :3] - content[:, :3])
    std = (content[:, 3:] + STD_FLOOR) * std_gain(target[:, 3:], content[:, 3:]) ** alpha - STD_FLOOR
    return torch.cat([mean, std.clamp_min(0)], dim=1)


def local_transfer(image: torch.Tensor, content: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The base image: each pixel's Lab value moved from its patch statistics to the target's.

    image (B, 3, H, W) in [0, 1]; content, target (B, 6, h, w) -> (B, 3, H, W) in [0, 1]. Statistics are
    bilinearly interpolated to pixels; the gain (T_std + f) / (S_std + f) is clamped to GAIN_RANGE.
    """
    size = image.shape[-2:]
    s, t = (F.interpolate(x, size=size, mode="bilinear", align_corners=False) for x in (content, target))
    gain = std_gain(t[:, 3:], s[:, 3:]).clamp(*GAIN_RANGE)
    lab = (rgb_to_lab(image) - s[:, :3]) * gain + t[:, :3]
    return lab_to_rgb(lab)


def normalize_statistics(stats: torch.Tensor) -> torch.Tensor:
    """(B, 6, h, w) Lab statistics -> O(1) network inputs (fixed STATS_OFFSET / STATS_SCALE)."""
    offset = stats.new_tensor(STATS_OFFSET).view(1, -1, 1, 1)
    return (stats - offset) / stats.new_tensor(STATS_SCALE).view(1, -1, 1, 1)
