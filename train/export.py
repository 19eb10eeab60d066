"""Assemble a pipeline folder from a training checkpoint (e.g. to ship it, or to evaluate mid-run).

Loads the pipeline the stage started from, replaces the components the stage trained by those in
``checkpoint-N`` (its ``<component>/`` folders, or with ``--use_ema`` its ``<component>_ema/`` folders) and writes
a clean pipeline folder (no optimizer state, logs or checkpoints).

    python train/export.py --pretrained_model_name_or_path runs/stage2 \\
        --checkpoint_path runs/stage3/checkpoint-2000 --use_ema --output_dir recolor_hf/checkpoints/recolor-small
"""

import argparse
from pathlib import Path

from common import EMA_SUFFIX, checkpoint_problem, load_ema
from recolor_hf import RecolorPipeline
from recolor_hf.loading import COMPONENTS


def export(pretrained_model_name_or_path: Path, checkpoint_path: Path, output_dir: Path,
           use_ema: bool = False) -> RecolorPipeline:
    """The pipeline at ``pretrained_model_name_or_path`` with the trained components of ``checkpoint_path`` (their
    EMA with ``use_ema``), saved to ``output_dir``, which must not hold files yet."""
    if not checkpoint_path.is_dir():
        raise ValueError(f"no checkpoint folder at {checkpoint_path}")
    problem = checkpoint_problem(checkpoint_path)
    if problem is not None:
        raise ValueError(f"{checkpoint_path} is not a complete checkpoint: {problem}")
    if output_dir.exists() and any(output_dir.iterdir()):
        raise ValueError(f"--output_dir {output_dir} already holds files; give a new or empty folder")
    trained = [name for name in COMPONENTS if (checkpoint_path / name).is_dir()]
    missing = [f"{name}{EMA_SUFFIX}" for name in trained if not (checkpoint_path / f"{name}{EMA_SUFFIX}").is_dir()]
    if use_ema and missing:
        raise ValueError(f"{checkpoint_path} has no {', '.join(missing)} folder (trained with --no-use_ema?); "
                         "export it without --use_ema")
    pipe = RecolorPipeline.from_pretrained(pretrained_model_name_or_path)
    for name in trained:
        component_cls = type(getattr(pipe, name))
        component = component_cls.from_pretrained(checkpoint_path / name)
        if use_ema:  # the EMA folder's config also holds the EMA's counters: only its weights are taken
            load_ema(checkpoint_path / f"{name}{EMA_SUFFIX}", component_cls).copy_to(component.parameters())
        pipe.register_modules(**{name: component})
    pipe.save_pretrained(output_dir)
    return pipe


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pretrained_model_name_or_path", type=Path, required=True,
                   help="pipeline folder the stage started from")
    p.add_argument("--checkpoint_path", type=Path, required=True, help="a checkpoint-N folder of that stage")
    p.add_argument("--output_dir", type=Path, required=True, help="new folder for the pipeline")
    p.add_argument("--use_ema", action="store_true", help="use the EMA weights saved with the checkpoint")
    args = p.parse_args()
    try:
        export(args.pretrained_model_name_or_path, args.checkpoint_path, args.output_dir, args.use_ema)
    except ValueError as err:
        raise SystemExit(f"export.py: error: {err}") from None
    print(f"wrote {args.output_dir}")


if __name__ == "__main__":
    main()
