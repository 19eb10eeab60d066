"""The non-learned colour step: per-patch Lab statistics transfer (beyond the paper), for images and video.

With a residual generator and self-reconstruction pairs, the self-map W0R = E_W(I_R, I_R) learns an "identity"
code and stops describing the reference's colours: colour must be absolute somewhere. So the reference's colour
also travels as plain numbers, its per-patch Lab statistics S_R (``colour.patch_statistics``), gathered by the
same hard correspondence as W~0R (``correspondence.gather_statistics``) into the non-learned target T:

    S~R = Hard(A_C ⊙ M) S_R                                   (as main eq. 5, on statistics)
    T = c S~R + (1 - c) Reinhard(S_S)                         (confidence fallback, c from A_C's best score)
    T <- S_S moved by Smooth(t(S_S -> T))                     (joint bilateral smoothing of the transfer)

where Reinhard(S_S) moves the content patch's statistics by the global Lab mean/std transfer (content -> reference)
and c ramps from 0 to 1 over P_W's ``confidence_range``; the user may put the look fitted on the matches or S_S
itself in its place (``fallback_statistics``, ``recolor_hf.fallback``). The transfer of a patch S -> T is

    t = (mu_T - mu_S, log g),  g = (std_T + f) / (std_S + f)  (mean shift, log contrast gain; f = STD_FLOOR)

(``statistics_transfer``, inverted by ``apply_transfer``); the smoothing averages it over patches near in the image
and in content colour, weighted by c (``smooth_transfer``), the strength alpha scales it
(``strength.interpolate_statistics``, supp. eq. 3 on statistics) and video averages it over frames
(``video.TemporalSmoother``). The "base" image is the
content with every pixel's Lab value moved from its patch statistics S_S to T (``local_transfer``, a local Reinhard
transfer); G' re-renders it under P_W's maps, and the base-only path (``learned=False``) is T alone
(``target_statistics``). Patches whose correspondence index is -1 (user "keep" points) keep S_S.
All statistics are (B, 6, h, w): channels L, a, b means then L, a, b standard deviations, in Lab units.
"""

import numpy as np
import torch
import torch.nn.functional as F

from ..fallback import check_fallback
from ..upsample import ridge_affine_fit
from .colour import lab_to_rgb, rgb_to_lab
from .correspondence import gather_statistics

TRANSFER_SMOOTHING = (0.5, 10.0)  # (spatial sigma as a share of the image side, Lab sigma) of ``smooth_transfer``
SMOOTHING_WEIGHT_FLOOR = 1e-3  # weight of an unmatched patch in the smoothing (its own transfer when alone)
STD_FLOOR = 2.0  # Lab units added to both standard deviations of a gain, so flat patches do not explode
GAIN_RANGE = (0.25, 4.0)  # limits of the per-patch contrast gain T_std / S_std
FIT_RIDGE = 25.0  # Lab units^2: pull of the fitted look's linear part toward no change (``fitted_means``)


def std_gain(target_std: torch.Tensor, content_std: torch.Tensor) -> torch.Tensor:
    """Contrast gain g = (T_std + STD_FLOOR) / (S_std + STD_FLOOR), per Lab channel."""
    return (target_std + STD_FLOOR) / (content_std + STD_FLOOR)


def statistics_transfer(content: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The transfer t(S -> T) = (mu_T - mu_S, log g): statistics (B, 6, ...) x2 -> (B, 6, ...), mean shifts then log
    contrast gains."""
    return torch.cat([target[:, :3] - content[:, :3], std_gain(target[:, 3:], content[:, 3:]).log()], dim=1)


def apply_transfer(content: torch.Tensor, transfer: torch.Tensor) -> torch.Tensor:
    """Statistics S (B, 6, ...) moved by a transfer t (``statistics_transfer``, its inverse): mu_S + t_mu,
    (std_S + f) exp(t_g) - f."""
    std = (content[:, 3:] + STD_FLOOR) * transfer[:, 3:].exp() - STD_FLOOR
    return torch.cat([content[:, :3] + transfer[:, :3], std.clamp_min(0)], dim=1)


def global_transfer(stats: torch.Tensor, content: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Reinhard(S_S): patch statistics (B, 6, h, w) moved by the whole-image transfer content -> reference, each
    given as (B, 6, 1, 1) image statistics."""
    gain = std_gain(reference[:, 3:], content[:, 3:])
    mean = (stats[:, :3] - content[:, :3]) * gain + reference[:, :3]
    return torch.cat([mean, stats[:, 3:] * gain], dim=1)


def smooth_transfer(content: torch.Tensor, target: torch.Tensor, weight: torch.Tensor, keep: torch.Tensor,
                    sigmas: tuple[float, float] = TRANSFER_SMOOTHING,
                    affinity: torch.Tensor | None = None) -> torch.Tensor:
    """Joint bilateral smoothing of the per-patch transfer S_S -> T, guided by the content (module docstring).

    The transfer of patch i, t_i (``statistics_transfer``), becomes sum_j K_ij c_j t_j / sum_j K_ij c_j with
    K_ij = exp(-|p_i - p_j|^2 / (2 s_p^2) - |mu_S,i - mu_S,j|^2 / (2 s_c^2) - |e_i - e_j|^2 / 2), p the patch
    centre in image-side units, (s_p, s_c) = ``sigmas`` (spatial, Lab) and e the learned ``affinity`` embedding
    (P_W's region grouping; none: e = 0). Kept patches (``keep``) neither give nor take: T = S_S.

    content, target (B, 6, h, w); weight c (B, 1, h, w) in [0, 1]; keep (B, 1, h, w) bool; affinity e
    (B, E, h, w) or None -> T (B, 6, h, w).
    """
    spatial, colour = sigmas
    h, w = content.shape[-2:]
    ys, xs = torch.meshgrid(torch.linspace(0, 1, h, device=content.device),
                            torch.linspace(0, 1, w, device=content.device), indexing="ij")
    position = torch.stack([ys.flatten(), xs.flatten()], dim=1).to(content)  # (N, 2)
    means = content[:, :3].flatten(2).transpose(1, 2)  # (B, N, 3)
    transfer = statistics_transfer(content, target).flatten(2).transpose(1, 2).contiguous()  # (B, N, 6)
    log_kernel = (-torch.cdist(position, position).square() / (2 * spatial ** 2)
                  - torch.cdist(means, means).square() / (2 * colour ** 2))  # (B, N, N)
    if affinity is not None:
        embedding = affinity.flatten(2).transpose(1, 2)  # (B, N, E)
        log_kernel = log_kernel - squared_distances(embedding) / 2
    kernel = log_kernel.exp()
    kept = keep.flatten(1)[:, None, :]
    kernel = kernel * torch.where(kept, 0.0, weight.flatten(1)[:, None, :] + SMOOTHING_WEIGHT_FLOOR)
    smooth = (kernel @ transfer) / kernel.sum(dim=-1, keepdim=True).clamp_min(SMOOTHING_WEIGHT_FLOOR)
    smooth = torch.where(keep.flatten(1)[..., None], 0.0, smooth)
    return apply_transfer(content, smooth.transpose(1, 2).reshape_as(content))


def squared_distances(points: torch.Tensor) -> torch.Tensor:
    """|x_i - x_j|^2 for points (B, N, E) -> (B, N, N), without cdist's square root (no gradient at 0: the
    diagonal)."""
    norms = points.square().sum(-1)
    return (norms[..., :, None] + norms[..., None, :] - 2 * points @ points.transpose(1, 2)).clamp_min(0)


def confidence_weight(confidence: torch.Tensor, confidence_range: tuple[float, float]) -> torch.Tensor:
    """The trust c in each patch's match: its score ramped from 0 at confidence_range[0] to 1 at [1], (B, 1, h, w)."""
    low, high = confidence_range
    return ((confidence - low) / max(high - low, 1e-6)).clamp(0, 1)


def fitted_means(stats: torch.Tensor, gathered: torch.Tensor, weight: torch.Tensor,
                 ridge: float = FIT_RIDGE) -> torch.Tensor:
    """The patch means moved by ONE colour transform fitted on the matches, mu -> M mu + m: the least-squares fit
    of the matched means mu_S~R on the content means mu_S weighted by the trust c (plus SMOOTHING_WEIGHT_FLOOR), its
    linear part pulled toward the identity (``ridge``, Lab units^2; the full-resolution transfer's
    ``upsample.ridge_affine_fit`` on the weighted moments). Where the matched content shares one look (two
    parts of one photo) the fit carries that look to content the reference lacks.

    stats S_S, gathered S~R (B, 6, h, w); weight c (B, 1, h, w) -> Lab means (B, 3, h, w).
    """
    x = stats[:, :3].flatten(2).transpose(1, 2).double().cpu().numpy()  # (B, N, 3)
    y = gathered[:, :3].flatten(2).transpose(1, 2).double().cpu().numpy()
    w = weight.flatten(1).double().cpu().numpy() + SMOOTHING_WEIGHT_FLOOR  # (B, N)
    w = w / w.sum(1, keepdims=True)
    moments = np.concatenate([np.einsum("bn,bni->bi", w, x), np.einsum("bn,bni->bi", w, y),
                              np.einsum("bn,bni,bnj->bij", w, x, x).reshape(len(x), 9),
                              np.einsum("bn,bni,bnj->bij", w, x, y).reshape(len(x), 9)], axis=-1)
    fit = ridge_affine_fit(moments, ridge, np.eye(3))  # (B, 3, 4): [M | m]
    means = x @ fit[..., :3].swapaxes(-1, -2) + fit[:, None, :, 3]  # (B, N, 3)
    return torch.from_numpy(means).to(stats).transpose(1, 2).reshape_as(stats[:, :3])


def fallback_statistics(fallback: str, content: torch.Tensor, gathered: torch.Tensor, trust: torch.Tensor,
                        content_whole: torch.Tensor, reference_whole: torch.Tensor) -> torch.Tensor:
    """What a patch whose match is distrusted moves to (content the reference lacks), one of ``fallback.FALLBACKS``:
    "global" Reinhard(S_S); "look" the means moved by ``fitted_means``, the content's own contrast; "keep" S_S.

    content S_S, gathered S~R (B, 6, h, w); trust c (B, 1, h, w); content_whole, reference_whole (B, 6, 1, 1)
    -> (B, 6, h, w). The fitted look has no gradient (it is not learned).
    """
    if check_fallback(fallback) == "global":
        return global_transfer(content, content_whole, reference_whole)
    if fallback == "look":
        return torch.cat([fitted_means(content, gathered, trust), content[:, 3:]], dim=1)
    return content


def trusted_target(content: torch.Tensor, gathered: torch.Tensor, trust: torch.Tensor, keep: torch.Tensor,
                   content_whole: torch.Tensor, reference_whole: torch.Tensor,
                   smoothing: tuple[float, float] = TRANSFER_SMOOTHING,
                   affinity: torch.Tensor | None = None, fallback: torch.Tensor | None = None) -> torch.Tensor:
    """Smooth(c S~R + (1 - c) Reinhard(S_S)): the matched statistics S~R where the match is trusted, the global
    transfer where not, then ``smooth_transfer`` weighted by the trust c (with P_W's ``affinity``, if any).

    content S_S, gathered S~R (B, 6, h, w); trust c (B, 1, h, w) in [0, 1]; keep (B, 1, h, w) bool, patches that
    stay S_S; content_whole, reference_whole (B, 6, 1, 1); affinity (B, E, h, w) or None; fallback (B, 6, h, w):
    statistics to use in place of Reinhard(S_S) (``fallback_statistics``) -> (B, 6, h, w).
    """
    if fallback is None:
        fallback = global_transfer(content, content_whole, reference_whole)
    blend = trust * gathered + (1 - trust) * fallback
    return smooth_transfer(content, blend, trust, keep, smoothing, affinity)


def target_statistics(content: torch.Tensor, reference: torch.Tensor, index: torch.Tensor,
                      confidence: torch.Tensor, confidence_range: tuple[float, float],
                      content_whole: torch.Tensor, reference_whole: torch.Tensor,
                      smoothing: tuple[float, float] = TRANSFER_SMOOTHING,
                      fallback: str = "global") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The non-learned target T = Smooth(c S~R + (1 - c) Reinhard(S_S)), the whole base-only path (``learned=False``)
    up to the rendering of ``local_transfer``; kept patches (index -1) keep S_S; another ``fallback`` puts its target
    in the place of Reinhard(S_S) (``fallback_statistics``).

    content (B, 6, hs, ws), reference (B, 6, hr, wr): patch statistics; index (B, hs*ws) and confidence
    (B, 1, hs, ws): the match; content_whole, reference_whole (B, 6, 1, 1): whole-image statistics; smoothing:
    ``smooth_transfer``'s (spatial, colour) sigmas; fallback: one of ``fallback.FALLBACKS`` -> (T, S~R, F), each
    (B, 6, hs, ws): the target, the raw matched statistics it started from and the fallback target it used.
    """
    weight = confidence_weight(confidence, confidence_range)
    gathered = gather_statistics(reference, content, index)
    keep = (index < 0).view_as(weight)
    moved = fallback_statistics(fallback, content, gathered, weight, content_whole, reference_whole)
    target = trusted_target(content, gathered, weight, keep, content_whole, reference_whole, smoothing,
                            fallback=moved)
    return target, gathered, moved


def local_transfer(image: torch.Tensor, content: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The base image: each pixel's Lab value moved from its patch statistics to the target's.

    image (B, 3, H, W) in [0, 1]; content, target (B, 6, h, w) -> (B, 3, H, W) in [0, 1]. Statistics are
    bilinearly interpolated to pixels; the gain (T_std + f) / (S_std + f) is clamped to GAIN_RANGE.
    """
    size = image.shape[-2:]
    s, t = (F.interpolate(x, size=size, mode="bilinear", align_corners=False) for x in (content, target))
    return lab_to_rgb(move_lab(rgb_to_lab(image), s, t))


def move_lab(lab: torch.Tensor, content: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Lab values (B, 3, ...) moved from the statistics ``content`` to ``target`` (B, 6, ...; broadcast):
    (lab - mu_S) g + mu_T with the contrast gain g clamped to GAIN_RANGE."""
    gain = std_gain(target[:, 3:], content[:, 3:]).clamp(*GAIN_RANGE)
    return (lab - content[:, :3]) * gain + target[:, :3]
