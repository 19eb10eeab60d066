"""Methods under evaluation: name -> callable(content_uint8, reference_uint8) -> uint8."""

from __future__ import annotations

from typing import Callable

import numpy as np
from PIL import Image

from recolor_hf.baselines import BASELINES

Method = Callable[[np.ndarray, np.ndarray], np.ndarray]


def pipeline_method(checkpoint: str, device: str | None = None) -> Method:
    """Wrap `RecolorPipeline.from_pretrained(checkpoint)` as a method (optionally moved to `device`)."""
    from recolor_hf import RecolorPipeline

    pipe = RecolorPipeline.from_pretrained(checkpoint)
    if device is not None:
        pipe = pipe.to(device)

    def ours(content: np.ndarray, reference: np.ndarray) -> np.ndarray:
        result = pipe(content=Image.fromarray(content), reference=Image.fromarray(reference)).images[0]
        return np.asarray(result.convert("RGB"))

    return ours


def build_methods(
    names: list[str] | None = None, checkpoint: str | None = None, device: str | None = None
) -> dict[str, Method]:
    """Methods by name, in order. Default: the four baselines, plus `ours` when a checkpoint is given."""
    if names is None:
        names = list(BASELINES) + (["ours"] if checkpoint else [])
    unknown = [name for name in names if name not in BASELINES and name != "ours"]
    if unknown:
        raise ValueError(f"unknown methods {unknown}; choose from {list(BASELINES) + ['ours']}")
    if "ours" in names and not checkpoint:
        raise ValueError("method 'ours' needs --checkpoint DIR")
    return {
        name: pipeline_method(checkpoint, device) if name == "ours" else BASELINES[name]
        for name in names
    }
