"""RecolorPipeline: a content photo + a reference photo -> the content re-coloured like the reference.

Networks run at a square working resolution (``config.resolution``); the colour change is carried back to the
content's own size by ``recolor_hf.upsample.transfer_colour``. Steps (main Fig. 3):

1. backbone features of content and reference (C1..C3, F_S, F_R); w = E_w(I_S, I_R); W0R = E_W(I_R, I_R);
2. correspondence W~0R = Hard(A_C) W0R (or the user's guided version); the same match gathers the reference's
   per-patch Lab statistics into target statistics T (``models.transfer``), and the content moved to T is the
   "base" image; maps W = P_W(...) as residuals on W0(base);
3. strength: statistics S_S + alpha (T - S_S) give base_alpha, W' = W0(base_alpha) + alpha (W - W0(base))
   (supp. eq. 3); image = G'(base_alpha, W').
"""

from dataclasses import dataclass
from typing import Callable

import numpy as np
import PIL.Image
import torch
import torch.nn.functional as F
from diffusers import DiffusionPipeline
from diffusers.utils import BaseOutput

from .fallback import check_fallback
from .image_io import DEFAULT_MAX_PIXELS, ImageBatch, image_to_tensor, load_batch, to_float
from .loading import PipelineLoading
from .models.backbones import FeatureBackbone
from .models.encoders import LatentEncoder, LatentMapEncoder
from .models.generator import RecolorGenerator
from .models.predictor import LatentMapPredictor
from .steps import RecolorLatents, RecolorSteps
from .strength import check_alpha
from .upsample import transfer_colour

OUTPUT_TYPES = ("pil", "np", "pt")


@dataclass
class RecolorPipelineOutput(BaseOutput):
    """images: PIL images, (H, W, 3) float arrays in [0, 1] or (3, H, W) tensors, one per content."""

    images: list


def unsquare(images: torch.Tensor, size: tuple[int, int]) -> np.ndarray:
    """(N, 3, r, r) working-resolution images -> (N, h, w, 3) arrays with the aspect ratio of ``size`` (W, H)."""
    r = images.shape[-1]
    scale = r / max(size)
    low = (max(1, round(size[1] * scale)), max(1, round(size[0] * scale)))
    images = F.interpolate(images.float(), size=low, mode="bilinear", align_corners=False, antialias=True)
    return images.permute(0, 2, 3, 1).cpu().numpy()


class RecolorPipeline(PipelineLoading, RecolorSteps, DiffusionPipeline):
    """Exemplar-based re-colorization (Yang, Xu, Fan, WACV 2024) as a diffusers pipeline.

    Components: ``generator`` G', ``latent_encoder`` E_w, ``map_encoder`` E_W, ``predictor`` P_W and the frozen
    ``backbone``. Config: ``resolution`` (square working size of the networks), ``max_pixels`` (input limit in
    pixels, checked on a file's header before decoding; the CLI's ``--max-pixels``).
    """

    def __init__(self, generator: RecolorGenerator, latent_encoder: LatentEncoder, map_encoder: LatentMapEncoder,
                 predictor: LatentMapPredictor, backbone: FeatureBackbone, resolution: int = 256,
                 max_pixels: int = DEFAULT_MAX_PIXELS):
        super().__init__()
        self.register_modules(generator=generator, latent_encoder=latent_encoder, map_encoder=map_encoder,
                              predictor=predictor, backbone=backbone)
        self.register_to_config(resolution=resolution, max_pixels=max_pixels)

    def prepare(self, images, name: str) -> ImageBatch:
        """A single image, a list of images or a (B, 3, H, W) tensor -> ``ImageBatch``: the decoded RGB images and
        their (B, 3, r, r) working-resolution batch on the pipeline's device."""
        batch = load_batch(images, name, self.config.resolution, self.config.max_pixels)
        batch.working = batch.working.to(self.device, self.dtype)
        return batch

    @torch.no_grad()
    def encode(self, content, reference, guide: Callable | None = None, learned: bool = True,
               fallback: str = "global") -> RecolorLatents:
        """Run the predictor once; ``decode`` then renders any strength from the cached maps. ``learned=False``:
        the base-only path (no trained network; see ``predict_from``); ``fallback``: see ``__call__``."""
        check_fallback(fallback)
        contents = self.prepare(content, "content")
        references = self.prepare(reference, "reference").working
        count = len(contents.images)
        if len(references) == 1 and count > 1:
            references = references.expand(count, -1, -1, -1)
        if len(references) != count:
            raise ValueError(f"got {count} contents but {len(references)} references (give 1 or as many)")
        latents = self.predict(contents.working, references, guide=guide, learned=learned, fallback=fallback)
        latents.contents = contents.images
        return latents

    def decode(self, latents: RecolorLatents, alpha: float = 1.0, output_type: str = "pil") -> list:
        """Render at strength ``alpha`` and carry the change to each content's full resolution."""
        return self.full_resolution(latents, check_alpha(alpha), output_type)

    @torch.no_grad()
    def full_resolution(self, latents: RecolorLatents, alpha: float, output_type: str) -> list:
        """``decode`` at a strength already checked (``check_alpha``); painted regions are painted and kept regions
        kept at full resolution (``RegionEdit.apply_full``)."""
        if output_type not in OUTPUT_TYPES:
            raise ValueError(f"output_type must be one of {OUTPUT_TYPES}, got {output_type!r}")
        result_low = self.render(latents, alpha, paint=False).clamp(0, 1)
        images = []
        for item, (content, src, out) in enumerate(zip(latents.contents, latents.content_low, result_low)):
            pair = unsquare(torch.stack([src, out]), content.size)
            full = transfer_colour(np.asarray(content), pair[0], pair[1])
            if latents.edit is not None:
                full = latents.edit.apply_full(np.asarray(content), full, alpha, item)
            if output_type == "pil":
                images.append(PIL.Image.fromarray(full))
            elif output_type == "np":
                images.append(to_float(full))
            else:
                images.append(image_to_tensor(full))
        return images

    def __call__(self, content, reference, alpha: float = 1.0, output_type: str = "pil", return_dict: bool = True,
                 guide: Callable | None = None, learned: bool = True, fallback: str = "global"):
        """Re-colour ``content`` like ``reference``.

        Args:
            content: image(s) to re-colour: path, PIL image, HWC numpy array, (B, 3, H, W) tensor in [0, 1], or a
                list of them. Grayscale contents work (the paper's grayscale-content mode).
            reference: one reference for all contents, or one per content.
            alpha: strength in [0, 2]; 0 gives the content's self-reconstruction, 1 the prediction, 2 twice the
                change (supp. eq. 3).
            output_type: "pil", "np" ((H, W, 3) float in [0, 1]) or "pt" ((3, H, W) tensor in [0, 1]).
            guide: optional user correspondence (see ``predict``).
            learned: False runs the base-only path: the same pipeline with every trained network bypassed (the
                non-learned colour transfer alone), the ablation the learned model is judged against.
            fallback: what content the reference lacks (patches whose match is not trusted) moves to: "global" the
                reference's overall colours (whole-image transfer; photos of different scenes or light), "look" the
                look that the matched content shows (photos of one scene or shoot under one look), "keep" no change
                (only what matches the reference is re-coloured).

        Returns:
            ``RecolorPipelineOutput(images=[...])`` (each at its content's own size), or a tuple when
            ``return_dict`` is False.
        """
        alpha = check_alpha(alpha)  # before the predictor runs
        latents = self.encode(content, reference, guide=guide, learned=learned, fallback=fallback)
        images = self.full_resolution(latents, alpha, output_type)
        return RecolorPipelineOutput(images=images) if return_dict else (images,)
