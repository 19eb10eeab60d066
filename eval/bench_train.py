"""Training throughput (images / s) per stage and preset on this machine, on synthetic batches.

Each measurement is forward + backward + Adam step of the stage's module (as the training scripts run it),
after warm-up steps, float32 (bf16 autocast on CUDA with --mixed_precision bf16).

    python eval/bench_train.py [--presets small] [--stages generator map_encoder predictor] [--batch 8]
"""

import argparse
import sys
import time
from pathlib import Path

import torch
from accelerate import PartialState

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "train")]

from recolor_hf import RecolorPipeline  # noqa: E402
from train_generator import GeneratorStage  # noqa: E402
from train_map_encoder import MapEncoderStage  # noqa: E402
from train_predictor import PredictorStage  # noqa: E402

STAGES = {"generator": GeneratorStage, "map_encoder": MapEncoderStage, "predictor": PredictorStage}
STAGE_ARGS = argparse.Namespace(self_pair_prob=0.5, max_mask_ratio=0.95, mask_curriculum_steps=1000,
                                lambda_l1=1.0, lambda_perceptual=1.0, lambda_w0=1.0)


def images_per_second(stage_cls, preset: str, batch: int, steps: int, warmup: int, device: str,
                      mixed_precision: str) -> float:
    pipe = RecolorPipeline.from_preset(preset).to(device)
    stage = stage_cls(pipe, STAGE_ARGS).to(device)
    params = [p for name in stage.trained for p in getattr(pipe, name).parameters()]
    optimizer = torch.optim.Adam(params, lr=1e-4, betas=(0.0, 0.99))
    r = pipe.config.resolution
    keys = ("input", "target", "content", "reference")
    data = {k: torch.rand(batch, 3, r, r, device=device) for k in keys}
    autocast = torch.autocast(device, dtype=torch.bfloat16, enabled=mixed_precision == "bf16")
    for i in range(warmup + steps):
        if i == warmup:
            if device == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
        with autocast:
            loss, _ = stage(data, 500)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    if device == "cuda":
        torch.cuda.synchronize()
    return batch * steps / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--presets", nargs="+", default=["small"])
    p.add_argument("--stages", nargs="+", default=list(STAGES), choices=list(STAGES))
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--mixed_precision", default="no", choices=["no", "bf16"])
    args = p.parse_args()
    PartialState()  # the stages log through accelerate's logger
    print(f"torch {torch.__version__}, device {args.device}, {torch.get_num_threads()} CPU threads, "
          f"batch {args.batch}, {args.mixed_precision}")
    print("| preset | stage | images / s |\n|---|---|---:|")
    for preset in args.presets:
        for name in args.stages:
            ips = images_per_second(STAGES[name], preset, args.batch, args.steps, args.warmup, args.device,
                                    args.mixed_precision)
            print(f"| {preset} | {name} | {ips:.1f} |", flush=True)


if __name__ == "__main__":
    main()
