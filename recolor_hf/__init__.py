"""recolor_hf: latent-guided exemplar-based photo re-colorization (Yang, Xu, Fan, WACV 2024)."""

__version__ = "0.1.0"

from .pipeline import DEFAULT_CHECKPOINT, RecolorLatents, RecolorPipeline, RecolorPipelineOutput
from .presets import PRESETS

__all__ = ["DEFAULT_CHECKPOINT", "PRESETS", "RecolorLatents", "RecolorPipeline", "RecolorPipelineOutput",
           "__version__"]
