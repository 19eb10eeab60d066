"""Training throughput (images / s) per stage and preset on this machine, on synthetic batches.

Each measurement is forward + backward + Adam step of the stage's module, the training scripts' own Stage classes
(train/train_*.py) at their default options (``parse_args`` with each script's DEFAULTS), after warm-up steps, float32 (bf16 autocast on CUDA
with --mixed_precision bf16).

    python -m eval train-speed [--presets small] [--stages generator map_encoder predictor] [--train_batch_size 8]
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from types import ModuleType

import pandas as pd
import torch
from accelerate import PartialState

from eval import REPO_ROOT
from eval.report import markdown_table, write_summary
from recolor_hf import RecolorPipeline

TRAIN_DIR = REPO_ROOT / "train"
STAGES = {"generator": ("train_generator", "GeneratorStage"), "map_encoder": ("train_map_encoder", "MapEncoderStage"),
          "predictor": ("train_predictor", "PredictorStage"),
          "predictor_cached": ("train_predictor", "PredictorStage")}  # stage -> (script in train/, Stage class)
# stage 3 on the feature cache (train/feature_cache.py) with the statistics losses: the frozen parts run once per
# pair when the cache is built, not in the step (the step unpacks cached features)
CACHED_OPTIONS = {"lambda_l1": 0.0, "lambda_perceptual": 0.0, "lambda_w0": 0.0, "lambda_lab": 0.0,
                  "lambda_stats": 1.0, "lambda_base": 0.02}
STEP = 500  # the training step passed to forward (sets the masking curriculum's ratio)
BATCH_KEYS = ("input", "target", "content", "reference")  # every stage's batch keys (each stage reads its own)


def train_module(name: str) -> ModuleType:
    """train/NAME.py, imported as the training scripts import each other (as top-level modules: `from common
    import ...`), by file path: sys.path is left alone. A module of that name already imported is reused."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, TRAIN_DIR / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
    return sys.modules[name]


def stage_class(stage: str) -> type[torch.nn.Module]:
    """The Stage class of `stage` (a key of STAGES), the modules its script imports (`common`, `feature_cache`)
    imported first."""
    train_module("common")
    train_module("feature_cache")
    script, name = STAGES[stage]
    return getattr(train_module(script), name)


def stage_options(stage: str) -> argparse.Namespace:
    """The options of `stage` at its training script's defaults (the common flags with its module-level DEFAULTS)."""
    defaults = train_module(STAGES[stage][0]).DEFAULTS
    options = vars(train_module("common").parse_args("", defaults, ["--output_dir", "unused"]))
    return argparse.Namespace(**{**options, **(CACHED_OPTIONS if stage == "predictor_cached" else {})})


def images_per_second(stage: str, preset: str, device: str, args: argparse.Namespace) -> float:
    """Images / s of `stage` on preset `preset` on `device`: `--steps` timed steps after `--warmup` ones."""
    pipe = RecolorPipeline.from_preset(preset, seed=args.seed).to(device)
    options = stage_options(stage)
    module = stage_class(stage)(pipe, options).to(device)
    params = [p for name in module.trained for p in getattr(pipe, name).parameters()]
    optimizer = torch.optim.Adam(params, lr=options.learning_rate, betas=(options.adam_beta1, options.adam_beta2))
    size, batch = pipe.config.resolution, args.train_batch_size
    generator = torch.Generator().manual_seed(args.seed)
    data = {key: torch.rand(batch, 3, size, size, generator=generator).to(device) for key in BATCH_KEYS}
    if stage == "predictor_cached":
        with torch.no_grad():
            features = pipe.features(data["content"], data["reference"])
        data = train_module("feature_cache").pack(features, {k: data[k] for k in ("content", "reference", "target")})
    autocast = torch.autocast(device, dtype=torch.bfloat16, enabled=args.mixed_precision == "bf16")
    for i in range(args.warmup + args.steps):
        if i == args.warmup:
            if device == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
        with autocast:
            loss, _ = module(data, STEP)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    if device == "cuda":
        torch.cuda.synchronize()
    return batch * args.steps / (time.perf_counter() - start)


def run(args: argparse.Namespace) -> None:
    """Throughput of every preset x stage on --device (default cuda when there is one): results.csv, summary.md."""
    PartialState()  # the stages log through accelerate's logger
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    rows = []
    for preset in args.presets:
        for stage in args.stages:
            rows.append({"preset": preset, "stage": stage,
                         "images / s": images_per_second(stage, preset, device, args)})
            print(f"{preset} {stage}: {rows[-1]['images / s']:.1f} images / s", flush=True)
    results = pd.DataFrame(rows)
    results.to_csv(args.output_dir / "results.csv", index=False)
    notes = [f"torch {torch.__version__}, device {device}, {torch.get_num_threads()} CPU threads, batch "
             f"{args.train_batch_size}, mixed precision {args.mixed_precision}, {args.steps} steps after {args.warmup}"]
    write_summary(args.output_dir, "Training throughput", notes, {"stages": markdown_table(results, {"images / s": "{:.1f}"})})
