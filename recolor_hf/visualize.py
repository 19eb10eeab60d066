"""Looking inside a prediction (supp. C.9): PCA of the latent maps W1, W2, W3 and the correspondence used; and
the guided clicks drawn on the two photos.

``pca_image`` projects each position's D-dim latent onto the map's first 3 principal components and shows them
as RGB; ``correspondence_image`` shows, for each content patch, the colour of the reference patch it takes its
colour from (the content's own colour where it keeps it); ``draw_clicks`` marks clicked pairs with matching
numbered discs, keep points with "K" and a pending content point with a hollow circle.
"""

import numpy as np
import PIL.Image
import PIL.ImageDraw
import torch
import torch.nn.functional as F

from .demo_state import Clicks
from .image_io import tensor_to_uint8, to_uint8
from .models.predictor import Correspondence

DISPLAY_SIZE = 256  # long side of the returned images (nearest-neighbour, so patches stay visible)
MARKER_COLOURS = ("#ff3b30", "#34c759", "#007aff", "#ff9500", "#af52de", "#00c7be", "#ffcc00", "#ff2d55")
KEEP_COLOUR, PENDING_COLOUR = "white", "#ff3b30"
MARKER_SHARE = 1 / 30  # marker radius as a share of the image's long side ...
MIN_MARKER_RADIUS = 6  # ... and at least this many pixels


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
    return to_uint8(projected.reshape(h, w, 3).numpy())


def pca_images(maps: tuple[torch.Tensor, ...], aspect: float = 1.0) -> list[PIL.Image.Image]:
    """PCA views of (W1, W2, W3) (each (B, D, h, w); the first item is shown), resized to the photo's aspect."""
    return [to_display(pca_rgb(m[0]), aspect) for m in maps]


def correspondence_image(correspondence: Correspondence, content: torch.Tensor, reference: torch.Tensor,
                         aspect: float = 1.0) -> PIL.Image.Image:
    """For each content patch, the mean colour of the reference patch it takes its colour from.

    content, reference: the working-resolution images (3, r, r) the match was computed on (both square, so the
    reference's patch grid equals the content's). Patches with index -1 (kept) show the content's own colour.
    """
    _, _, h, w = correspondence.confidence.shape
    ref = F.interpolate(reference[None].float(), size=(h, w), mode="area").flatten(2)[0]  # (3, N)
    src = F.interpolate(content[None].float(), size=(h, w), mode="area").flatten(2)[0]
    index = correspondence.index[0].cpu()
    colours = torch.where(index >= 0, ref.cpu()[:, index.clamp_min(0)], src.cpu())
    return to_display(tensor_to_uint8(colours.view(3, h, w)), aspect)


def draw_markers(image: PIL.Image.Image, marks: list[tuple[tuple[float, float], str | None, str]]) -> PIL.Image.Image:
    """A copy of ``image`` with a disc at each normalised point, marks being (xy, fill colour, label); a fill of
    None draws a hollow (pending) circle."""
    image = image.convert("RGB")
    draw = PIL.ImageDraw.Draw(image)
    radius = max(MIN_MARKER_RADIUS, round(max(image.size) * MARKER_SHARE))
    for (x, y), fill, label in marks:
        cx, cy = x * image.width, y * image.height
        box = (cx - radius, cy - radius, cx + radius, cy + radius)
        draw.ellipse(box, fill=fill, outline=PENDING_COLOUR if fill is None else "white", width=max(2, radius // 4))
        draw.text((cx, cy), label, fill="black" if fill == KEEP_COLOUR else "white", anchor="mm",
                  font_size=radius * 1.4)
    return image


def draw_clicks(clicks: Clicks, content: PIL.Image.Image | None,
                reference: PIL.Image.Image | None) -> tuple[PIL.Image.Image | None, PIL.Image.Image | None]:
    """The two photos with the clicks marked: pair n as disc "n" in the same colour on both, keep points "K" on
    the content, the pending content point hollow (a missing photo stays None)."""
    marks_content, marks_reference = [], []
    for number, action in enumerate(clicks.actions, start=1):
        if action[0] == "pair":
            colour = MARKER_COLOURS[(number - 1) % len(MARKER_COLOURS)]
            marks_content.append((action[1], colour, str(number)))
            marks_reference.append((action[2], colour, str(number)))
        else:
            marks_content.append((action[1], KEEP_COLOUR, "K"))
    if clicks.pending:
        marks_content.append((clicks.pending, None, ""))
    return tuple(None if image is None else draw_markers(image, marks)
                 for image, marks in ((content, marks_content), (reference, marks_reference)))
