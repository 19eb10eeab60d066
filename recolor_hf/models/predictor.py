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
    (row-major) each content patch takes its colour from. With K > 1 candidates (the automatic match of a predictor
    with ``match_candidates`` K): candidates (B, h_s * w_s, K), the K best reference patches, best first (index is
    the first); scores (B, h_s * w_s, K), their attention A_C (-inf where masked); ranking (B, h_s * w_s, K), the
    score that ordered them (A_C plus the colour prior, if any); candidate_maps W~0R_k (B, D, h_s * w_s, K), each
    candidate's W0R. None for a single match (and user guidance).
    """

    warped: torch.Tensor
    confidence: torch.Tensor
    index: torch.Tensor
    candidates: torch.Tensor | None = None
    scores: torch.Tensor | None = None
    ranking: torch.Tensor | None = None
    candidate_maps: torch.Tensor | None = None


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


def top_candidates(attention: torch.Tensor, k: int, mask: torch.Tensor | None = None,
                   prior: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Every query's k best keys under A ⊙ M (+ prior), best first.

    attention: (B, N_q, N_k); mask: optional bool broadcastable to it, False where a key is hidden; prior: optional
    (B, N_q, N_k) added to the attention to rank the keys -> (index (B, N_q, k), scores (B, N_q, k): the attention
    of those keys without the prior, -inf for a hidden key).
    """
    if mask is not None:
        attention = attention.masked_fill(~mask, float("-inf"))
    index = (attention if prior is None else attention + prior).topk(k, dim=2).indices
    return index, attention.gather(2, index)


def hard_attention(attention: torch.Tensor, mask: torch.Tensor | None = None,
                   prior: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Hard(A ⊙ M) of main eq. 5, W~0R = Hard(A_C ⊙ M) W0R: every query's best key (``top_candidates`` with k = 1)
    -> (index (B, N_q) of the chosen key, confidence (B, N_q): its attention, without the prior)."""
    index, scores = top_candidates(attention, 1, mask, prior)
    return index[..., 0], scores[..., 0]


def gather_patches(values: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Each query takes the value of its key: values (B, D, N_k), index (B, N_q) -> (B, D, N_q)."""
    return torch.gather(values, 2, index[:, None].expand(-1, values.shape[1], -1))


def hard_warp(attention: torch.Tensor, values: torch.Tensor, out_size: tuple[int, int],
              mask: torch.Tensor | None = None, prior: torch.Tensor | None = None, candidates: int = 1
              ) -> Correspondence:
    """Hard(A ⊙ M) V (main eq. 5) as a ``Correspondence`` at out_size (h_q, w_q), with the ``candidates`` best
    keys of each query when more than one (W~0R_k = Hard_k(A ⊙ M) V).

    attention: (B, N_q, N_k); values: (B, D, h_k, w_k); mask, prior: see ``top_candidates``.
    """
    index, scores = top_candidates(attention, candidates, mask, prior)
    b, d, n = values.shape[0], values.shape[1], index.shape[1]
    maps = gather_patches(values.flatten(2), index.flatten(1)).view(b, d, n, candidates)
    match = Correspondence(maps[..., 0].reshape(b, d, *out_size), scores[..., 0].view(b, 1, *out_size),
                           index[..., 0])
    if candidates > 1:
        ranking = scores if prior is None else scores + prior.gather(2, index)
        match.candidates, match.scores, match.ranking, match.candidate_maps = index, scores, ranking, maps
    return match

CANDIDATE_FEATURES = 4 * STATS_CHANNELS + 1  # per candidate: S_R, S_R - T, S_R - Reinhard(S_S), S_R - S_S, A_C


class MatchRanker(nn.Module):
    """Learned re-ranking of each content patch's K best matches (beyond the paper): logits over the candidates
    from the patch's ASPP1 context (which sees w), each candidate's warped map W~0R_k and its colour relative to
    the content, the non-learned target and the global transfer. The logits start from the scores that ranked the
    candidates (A_C plus the colour prior) divided by ``temperature``: a zero-initialised output layer keeps the
    non-learned hard match (the first candidate) nearly alone, and alone with ``hard_ranking``.

    With ``colour`` False the candidate features are the attention alone (the semantic match decides, not how the
    candidate's colour relates to the content's).

    context: (B, C, h, w); maps W~0R_k: (B, D, h*w, K); features: (B, CANDIDATE_FEATURES or 1, h*w, K); scores:
    (B, h*w, K), the candidates' ranking scores, -inf for a masked candidate -> weights (B, h*w, K), a softmax over the K candidates.
    """

    def __init__(self, context_channels: int, style_dim: int, hidden: int, temperature: float, colour: bool = True):
        super().__init__()
        self.query = EqualConv2d(context_channels, hidden, 1, activate=False)
        self.key = EqualConv2d(style_dim, hidden, 1, activate=False)
        self.colour = EqualConv2d(CANDIDATE_FEATURES if colour else 1, hidden, 1, activate=False)
        self.out = EqualConv2d(hidden, 1, 1, activate=False)
        nn.init.zeros_(self.out.weight)
        self.temperature = temperature

    def forward(self, context: torch.Tensor, maps: torch.Tensor, features: torch.Tensor,
                scores: torch.Tensor) -> torch.Tensor:
        query = self.query(context).flatten(2)[..., None]  # (B, hidden, h*w, 1)
        hidden = F.relu(query + self.key(F.normalize(maps, dim=1)) + self.colour(features))
        valid = torch.isfinite(scores)
        logits = self.out(hidden)[:, 0] + (scores - scores[..., :1]).nan_to_num(neginf=0.0) / self.temperature
        return logits.masked_fill(~valid, float("-inf")).softmax(dim=-1)


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
        match_candidates: K, the best matches per content patch that the learned ranker (``MatchRanker``) weighs;
            1: no ranker, the hard match alone (main eq. 5).
        ranking_channels: hidden width of the ranker.
        ranking_temperature: the match score difference that the ranker's starting logits count as one nat.
        ranking_colour: the ranker also sees each candidate's colour relative to the content, T and the global
            transfer (False: only its W~0R_k, its attention and the patch's context).
        hard_ranking: at inference each patch takes its best-ranked candidate alone (the ranker trains with its
            soft weights); with a zero ranker output, the non-learned hard match.
        trust_range: bounds of the learned trust change a_trust (``correct``); (0, 1) lets P_W only trust the match
            more than the confidence ramp does, never fall back to the global transfer more.
    """

    @register_to_config
    def __init__(self, style_dim: int = 512, color_channels: tuple[int, ...] = (24, 40, 112),
                 hidden_channels: tuple[int, ...] = (512, 256, 128), aspp_rates: tuple[int, ...] = (1, 2, 4),
                 confidence_range: tuple[float, float] = (0.3, 0.6), colour_prior: tuple[float, float] = (0.1, 20.0),
                 transfer_smoothing: tuple[float, float] = (0.5, 10.0), match_candidates: int = 1,
                 ranking_channels: int = 32, ranking_temperature: float = 0.02, ranking_colour: bool = True,
                 hard_ranking: bool = True, trust_range: tuple[float, float] = (-1.0, 1.0)):
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
        self.ranker = (MatchRanker(h1, style_dim, ranking_channels, ranking_temperature, ranking_colour)
                       if match_candidates > 1 else None)
        for head in (self.statistics_head, *self.heads):  # start from T' = T and W = W0(base)
            nn.init.zeros_(head.weight)

    @staticmethod
    def correspond(content_semantic: torch.Tensor, reference_semantic: torch.Tensor, reference_map: torch.Tensor,
                   mask_ratio: float = 0.0, generator: torch.Generator | None = None,
                   prior: torch.Tensor | None = None, candidates: int = 1) -> Correspondence:
        """W~0R = Hard(A_C ⊙ M) W0R (main eqs. 4-5).

        content_semantic F_S: (B, f, h_s, w_s); reference_semantic F_R: (B, f, h_r, w_r);
        reference_map W0R: (B, D, h_r', w_r') (resized to F_R's grid); mask_ratio: share of reference patches
        hidden from the match (training only); prior: optional (B, h_s*w_s, h_r*w_r) added to A_C to choose the
        match (``match_prior``); candidates: K best matches kept per content patch (``hard_warp``).
        """
        attention = cosine_attention(content_semantic, reference_semantic)
        mask = None
        if mask_ratio > 0:
            keep = random_column_mask(attention.shape[0], attention.shape[2], mask_ratio, generator, attention.device)
            mask = keep[:, None, :] > 0
        values = resize_map(reference_map, reference_semantic.shape[-2:])
        return hard_warp(attention, values, tuple(content_semantic.shape[-2:]), mask, prior, candidates)

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
                statistics: tuple[torch.Tensor, ...], w: torch.Tensor, maps: bool = True,
                reference_stats: torch.Tensor | None = None) -> PredictorOutput:
        """(C1, C2, C3), W~0R with its confidence, statistics (S_S, T, S~R, whole S, whole R) and w (B, D) ->
        ``PredictorOutput``.

        ASPP1([W~0R, C3, statistics, conf], w) gives T' (``correct`` of ``statistics_head``'s output, on the
        ranker's blend of the K best matches when the correspondence has candidates; patches the user keeps,
        index -1, stay S_S) and dW1; ASPP2([up(out1), C2], w) dW2; ASPP3([up(out2), C1], w) dW3.
        S_S, T, S~R: (B, 6, h, w) on C3's grid (h, w = H/16, W/16); whole S, whole R: (B, 6, 1, 1);
        reference_stats S_R: (B, 6, h_r, w_r), needed with candidates. ``maps=False`` stops after ASPP1 (T' and dW1
        only: training the statistics alone).
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
                gathered, confidence = self.rerank(x, statistics, correspondence, reference_stats)
                corrected = self.correct(self.statistics_head(x), statistics, gathered, confidence,
                                         correspondence.index)
            residuals.append(head(x))
        return PredictorOutput(corrected, tuple(residuals))

    def rerank(self, context: torch.Tensor, statistics: tuple[torch.Tensor, ...], correspondence: Correspondence,
               reference_stats: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """The matched statistics and their match score: S~R = sum_k p_k S_R(j_k) and c = sum_k p_k A_C(i, j_k)
        with the ranker's weights p over the K candidates j_k (one-hot on the best at inference with
        ``hard_ranking``); S~R and the best match's score as they are without candidates or ranker.
        context: ASPP1's output (B, C, h, w); statistics as ``forward``; reference_stats S_R
        (B, 6, h_r, w_r) -> ((B, 6, h, w), (B, 1, h, w))."""
        content, target, gathered, content_whole, reference_whole = statistics
        if self.ranker is None or correspondence.candidates is None:
            return gathered, correspondence.confidence
        b, n, k = correspondence.candidates.shape
        candidates = gather_patches(reference_stats.flatten(2), correspondence.candidates.flatten(1)).view(b, -1, n, k)
        scores = correspondence.scores
        features = scores.nan_to_num(neginf=0.0)[:, None]
        if self.config.ranking_colour:
            norm = normalize_statistics(candidates)
            anchors = [normalize_statistics(a).flatten(2)[..., None]
                       for a in (target, global_transfer(content, content_whole, reference_whole), content)]
            features = torch.cat([norm, *(norm - a for a in anchors), features], dim=1)
        weights = self.ranker(context, correspondence.candidate_maps, features, correspondence.ranking)  # (B, N, K)
        if self.config.hard_ranking and not self.training:
            weights = F.one_hot(weights.argmax(-1), k).to(weights)
        blend = (candidates * weights[:, None]).sum(-1).view_as(gathered)
        score = (scores.nan_to_num(neginf=0.0) * weights).sum(-1).view_as(correspondence.confidence)
        return blend, score

    def correct(self, head: torch.Tensor, statistics: tuple[torch.Tensor, ...], gathered: torch.Tensor,
                confidence: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """T' = Smooth(c' S~R + (1 - c') Reinhard(S_S)) with a learned trust c' = clamp(c + a_trust, 0, 1) in the
        match (c: the confidence ramp of the match score; a_trust within ``trust_range``), then the contrast moved
        toward the content's own, std' = std + a_contrast (S_S std - std), a_contrast in [0, 1]. The same joint
        bilateral smoothing as T keeps one material one colour; the head decides per patch how far to trust the
        match or the global fallback (a grey reference, content the reference lacks) and cannot invent a colour.
        Zero-initialised (and without a ranker): T' = T. Patches the user keeps (index -1) stay S_S: the smoothing
        keeps them and their contrast is their own.

        head: (B, 2, h, w) (a_trust, a_contrast); statistics as ``forward``; gathered S~R (B, 6, h, w) and the
        match score (B, 1, h, w) (``rerank``); index: the match's (B, h*w) -> T' (B, 6, h, w).
        """
        content, _, _, content_whole, reference_whole = statistics
        trust = confidence_weight(confidence, tuple(self.config.confidence_range))
        trust = (trust + head[:, :1].clamp(*self.config.trust_range)).clamp(0, 1)
        blend = trust * gathered + (1 - trust) * global_transfer(content, content_whole, reference_whole)
        keep = (index < 0).view_as(trust)
        target = smooth_transfer(content, blend, trust, keep, tuple(self.config.transfer_smoothing))
        contrast = head[:, 1:2].clamp(0, 1)
        return torch.cat([target[:, :3], target[:, 3:] + contrast * (content[:, 3:] - target[:, 3:])], dim=1)
