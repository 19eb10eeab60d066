"""Methods under evaluation: name -> callable(content_uint8, reference_uint8) -> uint8."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import numpy as np
from PIL import Image

from recolor_hf.baselines import BASELINES

if TYPE_CHECKING:
    from recolor_hf import RecolorPipeline

Method = Callable[[np.ndarray, np.ndarray], np.ndarray]
PIPELINE_METHODS = {"ours": True, "base-only": False}  # name -> `learned`: the full model, its base-only path


def pipeline_method(checkpoint: "str | RecolorPipeline", device: str | None = None, learned: bool = True,
                    fallback: str = "global") -> Method:
    """Wrap `RecolorPipeline.from_pretrained(checkpoint)` (or a loaded pipeline) as a method (optionally moved to
    `device`); `learned=False` runs the pipeline's base-only path (every trained part bypassed); `fallback`: the
    pipeline's (what content the reference lacks moves to).

    The method also takes an optional `guidance` (a recolor_hf.guidance.Guidance: clicks / masks), and exposes the
    pipeline as its attribute `pipe`.
    """
    from recolor_hf import RecolorPipeline

    pipe = checkpoint if isinstance(checkpoint, RecolorPipeline) else RecolorPipeline.from_pretrained(checkpoint)
    if device is not None:
        pipe = pipe.to(device)

    def ours(content: np.ndarray, reference: np.ndarray, guidance=None) -> np.ndarray:
        content, reference = Image.fromarray(content), Image.fromarray(reference)
        guide = None if guidance is None else guidance.as_guide(content.size, reference.size)
        output = pipe(content=content, reference=reference, guide=guide, learned=learned, fallback=fallback)
        return np.asarray(output.images[0].convert("RGB"))

    ours.pipe = pipe
    return ours


def build_methods(
    names: list[str] | None = None, checkpoint: str | None = None, device: str | None = None, fallback: str = "global"
) -> dict[str, Method]:
    """Methods by name, in order. Default: the four baselines, plus `ours` and `base-only` (the same checkpoint with
    learned=False, loaded once for both, both with `fallback`) when a checkpoint is given."""
    if names is None:
        names = list(BASELINES) + (list(PIPELINE_METHODS) if checkpoint else [])
    unknown = [name for name in names if name not in BASELINES and name not in PIPELINE_METHODS]
    if unknown:
        raise ValueError(f"unknown methods {unknown}; choose from {list(BASELINES) + list(PIPELINE_METHODS)}")
    needs_model = [name for name in names if name in PIPELINE_METHODS]
    if needs_model and not checkpoint:
        raise ValueError(f"method {needs_model[0]!r} needs --pretrained_model_name_or_path DIR")
    methods, pipe = {}, checkpoint
    for name in names:
        if name in PIPELINE_METHODS:
            methods[name] = pipeline_method(pipe, device, learned=PIPELINE_METHODS[name], fallback=fallback)
            pipe = getattr(methods[name], "pipe", pipe)  # the next pipeline method shares the loaded pipeline
        else:
            methods[name] = BASELINES[name]
    return methods
