"""Loading and saving a pipeline folder: a preset from scratch, a local folder or a Hugging Face repo id
(``hub``), diffusers' save without local paths in the custom-code layout, the upload's usage snippet. A mixin of
``RecolorPipeline``, which keeps the re-colouring itself."""

import json
from pathlib import Path

import torch
from diffusers.utils import is_accelerate_available

from . import DEFAULT_CHECKPOINT, hub
from .models.backbones import FeatureBackbone
from .models.encoders import LatentEncoder, LatentMapEncoder
from .models.generator import RecolorGenerator
from .models.predictor import LatentMapPredictor
from .presets import PRESETS

COMPONENTS = ("generator", "latent_encoder", "map_encoder", "predictor", "backbone")
COMPONENT_CLASSES = {"generator": RecolorGenerator, "latent_encoder": LatentEncoder, "map_encoder": LatentMapEncoder,
                     "predictor": LatentMapPredictor, "backbone": FeatureBackbone}
# The usage placeholder of the model card diffusers writes for a new repository (utils/model_card_template.md).
MODEL_CARD_TODO = "# TODO: add an example code snippet for running this diffusion pipeline"
HUB_KWARGS = ("repo_id", "token", "private", "commit_message", "create_pr")  # diffusers' save_pretrained -> hub


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


class PipelineLoading:
    """``from_preset``, ``from_pretrained``, ``load_config`` and ``save_pretrained`` of a ``DiffusionPipeline``
    subclass with the components ``COMPONENTS``."""

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
            predictor=LatentMapPredictor(colour_channels=backbone.colour_channels, **preset["predictor"]),
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
