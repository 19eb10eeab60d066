"""User-guided correspondence: clicks and painted regions turned into the warped reference feature W~0R
(supp. C.5, C.6), and the pixel-level edit that makes kept and painted regions exact at their edges.

Points are normalised image coordinates (x, y) in [0, 1] (x to the right, y down); the networks see square
working images, so a point maps onto the 1/16 patch grid the same way whatever the photo's aspect ratio.

Clicks (supp. eq. 2). A pair (s, r) sets A_C(r, s) = 1: content patch s takes the reference's W0R at r; a
"keep" point sets A_U(s, s) = 1: content patch s keeps its own W0S. This gives the sparse warped feature
Ŵ0R = A_C W0R + A_U W0S on the assigned patches c. A free patch then takes the value of the assigned patch most
similar to it, W~0R = Hard(A_S ⊙ c) Ŵ0R (A_S: the cosine self-attention of the content's semantic features), but
only where that similarity reaches PROPAGATION_THRESHOLD: a click speaks for its region, and the other patches
keep the automatic match (``automatic``, the pipeline's Hard(A_C) with its colour prior).

Painted regions (supp. C.5, read as region-to-region transfer). The painted content region takes the painted
reference region's CIELAB statistics as a whole, as the DPST mask oracle does (eval.benchmark.mask_oracle): each
pixel moves by (lab - mean_S) gain + mean_R with gain = std_R / std_S per channel. A missing mask means the whole
image. Painting leaves the correspondence alone: ``RegionEdit.apply_full`` applies the transfer per pixel of the
full-resolution result, inside the painted mask only, so everything outside it is the result without the painting
(a rendered low-resolution painting would reach past the mask through the full-resolution step). Inside a painted
region the painting wins over clicks.

Edges. Kept patches are 1/16 of the image: their pixel-level mask is the patch mask upsampled by joint bilateral
upsampling guided by the content's Lab colours (``edge_aware_weight``) and cut at one half, so the boundary follows
the photo's edges; kept pixels are the content's, at the working resolution (``RegionEdit.apply``) and again at
full resolution (``RegionEdit.apply_full``), where the full-resolution step would blend them with their
re-coloured neighbours (a halo).

The guide returns a ``Correspondence``: confidence is the match certainty fed to P_W: 1 for clicked pairs
(A_C(r, s) = 1) and keep points, the self-attention for propagated patches, the automatic match's score
elsewhere; index is the reference patch each content patch takes its colour from, or -1 where the statistics path
keeps the content's own (keep points).
"""

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from .models.colour import lab_to_rgb, rgb_to_lab
from .models.layers import resize_map
from .models.transfer import move_lab
from .models.correspondence import Correspondence, correspond, cosine_attention, gather_patches, hard_attention
from .strength import interpolate_statistics

Point = tuple[float, float]
ASPECT_TOLERANCE = 0.02  # a mask may differ from its image's aspect ratio by this share (rounding of resizes)
PROPAGATION_THRESHOLD = 0.5  # cosine similarity (A_S) from which a free patch follows its most similar click
EDGE_RADIUS = 1  # joint bilateral upsampling: patches within this many patches of a pixel's own vote on it
EDGE_SIGMAS = (0.5, 8.0)  # (spatial sigma in patches, Lab sigma) of that upsampling
MIN_REGION_PIXELS = 16  # a painted region's statistics need this many working-resolution pixels


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


def coverage(mask: np.ndarray, grid: tuple[int, int], device) -> torch.Tensor:
    """(H, W) bool mask -> (h, w) float: the share of each cell of a (h, w) grid that is inside."""
    return F.interpolate(torch.from_numpy(mask).float()[None, None], size=grid, mode="area")[0, 0].to(device)


def patch_mask(mask: np.ndarray | None, grid: tuple[int, int], device) -> torch.Tensor:
    """(H, W) bool mask -> (h*w,) bool over the patch grid: patches at least half covered; if none is, the most
    covered one (a stroke thinner than a patch still counts). No mask: every patch."""
    if mask is None:
        return torch.ones(grid[0] * grid[1], dtype=torch.bool, device=device)
    cover = coverage(mask, grid, device).flatten()
    inside = cover >= 0.5
    if not inside.any():
        inside[cover.argmax()] = True
    return inside


def region_statistics(lab: torch.Tensor, mask: np.ndarray | None,
                      grid: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Lab mean and std (each (B, 3, 1, 1)) of the pixels of (B, 3, r, r) ``lab`` inside ``mask`` (any size,
    resized to r x r: pixels at least half covered, or the painted patches of ``patch_mask`` on the patch ``grid``
    for a stroke too thin for that); no mask: the whole image."""
    size = tuple(lab.shape[-2:])
    if mask is None:
        inside = torch.ones(size, dtype=torch.bool, device=lab.device)
    else:
        inside = coverage(mask, size, lab.device) >= 0.5
        if inside.sum() < MIN_REGION_PIXELS:
            cells = patch_mask(mask, grid, lab.device).view(1, 1, *grid).float()
            inside = F.interpolate(cells, size=size, mode="nearest")[0, 0] > 0
    pixels = lab[:, :, inside]  # (B, 3, N)
    return pixels.mean(-1)[..., None, None], pixels.std(-1, unbiased=False)[..., None, None]


def edge_aware_weight(cells: torch.Tensor, lab: torch.Tensor) -> torch.Tensor:
    """Joint bilateral upsampling of a patch mask guided by the image's colours (Kopf et al. 2007).

    cells (B, 1, h, w) in [0, 1] on the patch grid; lab (B, 3, H, W) the image in CIELAB -> (B, 1, H, W): each pixel
    averages the cells within EDGE_RADIUS patches of its own, weighted by exp(-d^2 / 2 s_p^2 - |lab - mean_q|^2 /
    2 s_c^2) with d the distance to cell q's centre in patches, mean_q the cell's mean colour, (s_p, s_c) EDGE_SIGMAS,
    so a boundary between patches moves to the nearest colour edge.
    """
    (h, w), size = cells.shape[-2:], lab.shape[-2:]
    spatial, colour = EDGE_SIGMAS
    means = F.adaptive_avg_pool2d(lab, (h, w))
    ys = (torch.arange(size[0], device=lab.device, dtype=lab.dtype) + 0.5) * h / size[0] - 0.5  # pixel rows, patches
    xs = (torch.arange(size[1], device=lab.device, dtype=lab.dtype) + 0.5) * w / size[1] - 0.5
    own_y, own_x = ys.round().clamp(0, h - 1).long(), xs.round().clamp(0, w - 1).long()
    total = torch.zeros_like(lab[:, :1])
    norm = torch.zeros_like(lab[:, :1])
    for dy in range(-EDGE_RADIUS, EDGE_RADIUS + 1):
        for dx in range(-EDGE_RADIUS, EDGE_RADIUS + 1):
            qy, qx = own_y + dy, own_x + dx
            valid = ((qy >= 0) & (qy < h))[:, None] & ((qx >= 0) & (qx < w))[None, :]  # (H, W)
            qy, qx = qy.clamp(0, h - 1), qx.clamp(0, w - 1)
            distance = (ys - qy)[:, None] ** 2 + (xs - qx)[None, :] ** 2
            mean = means[:, :, qy][:, :, :, qx]  # (B, 3, H, W): the colour of cell q of each pixel
            weight = torch.exp(-distance / (2 * spatial ** 2) - (lab - mean).square().sum(1, keepdim=True)
                               / (2 * colour ** 2)) * valid
            total += weight * cells[:, :, qy][:, :, :, qx]
            norm += weight
    return total / norm.clamp_min(torch.finfo(lab.dtype).tiny)


@dataclass
class RegionEdit:
    """The pixel-level part of a guidance (see the module docstring).

    keep, paint: (B, 1, r, r) weights in [0, 1] of the kept and painted pixels at the working resolution (keep wins
    where both are set); content_mean, content_std, reference_mean, reference_std: (B, 3, 1, 1) Lab statistics of the
    painted regions; region: the painted content region at any resolution (None: nothing is painted).
    """

    keep: torch.Tensor
    paint: torch.Tensor
    content_mean: torch.Tensor
    content_std: torch.Tensor
    reference_mean: torch.Tensor
    reference_std: torch.Tensor
    region: np.ndarray | None = None

    def transfer(self, lab: torch.Tensor, alpha: float, index: slice = slice(None)) -> torch.Tensor:
        """The region transfer at strength alpha: Lab values (B, 3, ...) moved from the painted content region's
        statistics S to S moved by alpha t(S -> R) (``strength.interpolate_statistics``), with the statistics of the
        batch items ``index``."""
        content = torch.cat([self.content_mean[index], self.content_std[index]], dim=1)
        reference = torch.cat([self.reference_mean[index], self.reference_std[index]], dim=1)
        return move_lab(lab, content, interpolate_statistics(content, reference, alpha))

    def apply(self, content: torch.Tensor, rendered: torch.Tensor, alpha: float, paint: bool = True) -> torch.Tensor:
        """(B, 3, r, r) content and rendered result in [0, 1] -> the result with kept pixels back to the content
        and (``paint``) painted pixels moved by the region transfer."""
        paint = self.paint * (1 - self.keep) * paint
        painted = lab_to_rgb(self.transfer(rgb_to_lab(content), alpha))
        return self.keep * content + paint * painted + (1 - self.keep - paint) * rendered

    def apply_full(self, content: np.ndarray, result: np.ndarray, alpha: float, item: int = 0) -> np.ndarray:
        """(H, W, 3) uint8 content and result of batch item ``item`` at full resolution -> the result with the kept
        pixels (``keep`` resized to (H, W), at least one half) back to the content and the painted region's pixels
        (``region`` resized to (H, W) by area: the share of each pixel inside) moved by the region transfer."""
        index = slice(item, item + 1)
        keep = F.interpolate(self.keep[index].float().cpu(), size=result.shape[:2], mode="bilinear")[0, 0] >= 0.5
        result = np.where(keep.numpy()[..., None], content, result)
        if self.region is None:
            return result
        weight = coverage(self.region, result.shape[:2], "cpu").numpy() * ~keep.numpy()
        inside = weight > 0
        pixels = torch.from_numpy(content[inside]).float().T[None, :, :, None] / 255  # (1, 3, N, 1)
        moved = lab_to_rgb(self.transfer(rgb_to_lab(pixels), alpha, index).cpu())[0, :, :, 0].T.numpy() * 255
        blended = result.astype(np.float32)
        blended[inside] = weight[inside, None] * moved + (1 - weight[inside, None]) * blended[inside]
        return np.rint(blended).clip(0, 255).astype(np.uint8)


@dataclass
class Guidance:
    """User guidance in normalised coordinates (see the module docstring); a ``guide`` for ``RecolorPipeline``.

    pairs: [(content_xy, reference_xy)], "this content region takes that reference region's colour" (A_C);
    keep: [content_xy], "keep this content region's colour" (A_U);
    content_mask, reference_mask: optional (H, W) bool arrays of any resolution: the painted regions.
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
        if not self.pairs and not self.keep and not self.painted:
            raise ValueError("the guidance is empty: give a pair, a keep point or a painted region")

    @property
    def painted(self) -> bool:
        return self.content_mask is not None or self.reference_mask is not None

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
                 reference_size: tuple[int, int] | None = None) -> "Guidance":
        """The guidance as ``RecolorPipeline``'s ``guide`` (masks checked against the image sizes if given)."""
        self.check_sizes(content_size, reference_size)
        return self

    def __call__(self, *args, **kwargs) -> Correspondence:
        return self.correspond(*args, **kwargs)

    def correspond(self, content_semantic: torch.Tensor, reference_semantic: torch.Tensor,
                   reference_map: torch.Tensor, content_map: torch.Tensor,
                   automatic: Correspondence | None = None) -> Correspondence:
        """F_S (B, f, hs, ws), F_R (B, f, hr, wr), W0R, W0S -> W~0R on F_S's grid (clicks and keep points,
        supp. eq. 2).

        automatic: the match of patches no click speaks for (default: Hard(A_C) W0R without a colour prior).
        """
        b, _, hs, ws = content_semantic.shape
        grid_s, grid_r = (hs, ws), tuple(reference_semantic.shape[-2:])
        device = content_semantic.device
        ref_values = resize_map(reference_map, grid_r).flatten(2)  # (B, D, Nr)
        content_values = resize_map(content_map, grid_s).flatten(2)  # (B, D, Ns)
        if automatic is None:
            automatic = correspond(content_semantic, reference_semantic, reference_map)

        sparse = torch.zeros_like(content_values)  # Ŵ0R
        confidence = torch.zeros(b, hs * ws, device=device, dtype=content_values.dtype)
        index = torch.full((b, hs * ws), -1, dtype=torch.long, device=device)
        assigned = torch.zeros(hs * ws, dtype=torch.bool, device=device)  # c
        for content_xy, reference_xy in self.pairs:  # A_C W0R
            s, r = patch_of(content_xy, grid_s), patch_of(reference_xy, grid_r)
            sparse[:, :, s], confidence[:, s], index[:, s] = ref_values[:, :, r], 1.0, r
            assigned[s] = True
        for content_xy in self.keep:  # A_U W0S
            s = patch_of(content_xy, grid_s)
            sparse[:, :, s], confidence[:, s], index[:, s] = content_values[:, :, s], 1.0, -1
            assigned[s] = True

        # Hard(A_S ⊙ c) Ŵ0R where the most similar assigned patch is similar enough; the automatic match elsewhere
        nearest, similarity = hard_attention(cosine_attention(content_semantic, content_semantic), assigned[None, None])
        own = torch.arange(hs * ws, device=device).expand(b, -1)
        nearest = torch.where(assigned, own, nearest)
        follows = assigned | (similarity >= PROPAGATION_THRESHOLD)  # (B, Ns)
        warped = torch.where(follows[:, None], gather_patches(sparse, nearest), automatic.warped.flatten(2))
        confidence = torch.where(assigned, confidence,
                                 torch.where(follows, similarity, automatic.confidence.flatten(1)).to(confidence))
        index = torch.where(follows, torch.gather(index, 1, nearest), automatic.index)
        return Correspondence(warped.view(b, -1, hs, ws), confidence.view(b, 1, hs, ws), index)

    def edit(self, content: torch.Tensor, reference: torch.Tensor, match: Correspondence) -> RegionEdit:
        """The pixel-level edit of the working-resolution (B, 3, r, r) content and reference for ``match`` (this
        guidance's correspondence): kept patches (index -1 outside the painted region) upsampled along the content's
        edges (``edge_aware_weight``, cut at one half), and the painted region (no content mask: the whole image)."""
        b, _, h, w = match.confidence.shape
        lab, reference_lab = rgb_to_lab(content), rgb_to_lab(reference)
        kept, region = match.index < 0, None
        if self.painted:
            region = self.content_mask if self.content_mask is not None else np.ones((1, 1), bool)
            kept = kept & ~patch_mask(region, (h, w), content.device)
        keep = (edge_aware_weight(kept.view(b, 1, h, w).to(lab.dtype), lab) >= 0.5).to(lab.dtype)
        paint = torch.zeros_like(keep)
        if region is not None:
            paint = coverage(region, lab.shape[-2:], lab.device).expand_as(keep)
        content_mean, content_std = region_statistics(lab, self.content_mask, (h, w))
        reference_mean, reference_std = region_statistics(reference_lab, self.reference_mask, (h, w))
        return RegionEdit(keep, paint, content_mean, content_std, reference_mean, reference_std, region)
