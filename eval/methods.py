"""Methods under evaluation: name -> callable(content_uint8, reference_uint8) -> uint8."""

from __future__ import annotations

from typing import Callable

import numpy as np
from PIL import Image

from recolor_hf.baselines import BASELINES

Method = Callable[[np.ndarray, np.ndarray], np.ndarray]


def pipeline_method(checkpoint: str, device: str | None = None) -> Method:
    """Wrap `RecolorPipeline.from_pretrained(checkpoint)` as a method (optionally moved to `device`).

    The method also takes an optional `guidance` (a recolor_hf.guidance.Guidance: clicks / masks), and exposes the
    loaded pipeline as its attribute `pipe`.
    """
    from recolor_hf import RecolorPipeline

    pipe = RecolorPipeline.from_pretrained(checkpoint)
    if device is not None:
        pipe = pipe.to(device)

    def ours(content: np.ndarray, reference: np.ndarray, guidance=None) -> np.ndarray:
        content, reference = Image.fromarray(content), Image.fromarray(reference)
        guide = None if guidance is None else guidance.as_guide(content.size, reference.size)
        return np.asarray(pipe(content=content, reference=reference, guide=guide).images[0].convert("RGB"))

    ours.pipe = pipe
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
        raise ValueError("method 'ours' needs --pretrained_model_name_or_path DIR")
    return {
        name: pipeline_method(checkpoint, device) if name == "ours" else BASELINES[name]
        for name in names
    }
