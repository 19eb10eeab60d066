"""recolor_hf: latent-guided exemplar-based photo re-colorization (Yang, Xu, Fan, WACV 2024).

The pipeline classes are imported on first use (PEP 562), as diffusers does: ``import recolor_hf`` and the
``recolor`` command's argument parsing do not load torch or diffusers.
"""

import importlib
from pathlib import Path

from .presets import PRESETS

__version__ = "0.1.0"
# The shipped checkpoint: package data (recolor_hf/checkpoints/recolor-small), so a clone, an editable install and a
# wheel install all find it. The one place that names it.
DEFAULT_CHECKPOINT = Path(__file__).resolve().parent / "checkpoints" / "recolor-small"
LAZY = {"RecolorLatents": ".pipeline", "RecolorPipeline": ".pipeline", "RecolorPipelineOutput": ".pipeline"}

__all__ = ["DEFAULT_CHECKPOINT", "PRESETS", "__version__", *LAZY]


def __getattr__(name: str):
    """Import the pipeline classes on first access."""
    if name not in LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(LAZY[name], __name__), name)
    globals()[name] = value
    return value
