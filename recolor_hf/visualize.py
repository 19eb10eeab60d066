"""Looking inside a prediction (supp. C.9): PCA of the latent maps W1, W2, W3 and the correspondence used.

``pca_rgb`` projects each position's D-dim latent onto the first 3 principal components of the map's interior
(a border of BORDER_SHARE of each side, where the networks' zero padding dominates the variance, is left out) and
shows them as RGB; ``correspondence_image`` shows the photo's lightness with, at each place, the colour (Lab a, b)
of the reference patch it takes its colour from (the content's own colour where it keeps it), smoothly
interpolated.
"""

import numpy as np
import PIL.Image
import torch
import torch.nn.functional as F

from .image_io import tensor_to_uint8, to_uint8
from .models.colour import lab_to_rgb, rgb_to_lab
from .models.correspondence import Correspondence

DISPLAY_SIZE = 256  # long side of the returned images
BORDER_SHARE = 3 / 16  # share of each side of a map left out of its PCA view: the zero padding's artefacts reach 2
# of W1's 16 rows, 6 of W2's 32 and 9 of W3's 64 (the city example: a band at the top of every view with less)
PERCENTILES = (0.01, 0.99)  # each principal component is stretched to [0, 255] between these quantiles
MIN_VARIANCE = 1e-10  # components with less variance show mid-grey


def display_size(aspect: float) -> tuple[int, int]:
    """(W, H) with long side DISPLAY_SIZE and W / H = ``aspect``."""
    return (DISPLAY_SIZE, round(DISPLAY_SIZE / aspect)) if aspect >= 1 else (round(DISPLAY_SIZE * aspect), DISPLAY_SIZE)


def to_display(array: np.ndarray, aspect: float = 1.0) -> PIL.Image.Image:
    """(h, w, 3) uint8 -> PIL image of ``display_size(aspect)``, smoothly resized."""
    return PIL.Image.fromarray(array).resize(display_size(aspect), PIL.Image.BICUBIC)


def interior(latent: torch.Tensor) -> torch.Tensor:
    """(D, h, w) -> the map without a border of BORDER_SHARE of each side (at least one position if h, w > 2)."""
    _, h, w = latent.shape
    top, left = (max(1, round(n * BORDER_SHARE)) if n > 2 else 0 for n in (h, w))
    return latent[:, top:h - top, left:w - left]


def pca_rgb(latent: torch.Tensor) -> np.ndarray:
    """One latent map (D, h, w) -> (h', w', 3) uint8 of its ``interior``: the first 3 principal components,
    each stretched to [0, 255] between its PERCENTILES. Components without variance (e.g. in the constant map of
    a 1-D code) show mid-grey."""
    inner = interior(latent.detach().float().cpu())
    d, h, w = inner.shape
    x = inner.reshape(d, h * w).T
    x = x - x.mean(dim=0)
    _, s, v = torch.linalg.svd(x, full_matrices=False)
    projected = torch.full((h * w, 3), 0.5)
    for c in range(min(3, len(s))):
        if s[c] ** 2 / (h * w) > MIN_VARIANCE:  # the variance along this component
            p = x @ v[c]
            lo, hi = torch.quantile(p, PERCENTILES[0]), torch.quantile(p, PERCENTILES[1])
            projected[:, c] = ((p - lo) / (hi - lo).clamp_min(1e-12)).clamp(0, 1)
    return to_uint8(projected.reshape(h, w, 3).numpy())


def pca_images(maps: tuple[torch.Tensor, ...], aspect: float = 1.0) -> list[PIL.Image.Image]:
    """PCA views of (W1, W2, W3) (each (B, D, h, w); the first item is shown), resized to the photo's aspect."""
    return [to_display(pca_rgb(m[0]), aspect) for m in maps]


def correspondence_image(correspondence: Correspondence, content: torch.Tensor, reference: torch.Tensor,
                         aspect: float = 1.0) -> PIL.Image.Image:
    """The photo's lightness with, at each place, the colour (Lab a, b) of the reference patch it takes its colour
    from, bilinearly interpolated between patches, at ``display_size(aspect)``.

    content, reference: the working-resolution images (3, r, r) the match was computed on (both square, so the
    reference's patch grid equals the content's). Patches with index -1 (kept) show the content's own colour.
    """
    _, _, h, w = correspondence.confidence.shape
    content_lab = rgb_to_lab(content[None].float().cpu())
    ref = F.adaptive_avg_pool2d(rgb_to_lab(reference[None].float().cpu()), (h, w)).flatten(2)[0]  # (3, N)
    src = F.adaptive_avg_pool2d(content_lab, (h, w)).flatten(2)[0]
    index = correspondence.index[0].cpu()
    colours = torch.where(index >= 0, ref[:, index.clamp_min(0)], src).view(1, 3, h, w)
    width, height = display_size(aspect)
    lightness = F.interpolate(content_lab[:, :1], size=(height, width), mode="area")
    chroma = F.interpolate(colours[:, 1:], size=(height, width), mode="bilinear", align_corners=False)
    return PIL.Image.fromarray(tensor_to_uint8(lab_to_rgb(torch.cat([lightness, chroma], dim=1))[0]))
