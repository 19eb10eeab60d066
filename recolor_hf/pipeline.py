"""RecolorPipeline: a content (source) photo + a reference photo -> the content re-coloured like the reference.

Networks run at a square working resolution (``config.resolution``); the colour change is carried back to the
content's own size by ``recolor_hf.upsample.transfer_colour``. Steps (main Fig. 3):

1. backbone features of content and reference (C1..C3, F_S, F_R); w = E_w(I_S, I_R); W0R = E_W(I_R, I_R);
2. correspondence W~0R = Hard(A_C) W0R (or the user's guided version); the same match gathers the reference's
   per-patch Lab statistics into target statistics T (``models.colour``), and the content moved to T is the
   "base" image; maps W = P_W(...) as residuals on W0(base);
3. strength: statistics S_S + alpha (T - S_S) give base_alpha, W' = W0(base_alpha) + alpha (W - W0(base))
   (supp. eq. 3); image = G'(base_alpha, W').
"""

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import PIL.Image
import torch
import torch.nn.functional as F
from diffusers import DiffusionPipeline
from diffusers.utils import BaseOutput, is_accelerate_available

from .guidance import RegionEdit
from .image_io import DEFAULT_MAX_PIXELS, image_to_tensor, load_image, to_float
from .models.backbones import FeatureBackbone
from .models.colour import interpolate_statistics, local_transfer, patch_statistics, rgb_to_lab
from .models.encoders import LatentEncoder, LatentMapEncoder
from .models.generator import RecolorGenerator
from .models.layers import resize_map
from .models.predictor import Correspondence, LatentMapPredictor
from . import DEFAULT_CHECKPOINT, hub
from .presets import PRESETS
from .strength import check_alpha
from .upsample import transfer_colour

COMPONENTS = ("generator", "latent_encoder", "map_encoder", "predictor", "backbone")
COMPONENT_CLASSES = {"generator": RecolorGenerator, "latent_encoder": LatentEncoder, "map_encoder": LatentMapEncoder,
                     "predictor": LatentMapPredictor, "backbone": FeatureBackbone}
OUTPUT_TYPES = ("pil", "np", "pt")
# The usage placeholder of the model card diffusers writes for a new repository (utils/model_card_template.md).
MODEL_CARD_TODO = "# TODO: add an example code snippet for running this diffusion pipeline"
HUB_KWARGS = ("repo_id", "token", "private", "commit_message", "create_pr")  # diffusers' save_pretrained -> hub


@dataclass
class RecolorPipelineOutput(BaseOutput):
    """images: PIL images, (H, W, 3) float arrays in [0, 1] or (3, H, W) tensors, one per content."""

    images: list


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


def interpolate_maps(maps: tuple[torch.Tensor, ...], base_map: torch.Tensor, alpha: float,
                     start_map: torch.Tensor | None = None) -> tuple:
    """W' = W0 + alpha (W - W0(base)) (supp. eq. 3 with W0 = ``start_map``, default W0(base)), maps resized."""
    start_map = base_map if start_map is None else start_map
    return tuple(resize_map(start_map, m.shape[-2:]) + alpha * (m - resize_map(base_map, m.shape[-2:]))
                 for m in maps)


def unsquare(images: torch.Tensor, size: tuple[int, int]) -> np.ndarray:
    """(N, 3, r, r) working-resolution images -> (N, h, w, 3) arrays with the aspect ratio of ``size`` (W, H)."""
    r = images.shape[-1]
    scale = r / max(size)
    low = (max(1, round(size[1] * scale)), max(1, round(size[0] * scale)))
    images = F.interpolate(images.float(), size=low, mode="bilinear", align_corners=False, antialias=True)
    return images.permute(0, 2, 3, 1).cpu().numpy()


def check_checkpoint_folder(path: Path) -> None:
    """Refuse a folder that is not a complete pipeline, naming what is missing."""
    if not path.is_dir():
        shipped = (" (the shipped checkpoint is package data of recolor_hf: this installation lacks it; "
                   "reinstall the package)" if path.resolve() == DEFAULT_CHECKPOINT else "")
        raise ValueError(f"no checkpoint folder at {path}{shipped}; pass a saved pipeline folder or a Hugging Face "
                         "repo id: RecolorPipeline.from_pretrained(path_or_repo_id) in Python, --checkpoint DIR to "
                         "the recolor command or app.py")
    if not (path / "model_index.json").is_file():
        raise ValueError(f"{path} is not a pipeline folder: model_index.json is missing")
    for name in COMPONENTS:
        sub = path / name
        if not (sub / "config.json").is_file():
            raise ValueError(f"checkpoint {path} is missing component '{name}' ({name}/config.json)")
        if not any(sub.glob("*.safetensors")) and not any(sub.glob("*.bin")):
            raise ValueError(f"checkpoint {path} is missing the weights of component '{name}'")


def is_complete(path: Path) -> bool:
    """Whether ``path`` is a complete pipeline folder (``check_checkpoint_folder`` accepts it)."""
    try:
        check_checkpoint_folder(path)
    except ValueError:
        return False
    return True


class RecolorPipeline(DiffusionPipeline):
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

    @classmethod
    def from_preset(cls, name: str, seed: int = 0) -> "RecolorPipeline":
        """A randomly initialised pipeline of a named size ("paper", "small", "tiny"), seeded."""
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
        preset = PRESETS[name]
        torch.manual_seed(seed)
        backbone = FeatureBackbone(**preset["backbone"])
        return cls(
            generator=RecolorGenerator(**preset["generator"]),
            latent_encoder=LatentEncoder(**preset["latent_encoder"]),
            map_encoder=LatentMapEncoder(**preset["map_encoder"]),
            predictor=LatentMapPredictor(color_channels=backbone.color_channels, **preset["predictor"]),
            backbone=backbone,
            resolution=preset["resolution"],
        )

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs) -> "RecolorPipeline":
        """Load a saved pipeline: a local folder, or a Hugging Face repo id such as ``"org/recolor-small"``.

        A repo id (a string of the form namespace/name that is no existing path) resolves through huggingface_hub:
        the cache first, then a download unless offline (``HF_HUB_OFFLINE=1`` or ``local_files_only=True``), with
        the keywords ``revision``, ``cache_dir``, ``token``, ``force_download`` (``recolor_hf.hub.resolve``). Either
        way a ValueError names a missing folder, repository or component. Folders written by ``save_pretrained``
        (diffusers' custom-code layout, ``recolor_hf.hub``) load without running their custom-code files.

        Without accelerate (an install without the [train] extra) the components load the plain way, quietly.
        """
        hub_kwargs = {key: kwargs.pop(key) for key in hub.DOWNLOAD_KWARGS if key in kwargs}
        if hub.is_repo_id(pretrained_model_name_or_path):
            path = hub.resolve(pretrained_model_name_or_path, COMPONENTS, hub_kwargs, is_complete)
        else:
            path = Path(pretrained_model_name_or_path)
        check_checkpoint_folder(path)
        kwargs.setdefault("low_cpu_mem_usage", is_accelerate_available())
        return super().from_pretrained(path, **kwargs)

    @classmethod
    def load_config(cls, *args, **kwargs):
        """diffusers' ``load_config``, with the custom-code names of a saved folder's model_index.json mapped back
        to recolor_hf's classes (``hub.from_remote_code``)."""
        loaded = super().load_config(*args, **kwargs)
        if isinstance(loaded, tuple):
            return (hub.from_remote_code(loaded[0], COMPONENT_CLASSES), *loaded[1:])
        return hub.from_remote_code(loaded, COMPONENT_CLASSES)

    def save_pretrained(self, save_directory, push_to_hub: bool = False, **kwargs) -> None:
        """diffusers' save, then drop ``_name_or_path`` from every config: a shipped folder names no local path;
        then the custom-code files with which ``DiffusionPipeline.from_pretrained(folder_or_repo_id,
        trust_remote_code=True)`` loads the folder where recolor_hf is installed (``hub.write_remote_code``).

        ``push_to_hub=True`` then uploads through diffusers' ``push_to_hub`` (which saves through this method, so
        the upload names no local path either), with diffusers' keywords ``repo_id`` (default: the folder's name),
        ``token``, ``private``, ``commit_message``, ``create_pr``.
        """
        hub_kwargs = {key: kwargs.pop(key) for key in HUB_KWARGS if key in kwargs}
        super().save_pretrained(save_directory, **kwargs)
        for path in [Path(save_directory) / "model_index.json", *Path(save_directory).glob("*/config.json")]:
            config = json.loads(path.read_text())
            if config.pop("_name_or_path", None) is not None:
                path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
        hub.write_remote_code(Path(save_directory), {name: type(getattr(self, name)) for name in COMPONENTS})
        if push_to_hub:
            repo_id = hub_kwargs.pop("repo_id", Path(save_directory).name)
            self.push_to_hub(repo_id, safe_serialization=kwargs.get("safe_serialization", True),
                             variant=kwargs.get("variant"), **hub_kwargs)

    def _upload_folder(self, working_dir, repo_id: str, *args, **kwargs):
        """diffusers' upload (the last step of ``push_to_hub``), after filling the usage snippet of the model card
        diffusers generates for a new repository (``hub.usage_snippet``); a card the repository has is kept."""
        card = Path(working_dir) / "README.md"
        if card.is_file():
            text = card.read_text()
            if MODEL_CARD_TODO in text:
                card.write_text(text.replace(MODEL_CARD_TODO, hub.usage_snippet(repo_id)))
        return super()._upload_folder(working_dir, repo_id, *args, **kwargs)

    # ----- tensor-level building blocks (used by training, the app and the pipeline itself) -----

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

    def match(self, features: PairFeatures, mask_ratio: float = 0.0, generator: torch.Generator | None = None,
              guide: Callable | None = None, content: torch.Tensor | None = None) -> Correspondence:
        """The automatic correspondence W~0R = Hard(A_C ⊙ M) W0R with the colour prior, or ``guide``'s (which
        also gets W0(content) of the (B, 3, r, r) ``content`` and the automatic match, for the patches its clicks
        leave free)."""
        f = features
        prior = self.predictor.match_prior(f.content_stats, f.reference_stats)
        automatic = self.predictor.correspond(f.content_semantic, f.reference_semantic, f.reference_map, mask_ratio,
                                              generator, prior, self.predictor.config.match_candidates)
        if guide is None:
            return automatic
        return guide(f.content_semantic, f.reference_semantic, f.reference_map, self.self_map(content),
                     automatic=automatic)

    def colour_targets(self, features: PairFeatures, match: Correspondence, learned: bool = True,
                       maps: bool = True) -> tuple[torch.Tensor, tuple[torch.Tensor, ...] | None]:
        """(T', residuals): P_W's learned target statistics (B, 6, h, w) and map residuals (dW1, dW2, dW3) for
        ``features`` and ``match`` (``maps=False``: dW1 only); with ``learned=False`` the non-learned target T and
        None."""
        f = features
        target, gathered = self.predictor.colour_target(f.content_stats, f.reference_stats, match, f.content_whole,
                                                        f.reference_whole)
        if not learned:
            return target, None
        statistics = (f.content_stats, target, gathered, f.content_whole, f.reference_whole)
        output = self.predictor(f.colour, match, statistics, f.code, maps, f.reference_stats)
        return output.target_stats, output.residuals

    def predict_from(self, content: torch.Tensor, features: PairFeatures, match: Correspondence,
                     learned: bool = True) -> RecolorLatents:
        """P_W on precomputed ``features`` and ``match`` for the (B, 3, r, r) content -> ``RecolorLatents``.

        ``learned=False`` is the base-only path: no trained network, T' = T, maps W0(base), and ``render`` returns
        the base image without G'.
        """
        target, residuals = self.colour_targets(features, match, learned)
        base_map = self.self_map(local_transfer(content, features.content_stats, target))
        residuals = residuals or (torch.zeros_like(base_map),) * 3
        maps = tuple(resize_map(base_map, r.shape[-2:]) + r for r in residuals)
        return RecolorLatents(maps, base_map, match, features.content_stats, target, content, learned=learned)

    def predict(self, content: torch.Tensor, reference: torch.Tensor, mask_ratio: float = 0.0,
                generator: torch.Generator | None = None, guide: Callable | None = None,
                learned: bool = True, reference_features: ReferenceFeatures | None = None) -> RecolorLatents:
        """P_W(I_S, I_R): (B, 3, r, r) x2 -> ``RecolorLatents`` (maps, W0(base), match, S_S, T'; no contents).

        ``guide(content_semantic, reference_semantic, reference_map, content_map, automatic=) -> Correspondence``
        replaces the automatic match (user clicks / masks, supp. C.5-C.6); a guide with a method
        ``edit(content, reference, match)`` (``guidance.Guidance``) also gives the pixel-level edit of kept and
        painted regions that ``render`` applies last; ``learned=False``: see ``predict_from``;
        ``reference_features``: the reference's, computed once (``features``).
        """
        features = self.features(content, reference, reference_features)
        match = self.match(features, mask_ratio, generator, guide, content)
        latents = self.predict_from(content, features, match, learned)
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

    # ----- user-level API -----

    def prepare(self, images, name: str) -> list[PIL.Image.Image]:
        """A single image, a list of images or a (B, 3, H, W) tensor -> list of RGB PIL images."""
        if torch.is_tensor(images) and images.dim() == 4:
            images = list(images)
        if not isinstance(images, (list, tuple)):
            images = [images]
        if len(images) == 0:
            raise ValueError(f"{name}: got an empty list")
        limit = self.config.max_pixels
        return [load_image(im, f"{name}[{i}]" if len(images) > 1 else name, limit) for i, im in enumerate(images)]

    def to_working(self, images: list[PIL.Image.Image]) -> torch.Tensor:
        """Full-resolution PIL images -> (B, 3, r, r) at the working resolution."""
        size = (self.config.resolution, self.config.resolution)
        low = [image_to_tensor(im.resize(size, PIL.Image.BICUBIC, reducing_gap=3.0)) for im in images]
        return torch.stack(low).to(self.device, self.dtype)

    @torch.no_grad()
    def encode(self, content, reference, guide: Callable | None = None, learned: bool = True) -> RecolorLatents:
        """Run the predictor once; ``decode`` then renders any strength from the cached maps. ``learned=False``:
        the base-only path (no trained network; see ``predict_from``)."""
        contents = self.prepare(content, "content")
        references = self.prepare(reference, "reference")
        if len(references) == 1 and len(contents) > 1:
            references = references * len(contents)
        if len(references) != len(contents):
            raise ValueError(f"got {len(contents)} contents but {len(references)} references (give 1 or as many)")
        latents = self.predict(self.to_working(contents), self.to_working(references), guide=guide, learned=learned)
        latents.contents = contents
        return latents

    @torch.no_grad()
    def decode(self, latents: RecolorLatents, alpha: float = 1.0, output_type: str = "pil") -> list:
        """Render at strength ``alpha`` and carry the change to each content's full resolution (painted regions
        are painted and kept regions kept there, ``RegionEdit.apply_full``)."""
        alpha = check_alpha(alpha)
        if output_type not in OUTPUT_TYPES:
            raise ValueError(f"output_type must be one of {OUTPUT_TYPES}, got {output_type!r}")
        result_low = self.render(latents, alpha, paint=False).clamp(0, 1)
        images = []
        for content, src, out in zip(latents.contents, latents.content_low, result_low):
            pair = unsquare(torch.stack([src, out]), content.size)
            full = transfer_colour(np.asarray(content), pair[0], pair[1])
            if latents.edit is not None:
                full = latents.edit.apply_full(np.asarray(content), full, alpha)
            if output_type == "pil":
                images.append(PIL.Image.fromarray(full))
            elif output_type == "np":
                images.append(to_float(full))
            else:
                images.append(image_to_tensor(full))
        return images

    def __call__(self, content, reference, alpha: float = 1.0, output_type: str = "pil", return_dict: bool = True,
                 guide: Callable | None = None, learned: bool = True):
        """Re-colour ``content`` like ``reference``.

        Args:
            content: image(s) to re-colour: path, PIL image, HWC numpy array, (B, 3, H, W) tensor in [0, 1], or a
                list of them. Grayscale contents work (the paper's grayscale-source mode).
            reference: one reference for all contents, or one per content.
            alpha: strength in [0, 2]; 0 gives the content's self-reconstruction, 1 the prediction, 2 twice the
                change (supp. eq. 3).
            output_type: "pil", "np" ((H, W, 3) float in [0, 1]) or "pt" ((3, H, W) tensor in [0, 1]).
            guide: optional user correspondence (see ``predict``).
            learned: False runs the base-only path: the same pipeline with every trained network bypassed (the
                non-learned colour transfer alone), the ablation the learned model is judged against.

        Returns:
            ``RecolorPipelineOutput(images=[...])`` (each at its content's own size), or a tuple when
            ``return_dict`` is False.
        """
        check_alpha(alpha)
        images = self.decode(self.encode(content, reference, guide=guide, learned=learned), alpha, output_type)
        return RecolorPipelineOutput(images=images) if return_dict else (images,)
