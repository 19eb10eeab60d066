"""recolor_hf: latent-guided exemplar-based photo re-colorization (Yang, Xu, Fan, WACV 2024)."""

from pathlib import Path

from .pipeline import RecolorLatents, RecolorPipeline, RecolorPipelineOutput
from .presets import PRESETS

DEFAULT_CHECKPOINT = Path(__file__).resolve().parent.parent / "checkpoints" / "recolor-small"

__all__ = ["DEFAULT_CHECKPOINT", "PRESETS", "RecolorLatents", "RecolorPipeline", "RecolorPipelineOutput"]
