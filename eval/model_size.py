"""Model size: parameters per component and seconds per pair of each model preset (randomly initialised).

    python -m eval model-size [--presets tiny small paper] [--repeats 5] [--size 256]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import torch

from eval.report import markdown_table, write_summary
from recolor_hf import RecolorPipeline
from recolor_hf.loading import COMPONENTS

MILLION = 1e6


def preset_row(name: str, content: np.ndarray, reference: np.ndarray, repeats: int) -> dict:
    """Preset `name`: working resolution, parameters (millions) per component and in total, and mean seconds per
    pair over `repeats` runs after one warm-up run."""
    pipe = RecolorPipeline.from_preset(name)
    counts = {component: sum(p.numel() for p in getattr(pipe, component).parameters()) / MILLION
              for component in COMPONENTS}
    pipe(content=content, reference=reference)  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        pipe(content=content, reference=reference)
    seconds = (time.perf_counter() - start) / repeats
    return {"preset": name, "working px": pipe.config.resolution, **counts, "total": sum(counts.values()),
            "seconds": seconds}


def run(args: argparse.Namespace) -> None:
    """One row per preset (preset_row) on a random square pair of `--size` px: results.csv and summary.md."""
    rng = np.random.default_rng(args.seed)
    content, reference = (rng.integers(0, 256, (args.size, args.size, 3), dtype=np.uint8) for _ in range(2))
    results = pd.DataFrame([preset_row(name, content, reference, args.repeats) for name in args.presets])
    results.to_csv(args.output_dir / "results.csv", index=False)
    notes = [f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.size} px pair, "
             f"mean of {args.repeats} runs after a warm-up", "parameters in millions"]
    formats = {"working px": "{:d}", "seconds": "{:.3f}"}
    write_summary(args.output_dir, "Model size", notes, {"presets": markdown_table(results, formats)})
