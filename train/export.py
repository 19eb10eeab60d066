"""Assemble a pipeline folder from a training checkpoint (e.g. to ship it, or to evaluate mid-run).

Loads the pipeline the stage started from, puts in the trained components' weights of ``checkpoint-N``
(the EMA weights with ``--ema``) and writes a clean pipeline folder (no optimizer state, logs or checkpoints).

    python train/export.py --pipeline runs/stage2 --checkpoint runs/stage3/checkpoint-2000 --ema --output checkpoints/recolor-small
"""

import argparse
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from recolor_hf import RecolorPipeline  # noqa: E402
from recolor_hf.pipeline import COMPONENTS  # noqa: E402
from common import checkpoint_problem  # noqa: E402

EMA_FILE = "custom_checkpoint_0.pkl"  # accelerate's name for the first registered custom object (the EMA)


def export(pipeline: Path, checkpoint: Path, output: Path, ema: bool = False) -> RecolorPipeline:
    problem = checkpoint_problem(checkpoint)
    if problem is not None:
        raise ValueError(f"{checkpoint} is not a complete checkpoint: {problem}")
    pipe = RecolorPipeline.from_pretrained(pipeline)
    state = load_file(checkpoint / "model.safetensors")
    trained = [name for name in COMPONENTS if any(k.startswith(f"{name}.") for k in state)]
    if not trained:
        raise ValueError(f"{checkpoint} holds no pipeline component weights")
    for name in trained:
        prefix = f"{name}."
        getattr(pipe, name).load_state_dict({k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)})
    if ema:
        shadow = torch.load(checkpoint / EMA_FILE, map_location="cpu", weights_only=False)["shadow_params"]
        params = [p for name in trained for p in getattr(pipe, name).parameters()]
        if len(shadow) != len(params):
            raise ValueError(f"EMA holds {len(shadow)} tensors, the trained components {len(params)}")
        with torch.no_grad():
            for p, s in zip(params, shadow):
                p.copy_(s)
    pipe.save_pretrained(output)
    return pipe


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--pipeline", type=Path, required=True, help="pipeline folder the stage started from")
    p.add_argument("--checkpoint", type=Path, required=True, help="a checkpoint-N folder of that stage")
    p.add_argument("--output", type=Path, required=True)
    p.add_argument("--ema", action="store_true", help="use the EMA weights saved with the checkpoint")
    args = p.parse_args()
    export(args.pipeline, args.checkpoint, args.output, args.ema)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
