"""LatentMapPredictor P_W(I_S, I_R) -> W = (W1, W2, W3) (main §3.4), and the learned target colours T'.

Correspondence (``correspond``): cosine cross-attention A_C(i, j) = <F_S(i), F_R(j)> (main eq. 4), random
semantic masking of A_C's columns during training, hard argmax activation (main eq. 5) and the warped reference
colour feature W~0R = Hard(A_C ⊙ M) W0R. Prediction (``forward``): three ASPP modules whose pooling branch is
the global code w: ASPP1([W~0R, C3, statistics, conf], w) -> W1, ASPP2([up(out1), C2], w) -> W2,
ASPP3([up(out2), C1], w) -> W3. ``conf`` is the similarity of the chosen match (our reading of the mask channel M
fed to ASPP1).

Beyond the paper (see ``colour``): the match prefers, among semantically similar reference patches, those of
similar colour (``colour_prior``); the same hard match gathers the reference's per-patch Lab statistics S~R, with
a confidence fallback to the global transfer and a joint bilateral smoothing, into the non-learned target T
(``colour_target``). From ASPP1's features P_W also predicts the learned target T' (``statistics_head``,
``correct``): per patch a learned trust in the match against the global fallback, smoothed as T is, and how much
of the content's own contrast to keep (a grey reference, content the reference lacks). The generator re-renders the content moved to T' (the "base" image), and each map
is predicted as a residual on the base's self-reconstruction map W0(base); zero-initialised heads reproduce the
non-learned transfer. ASPP1's inputs are normalised per group (W~0R, C3: layer norm; statistics: fixed Lab
scales) so that none swamps the others.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

from .colour import (STATS_CHANNELS, colour_prior, confidence_weight, global_transfer, normalize_statistics,
                     smooth_transfer, target_statistics)
from .layers import ASPPWithCode, EqualConv2d, resize_map

STATISTICS_INPUTS = 5  # S_S, T, S~R, whole-image S and R: the statistics groups fed to ASPP1
STATISTICS_HEAD = ("trust", "contrast")  # the statistics head's outputs: trust in the match, the content's contrast


@dataclass
class Correspondence:
    """Result of matching content patches to reference patches at 1/16 resolution.

    warped: W~0R (B, D, h_s, w_s); confidence: (B, 1, h_s, w_s); index: (B, h_s * w_s), the reference patch
    (row-major) each content patch takes its colour from.
    """

    warped: torch.Tensor
    confidence: torch.Tensor
    index: torch.Tensor


def cosine_attention(query: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
    """A(i, j) = <q_i, k_j> / (|q_i| |k_j|): (B, C, h1, w1), (B, C, h2, w2) -> (B, h1*w1, h2*w2)."""
    q = F.normalize(query.flatten(2), dim=1)
    k = F.normalize(key.flatten(2), dim=1)
    return q.transpose(1, 2) @ k


def random_column_mask(batch: int, columns: int, ratio: float, generator: torch.Generator | None = None,
                       device=None) -> torch.Tensor:
    """Random semantic mask M (B, N_R): 0 for round(ratio * N_R) random reference patches (at least one kept)."""
    n_masked = min(int(round(ratio * columns)), columns - 1)
    scores = torch.rand(batch, columns, generator=generator, device=device)
    ranks = scores.argsort(dim=1).argsort(dim=1)
    return (ranks >= n_masked).float()


def hard_attention(attention: torch.Tensor, mask: torch.Tensor | None = None,
                   prior: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Hard(A ⊙ M) of main eq. 5, W~0R = Hard(A_C ⊙ M) W0R: every query's best key.

    attention: (B, N_q, N_k); mask: optional bool broadcastable to it, False where a key is hidden; prior: optional
    (B, N_q, N_k) added to the attention to choose the key -> (index (B, N_q) of the chosen key, confidence (B, N_q):
    the attention of that key, without the prior).
    """
    if mask is not None:
        attention = attention.masked_fill(~mask, float("-inf"))
    index = (attention if prior is None else attention + prior).argmax(dim=2)
    return index, attention.gather(2, index[..., None])[..., 0]


def gather_patches(values: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Each query takes the value of its key: values (B, D, N_k), index (B, N_q) -> (B, D, N_q)."""
    return torch.gather(values, 2, index[:, None].expand(-1, values.shape[1], -1))


def hard_warp(attention: torch.Tensor, values: torch.Tensor, out_size: tuple[int, int],
              mask: torch.Tensor | None = None, prior: torch.Tensor | None = None) -> Correspondence:
    """Hard(A ⊙ M) V (main eq. 5) as a ``Correspondence`` at out_size (h_q, w_q).

    attention: (B, N_q, N_k); values: (B, D, h_k, w_k); mask, prior: see ``hard_attention``.
    """
    index, confidence = hard_attention(attention, mask, prior)
    shape = (values.shape[0], values.shape[1], *out_size)
    warped = gather_patches(values.flatten(2), index)
    return Correspondence(warped.view(shape), confidence.view(shape[0], 1, *out_size), index)


@dataclass
class PredictorOutput:
    """What P_W predicts. target_stats: the learned target statistics T' (B, 6, h, w) on the match's grid;
    residuals: (dW1, dW2, dW3), each (B, D, H/16 * 2^k, W/16 * 2^k), added to W0(base') by the pipeline."""

    target_stats: torch.Tensor
    residuals: tuple[torch.Tensor, ...]


class LatentMapPredictor(ModelMixin, ConfigMixin):
    """P_W: content colour features, the warped reference map, the matched statistics and the global code w ->
    learned target statistics T' and latent map residuals dW1, dW2, dW3.

    Args:
        style_dim: D, channels of W0R and of the predicted maps.
        color_channels: widths of C1, C2, C3 (content colour features at 1/4, 1/8, 1/16).
        hidden_channels: widths of the ASPP1, ASPP2, ASPP3 outputs.
        aspp_rates: dilation rates of the 3x3 branches of each ASPP.
        confidence_range: match scores (cosine) below the first value use the global colour transfer, above the
            second the matched reference patch's colour, linearly in between.
        colour_prior: (weight, Lab sigma) of the colour affinity added to the match scores.
        transfer_smoothing: (spatial sigma as a share of the image side, Lab sigma) of the joint bilateral
            smoothing of the per-patch colour transfer.
    """

    @register_to_config
    def __init__(self, style_dim: int = 512, color_channels: tuple[int, ...] = (24, 40, 112),
                 hidden_channels: tuple[int, ...] = (512, 256, 128), aspp_rates: tuple[int, ...] = (1, 2, 4),
                 confidence_range: tuple[float, float] = (0.3, 0.6), colour_prior: tuple[float, float] = (0.1, 20.0),
                 transfer_smoothing: tuple[float, float] = (0.5, 10.0)):
        super().__init__()
        c1, c2, c3 = color_channels
        h1, h2, h3 = hidden_channels
        self.aspp = nn.ModuleList([
            ASPPWithCode(style_dim + c3 + STATISTICS_INPUTS * STATS_CHANNELS + 1, h1, style_dim, tuple(aspp_rates)),
            ASPPWithCode(h1 + c2, h2, style_dim, tuple(aspp_rates)),
            ASPPWithCode(h2 + c1, h3, style_dim, tuple(aspp_rates)),
        ])
        self.statistics_head = EqualConv2d(h1, len(STATISTICS_HEAD), 1, activate=False)
        self.heads = nn.ModuleList(EqualConv2d(h, style_dim, 1, activate=False) for h in hidden_channels)
        for head in (self.statistics_head, *self.heads):  # start from T' = T and W = W0(base)
            nn.init.zeros_(head.weight)

    @staticmethod
    def correspond(content_semantic: torch.Tensor, reference_semantic: torch.Tensor, reference_map: torch.Tensor,
                   mask_ratio: float = 0.0, generator: torch.Generator | None = None,
                   prior: torch.Tensor | None = None) -> Correspondence:
        """W~0R = Hard(A_C ⊙ M) W0R (main eqs. 4-5).

        content_semantic F_S: (B, f, h_s, w_s); reference_semantic F_R: (B, f, h_r, w_r);
        reference_map W0R: (B, D, h_r', w_r') (resized to F_R's grid); mask_ratio: share of reference patches
        hidden from the match (training only); prior: optional (B, h_s*w_s, h_r*w_r) added to A_C to choose the
        match (``match_prior``).
        """
        attention = cosine_attention(content_semantic, reference_semantic)
        mask = None
        if mask_ratio > 0:
            keep = random_column_mask(attention.shape[0], attention.shape[2], mask_ratio, generator, attention.device)
            mask = keep[:, None, :] > 0
        values = resize_map(reference_map, reference_semantic.shape[-2:])
        return hard_warp(attention, values, tuple(content_semantic.shape[-2:]), mask, prior)

    def match_prior(self, content_stats: torch.Tensor, reference_stats: torch.Tensor) -> torch.Tensor:
        """The colour affinity added to A_C (``colour.colour_prior`` with the config's ``colour_prior``):
        S_S (B, 6, h_s, w_s), S_R (B, 6, h_r, w_r) -> (B, h_s*w_s, h_r*w_r)."""
        return colour_prior(content_stats, reference_stats, *self.config.colour_prior)

    def colour_target(self, content_stats: torch.Tensor, reference_stats: torch.Tensor, match: Correspondence,
                      content_whole: torch.Tensor, reference_whole: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The non-learned target T = Smooth(c Hard(A_C) S_R + (1 - c) Reinhard(S_S)) and the raw match S~R
        (``colour.target_statistics``).

        S_S (B, 6, h_s, w_s), S_R (B, 6, h_r, w_r): patch statistics on the match's grids; content_whole,
        reference_whole: (B, 6, 1, 1) whole-image statistics -> (T, S~R), each (B, 6, h_s, w_s).
        """
        return target_statistics(content_stats, reference_stats, match.index, match.confidence,
                                 tuple(self.config.confidence_range), content_whole, reference_whole,
                                 tuple(self.config.transfer_smoothing))

    def forward(self, colour_features: tuple[torch.Tensor, ...], correspondence: Correspondence,
                statistics: tuple[torch.Tensor, ...], w: torch.Tensor, maps: bool = True) -> PredictorOutput:
        """(C1, C2, C3), W~0R with its confidence, statistics (S_S, T, S~R, whole S, whole R) and w (B, D) ->
        ``PredictorOutput``.

        ASPP1([W~0R, C3, statistics, conf], w) gives T' (``correct`` of ``statistics_head``'s output; patches the
        user keeps, index -1, stay S_S) and dW1; ASPP2([up(out1), C2], w) dW2; ASPP3([up(out2), C1], w) dW3.
        S_S, T, S~R: (B, 6, h, w) on C3's grid (h, w = H/16, W/16); whole S, whole R: (B, 6, 1, 1).
        ``maps=False`` stops after ASPP1 (T' and dW1 only: training the statistics alone).
        """
        c1, c2, c3 = colour_features
        grid = statistics[0].shape[-2:]
        stats = [normalize_statistics(x).expand(-1, -1, *grid) for x in statistics]
        warped = F.layer_norm(correspondence.warped, correspondence.warped.shape[1:])
        x = torch.cat([warped, F.layer_norm(c3, c3.shape[1:]), *stats, correspondence.confidence], dim=1)
        residuals, corrected = [], None
        for aspp, head, skip in list(zip(self.aspp, self.heads, (None, c2, c1)))[:None if maps else 1]:
            if skip is not None:
                x = torch.cat([F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False), skip], 1)
            x = aspp(x, w)
            if corrected is None:
                corrected = self.correct(self.statistics_head(x), statistics, correspondence)
            residuals.append(head(x))
        return PredictorOutput(corrected, tuple(residuals))

    def correct(self, head: torch.Tensor, statistics: tuple[torch.Tensor, ...],
                correspondence: Correspondence) -> torch.Tensor:
        """T' = Smooth(c' S~R + (1 - c') Reinhard(S_S)) with a learned trust c' = clamp(c + a_trust, 0, 1) in the
        match (c: the confidence ramp of the match score), then the contrast moved toward the content's own,
        std' = std + a_contrast (S_S std - std), a_contrast in [0, 1]. The same joint bilateral smoothing as T keeps
        one material one colour; the head decides per patch how far to trust the match or the global fallback
        (a grey reference, content the reference lacks) and cannot invent a colour. Zero-initialised: T' = T.
        Patches the user keeps (index -1) stay S_S: the smoothing keeps them and their contrast is their own.

        head: (B, 2, h, w) (a_trust, a_contrast); statistics as ``forward``; correspondence: the match
        -> T' (B, 6, h, w).
        """
        content, _, gathered, content_whole, reference_whole = statistics
        trust = confidence_weight(correspondence.confidence, tuple(self.config.confidence_range))
        trust = (trust + head[:, :1]).clamp(0, 1)
        blend = trust * gathered + (1 - trust) * global_transfer(content, content_whole, reference_whole)
        keep = (correspondence.index < 0).view_as(trust)
        target = smooth_transfer(content, blend, trust, keep, tuple(self.config.transfer_smoothing))
        contrast = head[:, 1:2].clamp(0, 1)
        return torch.cat([target[:, :3], target[:, 3:] + contrast * (content[:, 3:] - target[:, 3:])], dim=1)
