"""The tensor-level steps of ``RecolorPipeline`` on (B, 3, r, r) working-resolution batches (main Fig. 3), used by
training, the app and the pipeline itself: frozen features (``features``), the correspondence (``match``), P_W's
target statistics and maps (``colour_targets``, ``predict``) and G' at a strength (``render``).
"""

from dataclasses import dataclass, field
from typing import Callable

import PIL.Image
import torch

from .guidance import RegionEdit
from .models.colour import patch_statistics, rgb_to_lab
from .models.correspondence import Correspondence, colour_prior, correspond
from .models.layers import resize_map
from .models.transfer import local_transfer, target_statistics
from .strength import interpolate_maps, interpolate_statistics


@dataclass
class RecolorLatents:
    """Everything needed to re-render a result at another strength without re-running the predictor.

    maps: predicted (W1, W2, W3); base_map: W0(base) (B, D, h, w), the maps' starting point; correspondence: the
    match used; content_stats, target_stats: S_S and T' (B, 6, h, w); content_low: working-resolution contents
    (B, 3, r, r); contents: the full-resolution contents (empty for tensor-level use); learned: False for the
    base-only path (no trained network: ``render`` returns the base image); edit: the pixel-level edit of a
    guidance's kept and painted regions (``guidance.RegionEdit``), or None.
    """

    maps: tuple[torch.Tensor, ...]
    base_map: torch.Tensor
    correspondence: Correspondence
    content_stats: torch.Tensor
    target_stats: torch.Tensor
    content_low: torch.Tensor
    contents: list[PIL.Image.Image] = field(default_factory=list)
    learned: bool = True
    edit: RegionEdit | None = None


@dataclass
class PairFeatures:
    """The frozen and non-learned inputs of P_W for a batch of pairs (what a training cache stores).

    colour: content colour features (C1, C2, C3) at 1/4, 1/8, 1/16; content_semantic F_S (B, f, h_s, w_s),
    reference_semantic F_R (B, f, h_r, w_r); code: w = E_w(I_S, I_R) (B, D); reference_map: W0R = E_W(I_R, I_R)
    (B, D, h, w); content_stats S_S, reference_stats S_R: (B, 6, h, w) patch Lab statistics on F_S's / F_R's grid;
    content_whole, reference_whole: (B, 6, 1, 1) whole-image Lab statistics.
    """

    colour: tuple[torch.Tensor, ...]
    content_semantic: torch.Tensor
    reference_semantic: torch.Tensor
    code: torch.Tensor
    reference_map: torch.Tensor
    content_stats: torch.Tensor
    reference_stats: torch.Tensor
    content_whole: torch.Tensor
    reference_whole: torch.Tensor


@dataclass
class ReferenceFeatures:
    """The parts of ``PairFeatures`` that depend on the reference alone (``RecolorPipeline.reference_features``):
    computed once, they serve every content re-coloured like that reference (a video's frames). semantic F_R,
    map W0R, stats S_R, whole: its whole-image statistics; batch 1 serves any batch of contents."""

    semantic: torch.Tensor
    map: torch.Tensor
    stats: torch.Tensor
    whole: torch.Tensor


class RecolorSteps:
    """The steps as methods of a pipeline with the components ``generator`` G', ``latent_encoder`` E_w,
    ``map_encoder`` E_W, ``predictor`` P_W and ``backbone`` (``RecolorPipeline``)."""

    def self_code(self, image: torch.Tensor) -> torch.Tensor:
        """w0(I) = E_w(I, I): (B, 3, H, W) -> (B, D), the image's global style (main §3.3)."""
        return self.latent_encoder(image, image)

    def self_map(self, image: torch.Tensor) -> torch.Tensor:
        """W0(I) = E_W(I, I): (B, 3, H, W) -> (B, D, H/16, W/16), the image's local colour (main §3.3)."""
        return self.map_encoder(image, image)

    def reference_features(self, reference: torch.Tensor) -> ReferenceFeatures:
        """The reference-only inputs of P_W for a (B, 3, r, r) reference: F_R, W0R, S_R and its whole-image
        statistics (``ReferenceFeatures``), to compute once and pass to ``features`` for many contents."""
        _, semantic_r = self.backbone(reference)
        reference_lab = rgb_to_lab(reference)
        return ReferenceFeatures(semantic_r, self.self_map(reference),
                                 patch_statistics(reference_lab, tuple(semantic_r.shape[-2:])),
                                 patch_statistics(reference_lab, (1, 1)))

    def features(self, content: torch.Tensor, reference: torch.Tensor,
                 reference_features: ReferenceFeatures | None = None) -> PairFeatures:
        """The frozen and non-learned inputs of P_W for (B, 3, r, r) content and reference (``PairFeatures``);
        ``reference_features``: the reference's from ``reference_features(reference)``, reused (the code w
        depends on both images and is always computed)."""
        ref = self.reference_features(reference) if reference_features is None else reference_features
        colour_s, semantic_s = self.backbone(content)
        content_lab = rgb_to_lab(content)
        return PairFeatures(
            colour=tuple(colour_s), content_semantic=semantic_s, reference_semantic=ref.semantic,
            code=self.latent_encoder(content, reference), reference_map=ref.map,
            content_stats=patch_statistics(content_lab, tuple(semantic_s.shape[-2:])), reference_stats=ref.stats,
            content_whole=patch_statistics(content_lab, (1, 1)), reference_whole=ref.whole)

    def match(self, features: PairFeatures, mask_ratio: float = 0.0, rng: torch.Generator | None = None,
              guide: Callable | None = None, content: torch.Tensor | None = None) -> Correspondence:
        """The automatic correspondence W~0R = Hard(A_C ⊙ M) W0R with the colour prior, or ``guide``'s (which
        also gets W0(content) of the (B, 3, r, r) ``content`` and the automatic match, for the patches its clicks
        leave free)."""
        f = features
        prior = colour_prior(f.content_stats, f.reference_stats)
        automatic = correspond(f.content_semantic, f.reference_semantic, f.reference_map, mask_ratio, rng, prior,
                               self.predictor.config.match_candidates)
        if guide is None:
            return automatic
        if content is None:
            raise ValueError("a guided match needs the content (B, 3, r, r) for W0(content)")
        return guide(f.content_semantic, f.reference_semantic, f.reference_map, self.self_map(content),
                     automatic=automatic)

    def colour_targets(self, features: PairFeatures, match: Correspondence, learned: bool = True,
                       maps: bool = True, fallback: str = "global"
                       ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...] | None]:
        """(T', residuals): P_W's learned target statistics (B, 6, h, w) and map residuals (dW1, dW2, dW3) for
        ``features`` and ``match`` (``maps=False``: dW1 only); with ``learned=False`` the non-learned target T and
        None. ``fallback``: what content with a distrusted match moves to, one of ``fallback.FALLBACKS``
        (``transfer.fallback_statistics``)."""
        f = features
        target, gathered, moved = target_statistics(f.content_stats, f.reference_stats, match.index,
                                                    match.confidence, tuple(self.predictor.config.confidence_range),
                                                    f.content_whole, f.reference_whole, fallback=fallback)
        if not learned:
            return target, None
        statistics = (f.content_stats, target, gathered, f.content_whole, f.reference_whole)
        output = self.predictor(f.colour, match, statistics, f.code, maps, f.reference_stats, fallback=moved)
        return output.target_stats, output.residuals

    def predict_from(self, content: torch.Tensor, features: PairFeatures, match: Correspondence,
                     learned: bool = True, fallback: str = "global") -> RecolorLatents:
        """P_W on precomputed ``features`` and ``match`` for the (B, 3, r, r) content -> ``RecolorLatents``.

        ``learned=False`` is the base-only path: no trained network, T' = T, maps W0(base), and ``render`` returns
        the base image without G'. ``fallback``: see ``colour_targets``.
        """
        target, residuals = self.colour_targets(features, match, learned, fallback=fallback)
        base_map = self.self_map(local_transfer(content, features.content_stats, target))
        residuals = residuals or (torch.zeros_like(base_map),) * 3
        maps = tuple(resize_map(base_map, r.shape[-2:]) + r for r in residuals)
        return RecolorLatents(maps, base_map, match, features.content_stats, target, content, learned=learned)

    def predict(self, content: torch.Tensor, reference: torch.Tensor, mask_ratio: float = 0.0,
                rng: torch.Generator | None = None, guide: Callable | None = None,
                learned: bool = True, reference_features: ReferenceFeatures | None = None,
                fallback: str = "global") -> RecolorLatents:
        """P_W(I_S, I_R): (B, 3, r, r) x2 -> ``RecolorLatents`` (maps, W0(base), match, S_S, T'; no contents).

        ``guide(content_semantic, reference_semantic, reference_map, content_map, automatic=) -> Correspondence``
        replaces the automatic match (user clicks / masks, supp. C.5-C.6); a guide with a method
        ``edit(content, reference, match)`` (``guidance.Guidance``) also gives the pixel-level edit of kept and
        painted regions that ``render`` applies last; ``learned=False``: see ``predict_from``;
        ``reference_features``: the reference's, computed once (``features``); ``fallback``: see ``colour_targets``.
        """
        features = self.features(content, reference, reference_features)
        match = self.match(features, mask_ratio, rng, guide, content)
        latents = self.predict_from(content, features, match, learned, fallback)
        if hasattr(guide, "edit"):
            latents.edit = guide.edit(content, reference, match)
        return latents

    def render(self, latents: RecolorLatents, alpha: float = 1.0, paint: bool = True) -> torch.Tensor:
        """I_P = G'(base_alpha, W0(base_alpha) + alpha (W - W0(base))): -> (B, 3, r, r) at the working size.

        base_alpha is the content moved to the statistics S_S + alpha (T' - S_S); alpha 0 is the content's
        self-reconstruction G'(I_S, W0S), alpha 1 the prediction G'(base, W). Base-only latents
        (``learned=False``) give base_alpha itself. A guidance's ``edit`` (kept and, with ``paint``, painted regions)
        comes last.
        """
        stats = interpolate_statistics(latents.content_stats, latents.target_stats, alpha)
        image = local_transfer(latents.content_low, latents.content_stats, stats)
        if latents.learned:
            start_map = latents.base_map if alpha == 1 else self.self_map(image)
            image = self.generator(image, maps=interpolate_maps(latents.maps, latents.base_map, alpha, start_map))
        return image if latents.edit is None else latents.edit.apply(latents.content_low, image, alpha, paint)
