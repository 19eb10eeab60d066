"""LatentMapPredictor P_W(I_S, I_R) -> W = (W1, W2, W3) (main §3.4), and the learned target colours T'.

P_W takes the match W~0R = Hard(A_C ⊙ M) W0R (``correspondence``) and predicts (``forward``) with three ASPP
modules whose pooling branch is the global code w: ASPP1([W~0R, C3, statistics, conf], w) -> W1,
ASPP2([up(out1), C2], w) -> W2, ASPP3([up(out2), C1], w) -> W3. ``conf`` is the similarity of the chosen match (our
reading of the mask channel M fed to ASPP1).

Beyond the paper: the statistics fed to ASPP1 include the non-learned target T of ``transfer``. From ASPP1's
features P_W also predicts the learned target T' (``statistics_head``, ``correct``): per patch a learned trust in
the match against the global fallback, smoothed as T is, and how much of the content's own contrast to keep (a grey
reference, content the reference lacks); optionally a learned affinity (``affinity_head``): an embedding whose
distances join the smoothing kernel, so that patches P_W sees as one region share one transfer (the DPST oracle's
structure: one colour move per semantic region); with K match candidates a learned ranker (``MatchRanker``,
``rerank``) chooses among them. The generator re-renders the content moved to T' (the "base" image), and each map
is predicted as a residual on the base's self-reconstruction map W0(base); zero-initialised heads (and a zero
affinity) reproduce the non-learned transfer. ASPP1's inputs are normalised per group (W~0R, C3: layer norm;
statistics: fixed Lab scales) so that none swamps the others.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

from .colour import STATS_CHANNELS, normalize_statistics
from .config import RenamedConfigKeys
from .correspondence import COLOUR_PRIOR, Correspondence, gather_patches
from .layers import ASPPWithCode, EqualConv2d
from .transfer import TRANSFER_SMOOTHING, confidence_weight, global_transfer, trusted_target

STATISTICS_INPUTS = 5  # S_S, T, S~R, whole-image S and R: the statistics groups fed to ASPP1
STATISTICS_HEAD = ("trust", "contrast")  # the statistics head's outputs: trust in the match, the content's contrast
AFFINITY_INIT_STD = 0.01  # std of the affinity head's initial weights: e = 0 is a stationary point, so not zero
# (a plain conv: the equalised learning rate of EqualConv2d would leave so small a start there for thousands of steps)


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


class LatentMapPredictor(RenamedConfigKeys, ModelMixin, ConfigMixin):
    """P_W: content colour features, the warped reference map, the matched statistics and the global code w ->
    learned target statistics T' and latent map residuals dW1, dW2, dW3.

    Args:
        style_dim: D, channels of W0R and of the predicted maps.
        colour_channels: widths of C1, C2, C3 (content colour features at 1/4, 1/8, 1/16); configs saved with
            ``color_channels`` load too.
        hidden_channels: widths of the ASPP1, ASPP2, ASPP3 outputs.
        aspp_rates: dilation rates of the 3x3 branches of each ASPP.
        confidence_range: match scores (cosine) below the first value use the global colour transfer, above the
            second the matched reference patch's colour, linearly in between.
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
        affinity_channels: E, width of the learned affinity embedding added to the smoothing kernel of T'
            (``transfer.smooth_transfer``); 0: none, the non-learned kernel.
    """

    # the colour prior and the transfer smoothing left the config for module constants (not learned)
    RETIRED_KEYS = {"colour_prior": COLOUR_PRIOR, "transfer_smoothing": TRANSFER_SMOOTHING}
    RENAMED_KEYS = {"color_channels": "colour_channels"}

    @register_to_config
    def __init__(self, style_dim: int = 512, colour_channels: tuple[int, ...] = (24, 40, 112),
                 hidden_channels: tuple[int, ...] = (512, 256, 128), aspp_rates: tuple[int, ...] = (1, 2, 4),
                 confidence_range: tuple[float, float] = (0.3, 0.6), match_candidates: int = 1,
                 ranking_channels: int = 32, ranking_temperature: float = 0.02, ranking_colour: bool = True,
                 hard_ranking: bool = True, trust_range: tuple[float, float] = (-1.0, 1.0),
                 affinity_channels: int = 0):
        super().__init__()
        c1, c2, c3 = colour_channels
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
        self.affinity_head = nn.Conv2d(h1, affinity_channels, 1) if affinity_channels else None
        if self.affinity_head is not None:  # near e = 0: T' starts (almost) at T
            nn.init.normal_(self.affinity_head.weight, std=AFFINITY_INIT_STD)
            nn.init.zeros_(self.affinity_head.bias)

    def with_affinity(self, channels: int) -> "LatentMapPredictor":
        """This P_W with a fresh ``affinity_head`` of ``channels`` (0: none) and all its other weights."""
        grown = type(self).from_config(self.config, affinity_channels=channels)
        missing, unexpected = grown.load_state_dict(self.state_dict(), strict=False)
        if any(not k.startswith("affinity_head.") for k in missing + unexpected):
            raise ValueError(f"P_W's weights do not fit its config: missing {missing}, unexpected {unexpected}")
        return grown.to(self.device)

    def forward(self, colour_features: tuple[torch.Tensor, ...], correspondence: Correspondence,
                statistics: tuple[torch.Tensor, ...], w: torch.Tensor, maps: bool = True,
                reference_stats: torch.Tensor | None = None, fallback: torch.Tensor | None = None) -> PredictorOutput:
        """(C1, C2, C3), W~0R with its confidence, statistics (S_S, T, S~R, whole S, whole R) and w (B, D) ->
        ``PredictorOutput``.

        ASPP1([W~0R, C3, statistics, conf], w) gives T' (``correct`` of ``statistics_head``'s and ``affinity_head``'s
        outputs, on the ranker's blend of the K best matches when the correspondence has candidates; patches the
        user keeps, index -1, stay S_S) and dW1; ASPP2([up(out1), C2], w) dW2; ASPP3([up(out2), C1], w) dW3.
        S_S, T, S~R: (B, 6, h, w) on C3's grid (h, w = H/16, W/16); whole S, whole R: (B, 6, 1, 1);
        reference_stats S_R: (B, 6, h_r, w_r), needed with candidates; fallback (B, 6, h, w): the target of
        distrusted matches in place of Reinhard(S_S) (``transfer.fallback_statistics``; None: Reinhard(S_S)).
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
                gathered, confidence = self.rerank(x, statistics, correspondence, reference_stats)
                affinity = None if self.affinity_head is None else self.affinity_head(x)
                corrected = self.correct(self.statistics_head(x), statistics, gathered, confidence,
                                         correspondence.index, affinity, fallback)
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
        scores = correspondence.scores.nan_to_num(neginf=0.0)  # a masked candidate's -inf as 0 (it gets no weight)
        features = scores[:, None]
        if self.config.ranking_colour:
            norm = normalize_statistics(candidates)
            anchors = [normalize_statistics(a).flatten(2)[..., None]
                       for a in (target, global_transfer(content, content_whole, reference_whole), content)]
            features = torch.cat([norm, *(norm - a for a in anchors), features], dim=1)
        weights = self.ranker(context, correspondence.candidate_maps, features, correspondence.ranking)  # (B, N, K)
        if self.config.hard_ranking and not self.training:
            weights = F.one_hot(weights.argmax(-1), k).to(weights)
        blend = (candidates * weights[:, None]).sum(-1).view_as(gathered)
        score = (scores * weights).sum(-1).view_as(correspondence.confidence)
        return blend, score

    def correct(self, head: torch.Tensor, statistics: tuple[torch.Tensor, ...], gathered: torch.Tensor,
                confidence: torch.Tensor, index: torch.Tensor, affinity: torch.Tensor | None = None,
                fallback: torch.Tensor | None = None) -> torch.Tensor:
        """T' = Smooth(c' S~R + (1 - c') Reinhard(S_S)) with a learned trust c' = clamp(c + a_trust, 0, 1) in the
        match (c: the confidence ramp of the match score; a_trust within ``trust_range``), then the contrast moved
        toward the content's own, std' = std + a_contrast (S_S std - std), a_contrast in [0, 1]. The same joint
        bilateral smoothing as T keeps one material one colour; the head decides per patch how far to trust the
        match or the global fallback (a grey reference, content the reference lacks) and cannot invent a colour; the
        learned ``affinity`` (B, E, h, w), if any, joins the smoothing kernel (which patches share a transfer).
        Zero-initialised (and without a ranker): T' = T. Patches the user keeps (index -1) stay S_S: the smoothing
        keeps them and their contrast is their own.

        head: (B, 2, h, w) (a_trust, a_contrast); statistics as ``forward``; gathered S~R (B, 6, h, w) and the
        match score (B, 1, h, w) (``rerank``); index: the match's (B, h*w); fallback (B, 6, h, w) or None: in place
        of Reinhard(S_S) -> T' (B, 6, h, w).
        """
        content, _, _, content_whole, reference_whole = statistics
        trust = confidence_weight(confidence, tuple(self.config.confidence_range))
        trust = (trust + head[:, :1].clamp(*self.config.trust_range)).clamp(0, 1)
        keep = (index < 0).view_as(trust)
        target = trusted_target(content, gathered, trust, keep, content_whole, reference_whole,
                                affinity=affinity, fallback=fallback)
        contrast = head[:, 1:2].clamp(0, 1)
        return torch.cat([target[:, :3], target[:, 3:] + contrast * (content[:, 3:] - target[:, 3:])], dim=1)
