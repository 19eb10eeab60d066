"""User-guided correspondence: clicks and masks turned into the warped reference feature W~0R (supp. C.5, C.6).

Points are normalised image coordinates (x, y) in [0, 1] (x to the right, y down); the networks see square
working images, so a point maps onto the 1/16 patch grid the same way whatever the photo's aspect ratio.

Clicks (supp. eq. 2). A pair (s, r) sets A_C(r, s) = 1: content patch s takes the reference's W0R at r; a
"keep" point sets A_U(s, s) = 1: content patch s keeps its own W0S. This gives the sparse warped feature
Ŵ0R = A_C W0R + A_U W0S on the assigned patches c. Every other content patch then takes the value of the
assigned patch most similar to it: W~0R = Hard(A_S ⊙ c) Ŵ0R, with A_S the cosine self-attention of the content's
semantic features.

Masks (supp. eq. 1, two-step correspondence). Content patches inside ``content_mask`` are matched by the
automatic cross-attention restricted to the reference patches inside ``reference_mask``,
Ŵ0R = Hard(M ⊙ A_C) W0R; the other content patches are filled by self-attention from them as above. A missing
mask means the whole image. The paper marks the content region to *exclude* from the cross-attention; here the
painted region is the one to *include*, so that painting a region on each image says "these correspond".
Clicks override mask matches.

The guide returns a ``Correspondence``: confidence is the match certainty fed to P_W: 1 for clicked pairs
(A_C(r, s) = 1) and keep points, the cross-attention for mask matches, the self-attention for propagated
patches; index is the reference patch each content patch takes its colour from, or -1 where the value is the
content's own W0S (keep points).
"""

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from .models.layers import resize_map
from .models.predictor import Correspondence, cosine_attention, gather_patches, hard_attention

Point = tuple[float, float]
ASPECT_TOLERANCE = 0.02  # a mask may differ from its image's aspect ratio by this share (rounding of resizes)


def check_point(point, name: str) -> Point:
    """A point must be two finite numbers in [0, 1]."""
    try:
        x, y = (float(v) for v in point)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an (x, y) pair of numbers, got {point!r}") from None
    if not (np.isfinite(x) and np.isfinite(y) and 0 <= x <= 1 and 0 <= y <= 1):
        raise ValueError(f"{name} = ({x}, {y}) is outside the image: coordinates are normalised to [0, 1]")
    return x, y


def check_mask(mask, name: str) -> np.ndarray | None:
    """A mask must be a non-empty 2-D array (nonzero = inside); returns it as bool."""
    if mask is None:
        return None
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"{name} must be an (H, W) array, got shape {mask.shape}")
    mask = mask.astype(bool)
    if not mask.any():
        raise ValueError(f"{name} is empty: paint at least one region or leave it out")
    return mask


def patch_of(point: Point, grid: tuple[int, int]) -> int:
    """Row-major index of the patch of a (h, w) grid containing a normalised point."""
    h, w = grid
    return min(int(point[1] * h), h - 1) * w + min(int(point[0] * w), w - 1)


def patch_mask(mask: np.ndarray | None, grid: tuple[int, int], device) -> torch.Tensor:
    """(H, W) bool mask -> (h*w,) bool over the patch grid: patches at least half covered; if none is, the most
    covered one (a stroke thinner than a patch still counts). No mask: every patch."""
    if mask is None:
        return torch.ones(grid[0] * grid[1], dtype=torch.bool, device=device)
    cover = F.interpolate(torch.from_numpy(mask).float()[None, None], size=grid, mode="area").flatten().to(device)
    inside = cover >= 0.5
    if not inside.any():
        inside[cover.argmax()] = True
    return inside


@dataclass
class Guidance:
    """User guidance in normalised coordinates (see the module docstring).

    pairs: [(content_xy, reference_xy)], "this content region takes that reference region's colour" (A_C);
    keep: [content_xy], "keep this content region's colour" (A_U);
    content_mask, reference_mask: optional (H, W) bool arrays of any resolution for the two-step correspondence.
    """

    pairs: list[tuple[Point, Point]] = field(default_factory=list)
    keep: list[Point] = field(default_factory=list)
    content_mask: np.ndarray | None = None
    reference_mask: np.ndarray | None = None

    def __post_init__(self):
        self.pairs = [(check_point(s, f"pairs[{i}] content"), check_point(r, f"pairs[{i}] reference"))
                      for i, (s, r) in enumerate(self.pairs)]
        self.keep = [check_point(p, f"keep[{i}]") for i, p in enumerate(self.keep)]
        self.content_mask = check_mask(self.content_mask, "content_mask")
        self.reference_mask = check_mask(self.reference_mask, "reference_mask")
        if not self.pairs and not self.keep and self.content_mask is None and self.reference_mask is None:
            raise ValueError("the guidance is empty: give a pair, a keep point or a mask")

    def check_sizes(self, content_size: tuple[int, int] | None, reference_size: tuple[int, int] | None) -> None:
        """Each mask must have its image's aspect ratio (sizes are PIL (W, H); None skips the check)."""
        for name, mask, size in (("content", self.content_mask, content_size),
                                 ("reference", self.reference_mask, reference_size)):
            if mask is None or size is None:
                continue
            mask_ratio, image_ratio = mask.shape[1] / mask.shape[0], size[0] / size[1]
            if abs(mask_ratio / image_ratio - 1) > ASPECT_TOLERANCE:
                raise ValueError(f"{name}_mask is {mask.shape[1]}x{mask.shape[0]} but the {name} image is "
                                 f"{size[0]}x{size[1]}: the mask must be drawn on that image")

    def as_guide(self, content_size: tuple[int, int] | None = None,
                 reference_size: tuple[int, int] | None = None) -> Callable[..., Correspondence]:
        """The ``guide`` callable for ``RecolorPipeline`` (masks checked against the image sizes if given)."""
        self.check_sizes(content_size, reference_size)
        return self.correspond

    def correspond(self, content_semantic: torch.Tensor, reference_semantic: torch.Tensor,
                   reference_map: torch.Tensor, content_map: torch.Tensor) -> Correspondence:
        """F_S (B, f, hs, ws), F_R (B, f, hr, wr), W0R, W0S -> W~0R on F_S's grid (supp. eqs. 1-2)."""
        b, _, hs, ws = content_semantic.shape
        grid_s, grid_r = (hs, ws), tuple(reference_semantic.shape[-2:])
        device = content_semantic.device
        ref_values = resize_map(reference_map, grid_r).flatten(2)  # (B, D, Nr)
        content_values = resize_map(content_map, grid_s).flatten(2)  # (B, D, Ns)
        cross = cosine_attention(content_semantic, reference_semantic)  # A_C: (B, Ns, Nr)

        sparse = torch.zeros_like(content_values)  # Ŵ0R
        confidence = torch.zeros(b, hs * ws, device=device, dtype=cross.dtype)
        index = torch.full((b, hs * ws), -1, dtype=torch.long, device=device)
        assigned = torch.zeros(hs * ws, dtype=torch.bool, device=device)  # c

        if self.content_mask is not None or self.reference_mask is not None:  # Hard(M ⊙ A_C) W0R
            rows = patch_mask(self.content_mask, grid_s, device)
            columns = patch_mask(self.reference_mask, grid_r, device)
            match, best = hard_attention(cross, columns[None, None])
            matched = gather_patches(ref_values, match)
            sparse[:, :, rows], confidence[:, rows], index[:, rows] = matched[:, :, rows], best[:, rows], match[:, rows]
            assigned |= rows
        for content_xy, reference_xy in self.pairs:  # A_C W0R
            s, r = patch_of(content_xy, grid_s), patch_of(reference_xy, grid_r)
            sparse[:, :, s], confidence[:, s], index[:, s] = ref_values[:, :, r], 1.0, r
            assigned[s] = True
        for content_xy in self.keep:  # A_U W0S
            s = patch_of(content_xy, grid_s)
            sparse[:, :, s], confidence[:, s], index[:, s] = content_values[:, :, s], 1.0, -1
            assigned[s] = True

        # W~0R = Hard(A_S ⊙ c) Ŵ0R: each patch copies its most similar assigned patch; assigned ones keep theirs.
        nearest, similarity = hard_attention(cosine_attention(content_semantic, content_semantic), assigned[None, None])
        own = torch.arange(hs * ws, device=device).expand(b, -1)
        nearest = torch.where(assigned, own, nearest)
        warped = gather_patches(sparse, nearest)
        confidence = torch.where(assigned, confidence, similarity)
        index = torch.gather(index, 1, nearest)
        return Correspondence(warped.view(b, -1, hs, ws), confidence.view(b, 1, hs, ws), index)
