"""Looking inside a prediction (supp. C.9): PCA of the latent maps W1, W2, W3 and the correspondence used.

``pca_image`` projects each position's D-dim latent onto the map's first 3 principal components and shows them
as RGB; ``correspondence_image`` shows, for each source patch, the colour of the reference patch it takes its
colour from (the source's own colour where it keeps it).
"""

import numpy as np
import PIL.Image
import torch
import torch.nn.functional as F

from .image_io import tensor_to_uint8
from .models.predictor import Correspondence

DISPLAY_SIZE = 256  # long side of the returned images (nearest-neighbour, so patches stay visible)


def to_display(array: np.ndarray, aspect: float = 1.0) -> PIL.Image.Image:
    """(h, w, 3) uint8 -> PIL image with long side DISPLAY_SIZE and width / height = ``aspect``."""
    size = (DISPLAY_SIZE, round(DISPLAY_SIZE / aspect)) if aspect >= 1 else (round(DISPLAY_SIZE * aspect), DISPLAY_SIZE)
    return PIL.Image.fromarray(array).resize(size, PIL.Image.NEAREST)


def pca_rgb(latent: torch.Tensor) -> np.ndarray:
    """One latent map (D, h, w) -> (h, w, 3) uint8: the first 3 principal components, each stretched to
    [0, 255] between its 1st and 99th percentile. Components without variance (e.g. in the constant map of a
    1-D code) show mid-grey."""
    d, h, w = latent.shape
    x = latent.detach().float().cpu().reshape(d, h * w).T
    x = x - x.mean(dim=0)
    _, s, v = torch.linalg.svd(x, full_matrices=False)
    projected = torch.full((h * w, 3), 0.5)
    for c in range(min(3, len(s))):
        if s[c] ** 2 / (h * w) > 1e-10:  # the variance along this component
            p = x @ v[c]
            lo, hi = torch.quantile(p, 0.01), torch.quantile(p, 0.99)
            projected[:, c] = ((p - lo) / (hi - lo).clamp_min(1e-12)).clamp(0, 1)
    return (projected.reshape(h, w, 3).numpy() * 255 + 0.5).astype(np.uint8)


def pca_images(maps: tuple[torch.Tensor, ...], aspect: float = 1.0) -> list[PIL.Image.Image]:
    """PCA views of (W1, W2, W3) (each (B, D, h, w); the first item is shown), resized to the photo's aspect."""
    return [to_display(pca_rgb(m[0]), aspect) for m in maps]


def correspondence_image(correspondence: Correspondence, source: torch.Tensor, reference: torch.Tensor,
                         aspect: float = 1.0) -> PIL.Image.Image:
    """For each source patch, the mean colour of the reference patch it takes its colour from.

    source, reference: the working-resolution images (3, r, r) the match was computed on (both square, so the
    reference's patch grid equals the source's). Patches with index -1 (kept) show the source's own colour.
    """
    _, _, h, w = correspondence.confidence.shape
    ref = F.interpolate(reference[None].float(), size=(h, w), mode="area").flatten(2)[0]  # (3, N)
    src = F.interpolate(source[None].float(), size=(h, w), mode="area").flatten(2)[0]
    index = correspondence.index[0].cpu()
    colours = torch.where(index >= 0, ref.cpu()[:, index.clamp_min(0)], src.cpu())
    return to_display(tensor_to_uint8(colours.view(3, h, w)), aspect)
