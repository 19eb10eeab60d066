"""What the three training stages share: arguments, the Accelerate loop, checkpoints, validation.

Shape of diffusers' ``examples/*/train_*.py``: argparse, ``Accelerator`` with ``ProjectConfiguration``,
``checkpoint-N`` folders with ``save_state``/``load_state``, ``--resume_from_checkpoint latest``, tqdm on the main
process, tensorboard logs, validation grids, EMA of the trained weights, a final ``save_pretrained``. As in
diffusers' examples, save/load hooks put each trained component in a checkpoint as a diffusers folder,
``checkpoint-N/<component>/``, and its EMA as ``checkpoint-N/<component>_ema/``; the optimizer, random and sampler
states stay Accelerate's files. ``train/export.py`` assembles a pipeline folder from these.

Checkpoints survive a kill: a ``checkpoint-N`` folder counts as complete only once its marker
(``CHECKPOINT_MARKER``, listing every file and its size) is written, last; ``latest`` takes the newest complete one
that loads and logs which newer ones it skipped and why. Resuming is exact: epoch e visits the photos in an order
seeded by seed + e (and the dataset draws its crops and looks for epoch e), and a resumed run skips the batches of
its epoch already trained on, so steps N+1... see the same batches, and the same random draws, as an
uninterrupted run. Unreadable training photos are skipped, logged once and counted in the run summary.

A stage is a ``Stage`` module holding the pipeline's components (trained ones with gradients, the rest frozen);
its ``forward(batch, step)`` returns the loss and a dict of logged values, so Accelerate/DDP wraps one module.
"""

import argparse
import json
import logging
import os
import pickle
import shutil
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.logging import get_logger
from accelerate.utils import DataLoaderConfiguration, ProjectConfiguration, set_seed
from diffusers import ModelMixin
from diffusers.training_utils import EMAModel
from diffusers.utils import logging as diffusers_logging
from PIL import Image
from safetensors import SafetensorError
from torch import nn
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from recolor_hf import PRESETS, RecolorPipeline
from recolor_hf.loading import COMPONENTS
from recolor_hf.data import (DATA_ROOT, SPLIT_SEED, VAL_FRACTION, ColourPairDataset, FiveKPairs, scan_images,
                             split_train_val)
from recolor_hf.image_io import tensor_to_uint8
from recolor_hf.looks import LOOK_KINDS

logger = get_logger(__name__)
VALIDATION_PAIRS = 4  # images in each validation grid
CHECKPOINT_MARKER = "checkpoint_complete.json"  # written last: {"files": {name: size in bytes}}
EMA_SUFFIX = "_ema"  # checkpoint-N/<component>_ema/ holds the component's EMA weights
# what a damaged checkpoint file raises when it is loaded (accelerate's pickles, diffusers' component folders)
LOAD_ERRORS = (EOFError, OSError, RuntimeError, ValueError, KeyError, pickle.UnpicklingError, SafetensorError)


def bool_flag(text: str) -> bool:
    """argparse type: "true"/"1"/"yes" or "false"/"0"/"no"."""
    value = text.strip().lower()
    if value not in ("true", "1", "yes", "false", "0", "no"):
        raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")
    return value in ("true", "1", "yes")


def look_mix(text: str) -> dict[str, float]:
    """argparse type: "global=0.4,local=0.4,segment=0.2" -> {look kind: weight}."""
    mix = {}
    for item in text.split(","):
        kind, _, weight = item.partition("=")
        if kind not in LOOK_KINDS or not weight:
            raise argparse.ArgumentTypeError(f"expected kind=weight with kind in {LOOK_KINDS}, got {item!r}")
        mix[kind] = float(weight)
    if min(mix.values()) < 0 or sum(mix.values()) <= 0:
        raise argparse.ArgumentTypeError(f"weights must be >= 0 with a positive sum, got {text!r}")
    return mix


def parse_args(description: str, defaults: dict, argv=None) -> argparse.Namespace:
    """Common flags with diffusers' names; ``defaults`` overrides per stage."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--preset", default="small", choices=sorted(PRESETS), help="model size when starting fresh")
    p.add_argument("--pretrained_model_name_or_path", default=None,
                   help="pipeline folder written by the previous stage (or any pipeline folder)")
    p.add_argument("--train_data_dir", default=str(DATA_ROOT / "photos"))
    p.add_argument("--fivek_dir", default=None,
                   help="optional FiveK folder (input/ + expertC/) mixed into stages 1 and 3; off by default "
                        "because the evaluation's FiveK benchmark uses these photos")
    p.add_argument("--val_fraction", type=float, default=VAL_FRACTION, help="share of each photo source held out")
    p.add_argument("--output_dir", required=True)
    p.add_argument("--resolution", type=int, default=None, help="training size (default: the preset's)")
    p.add_argument("--train_batch_size", type=int, default=8)
    p.add_argument("--learning_rate", type=float, default=defaults.get("learning_rate", 0.002))
    p.add_argument("--adam_beta1", type=float, default=0.0)
    p.add_argument("--adam_beta2", type=float, default=0.99)
    p.add_argument("--max_train_steps", type=int, default=defaults.get("max_train_steps", 1000))
    p.add_argument("--max_train_minutes", type=float, default=None,
                   help="stop (with a checkpoint and the pipeline saved) after this much wall time")
    p.add_argument("--checkpointing_steps", type=int, default=500)
    p.add_argument("--checkpoints_total_limit", type=int, default=2)
    p.add_argument("--resume_from_checkpoint", default=None, help='a checkpoint folder or "latest"')
    p.add_argument("--mixed_precision", default="no", choices=["no", "fp16", "bf16"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--validation_steps", type=int, default=250)
    p.add_argument("--dataloader_num_workers", type=int, default=0)
    p.add_argument("--use_ema", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--ema_decay", type=float, default=0.995)
    p.add_argument("--report_to", default="tensorboard")
    p.add_argument("--logging_dir", default="logs")
    for name, (kind, value, helptext) in defaults.get("extra", {}).items():
        p.add_argument(f"--{name}", type=kind, default=value, help=helptext)
    return p.parse_args(argv)


def load_pipeline(args) -> RecolorPipeline:
    if args.pretrained_model_name_or_path:
        return RecolorPipeline.from_pretrained(args.pretrained_model_name_or_path)
    return RecolorPipeline.from_preset(args.preset, seed=args.seed)


class Stage(nn.Module):
    """Holds the components (as submodules, so DDP sees them) and computes one stage's loss."""

    trained: tuple[str, ...] = ()
    data_mode: str = ""

    def __init__(self, pipe: RecolorPipeline, args):
        super().__init__()
        object.__setattr__(self, "pipe", pipe)  # plain attribute: the pipeline is not an nn.Module
        self.args = args
        for name in COMPONENTS:
            module = getattr(pipe, name)
            module.requires_grad_(name in self.trained and name != "backbone")
            self.add_module(name, module)

    def trained_components(self) -> dict[str, ModelMixin]:
        """{name: component} of the components this stage trains (what its checkpoints hold)."""
        return {name: getattr(self, name) for name in self.trained}

    def dataset_options(self) -> dict:
        """Extra ``ColourPairDataset`` arguments of this stage (training and validation sets)."""
        return {}

    def datasets(self, train_set: Dataset, val_set: Dataset) -> tuple[Dataset, Dataset]:
        """The stage's training and validation sets, given the photo ones (a stage may train on other data)."""
        return train_set, val_set

    def forward(self, batch: dict, step: int) -> tuple[torch.Tensor, dict]:
        raise NotImplementedError

    def validation_images(self, batch: dict) -> list[torch.Tensor]:
        """Columns of the validation grid, each (B, 3, H, W)."""
        raise NotImplementedError


class ReconstructionStage(Stage):
    """Stages 1 and 2: G'(I_in, latent(I_in, I_out)) should reproduce I_out; ``reconstruct`` picks the latent."""

    data_mode = "jitter"

    def reconstruct(self, image_in: torch.Tensor, image_out: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def validation_images(self, batch: dict) -> list[torch.Tensor]:
        """input | target | reconstruction of the target | self-reconstruction of the input."""
        image_in, image_out = batch["input"], batch["target"]
        return [image_in, image_out, self.reconstruct(image_in, image_out).clamp(0, 1),
                self.reconstruct(image_in, image_in).clamp(0, 1)]


def checkpoint_step(path: Path) -> int:
    return int(path.name.split("-", 1)[1])


def checkpoint_folders(output_dir: Path) -> list[Path]:
    """``checkpoint-<step>`` folders, complete or not, oldest first (other names are ignored)."""
    found = [p for p in output_dir.glob("checkpoint-*") if p.name.split("-", 1)[1].isdigit() and p.is_dir()]
    return sorted(found, key=checkpoint_step)


def checkpoint_problem(path: Path) -> str | None:
    """Why the checkpoint folder ``path`` cannot be resumed from, or None when its marker lists every file with
    the size it has and the files include at least one component folder (``<component>/``)."""
    try:
        files = json.loads((path / CHECKPOINT_MARKER).read_text())["files"]
    except FileNotFoundError:
        return f"no {CHECKPOINT_MARKER}: it was never finished (or predates completion markers)"
    except (OSError, ValueError, KeyError, TypeError) as err:
        return f"unreadable {CHECKPOINT_MARKER} ({err})"
    if not any(name.split("/", 1)[0] in COMPONENTS for name in files):
        return "it holds no component folder (<component>/config.json + weights): an older checkpoint layout"
    for name, size in files.items():
        if not (path / name).is_file():
            return f"{name} is missing"
        if (path / name).stat().st_size != size:
            return f"{name} is truncated ({(path / name).stat().st_size} of {size} bytes)"
    return None


def save_checkpoint(accelerator: Accelerator, path: Path) -> None:
    """``save_state`` into ``path`` (replacing a stale folder of that name), then the completion marker, last."""
    if path.exists():
        shutil.rmtree(path)
    accelerator.save_state(str(path))
    files = {f.relative_to(path).as_posix(): f.stat().st_size for f in sorted(path.rglob("*")) if f.is_file()}
    tmp = path / f"{CHECKPOINT_MARKER}.tmp"
    tmp.write_text(json.dumps({"files": files}, indent=1))
    os.replace(tmp, path / CHECKPOINT_MARKER)


def load_ema(folder: Path, model_cls: type[ModelMixin]) -> EMAModel:
    """``EMAModel.from_pretrained`` of a ``<component>_ema`` folder, without diffusers' warnings about the EMA's
    counters in its config.json (``EMAModel.save_pretrained`` keeps them there) and about its own deprecated
    ``from_config(path)``."""
    verbosity = diffusers_logging.get_verbosity()
    diffusers_logging.set_verbosity_error()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            return EMAModel.from_pretrained(folder, model_cls)
    finally:
        diffusers_logging.set_verbosity(verbosity)


def register_checkpoint_hooks(accelerator: Accelerator, emas: dict[str, EMAModel]) -> None:
    """Make ``save_state``/``load_state`` write and read each trained component of the prepared ``Stage`` as
    ``<checkpoint>/<name>/`` and its EMA (``emas``, by component name) as ``<checkpoint>/<name>_ema/``, diffusers
    folders (config.json + diffusion_pytorch_model.safetensors), instead of one state dict of the whole stage."""

    def save_components(models: list[nn.Module], weights: list[dict], output_dir: str) -> None:
        for model in models:
            for name, component in accelerator.unwrap_model(model).trained_components().items():
                component.save_pretrained(Path(output_dir) / name)
            weights.pop()  # so that accelerate does not save the stage a second time
        for name, ema in emas.items():
            with torch.random.fork_rng(devices=[]):  # the EMA's save builds a fresh, randomly initialised model
                ema.save_pretrained(Path(output_dir) / f"{name}{EMA_SUFFIX}")

    def load_components(models: list[nn.Module], input_dir: str) -> None:
        while models:  # popped: accelerate then loads no stage state dict of its own
            for name, component in accelerator.unwrap_model(models.pop()).trained_components().items():
                component.load_state_dict(type(component).from_pretrained(Path(input_dir) / name).state_dict())
        for name, ema in emas.items():
            ema.load_state_dict(load_ema(Path(input_dir) / f"{name}{EMA_SUFFIX}", ema.model_cls).state_dict())

    accelerator.register_save_state_pre_hook(save_components)
    accelerator.register_load_state_pre_hook(load_components)


def checkpoints(output_dir: Path) -> list[Path]:
    """Complete checkpoint folders whose files all have their recorded sizes, oldest first."""
    return [p for p in checkpoint_folders(output_dir) if checkpoint_problem(p) is None]


def resumable_checkpoints(output_dir: Path) -> Iterator[Path]:
    """Complete checkpoint folders whose files all have their recorded sizes, newest first; the folders passed
    over are logged with the reason."""
    for path in reversed(checkpoint_folders(output_dir)):
        problem = checkpoint_problem(path)
        if problem is None:
            yield path
        else:
            logger.warning(f"skipping {path}: {problem}")


def resume(accelerator: Accelerator, output_dir: Path, choice: str) -> int:
    """Load the checkpoint ``choice`` names (a folder, or "latest": the newest complete one that loads) -> its
    step, 0 when there is none."""
    if choice != "latest":
        path = Path(choice)
        if not path.is_dir():
            raise ValueError(f"--resume_from_checkpoint: no checkpoint folder at {path}")
        problem = checkpoint_problem(path)
        if problem is not None:
            logger.warning(f"{path}: {problem}; loading it anyway, as asked")
        try:
            accelerator.load_state(str(path))
        except LOAD_ERRORS as err:
            raise ValueError(f"--resume_from_checkpoint: {path} does not load "
                             f"({problem or f'{type(err).__name__}: {err}'})") from err
        logger.info(f"resumed from {path} at step {checkpoint_step(path)}")
        return checkpoint_step(path)
    for path in resumable_checkpoints(output_dir):
        try:
            accelerator.load_state(str(path))  # a later success overwrites whatever a failed load had set
        except LOAD_ERRORS as err:
            logger.warning(f"skipping {path}: it does not load ({type(err).__name__}: {err})")
            continue
        logger.info(f"resumed from {path} at step {checkpoint_step(path)}")
        return checkpoint_step(path)
    logger.info("no complete checkpoint to resume from; starting fresh")
    return 0


def prune_checkpoints(output_dir: Path, keep: int) -> None:
    """Delete the oldest complete checkpoints beyond ``keep`` (at least one is kept); damaged or incomplete
    folders are left alone (the step that wrote one replaces it)."""
    found = checkpoints(output_dir)
    for old in found[: max(0, len(found) - max(1, keep))]:
        shutil.rmtree(old)


def save_grid(columns: list[torch.Tensor], path: Path) -> None:
    """Rows = pairs, columns = e.g. content | reference | output | target."""
    rows = [np.concatenate([tensor_to_uint8(col[i]) for col in columns], axis=1) for i in range(columns[0].shape[0])]
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(rows, axis=0)).save(path)


@dataclass
class TrainingData:
    """The training set, the held-out set and what the scan of the photo folder skipped."""

    train_set: Dataset
    val_set: Dataset
    held_out: int
    skipped: int

    def validation_batch(self, device: torch.device) -> dict[str, torch.Tensor]:
        """The first ``VALIDATION_PAIRS`` held-out samples, stacked: {key: (B, ...)} on ``device``."""
        samples = [self.val_set[i] for i in range(min(VALIDATION_PAIRS, len(self.val_set)))]
        return {k: torch.stack([sample[k] for sample in samples]).to(device) for k in samples[0]}


@dataclass
class TrainingRun:
    """What the steps of ``train`` share: the prepared stage, optimizer and loader, the EMAs, the data."""

    args: argparse.Namespace
    accelerator: Accelerator
    pipe: RecolorPipeline
    stage: nn.Module  # the Stage as accelerate prepared it (DDP-wrapped with several processes)
    optimizer: torch.optim.Optimizer
    loader: torch.utils.data.DataLoader
    data: TrainingData
    emas: dict[str, EMAModel]  # by trained component name; empty with --no-use_ema

    @property
    def output_dir(self) -> Path:
        return Path(self.args.output_dir)


def build_accelerator(args: argparse.Namespace) -> Accelerator:
    """Accelerator with checkpoints and logs under ``--output_dir``; the data order of epoch e is seeded by
    seed + e."""
    output_dir = Path(args.output_dir)
    accelerator = Accelerator(
        mixed_precision=args.mixed_precision,
        log_with=args.report_to if args.report_to != "none" else None,
        project_config=ProjectConfiguration(project_dir=str(output_dir),
                                            logging_dir=str(output_dir / args.logging_dir)),
        dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True, data_seed=args.seed),
    )
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    threads = torch.get_num_threads() * accelerator.num_processes  # on this machine (one node on CPU)
    if accelerator.device.type == "cpu" and threads < (os.cpu_count() or 1):
        logger.warning(f"training on {threads} of {os.cpu_count()} CPU threads: `accelerate launch` sets "
                       "OMP_NUM_THREADS=1 unless given --num_cpu_threads_per_process N (or OMP_NUM_THREADS=N)")
    return accelerator


def build_data(stage: Stage, args: argparse.Namespace, resolution: int) -> TrainingData:
    """Training and validation sets of ``stage`` from ``--train_data_dir`` (unreadable photos skipped, logged)."""
    photos, skipped = scan_images(args.train_data_dir)
    train_paths, val_paths = split_train_val(photos, args.val_fraction, SPLIT_SEED)
    if not train_paths:
        raise ValueError(f"no training photos under {args.train_data_dir}")
    fivek = FiveKPairs(args.fivek_dir) if args.fivek_dir else None
    options = stage.dataset_options()
    train_set = ColourPairDataset(train_paths, resolution, seed=args.seed, mode=stage.data_mode, fivek=fivek,
                                 **options)
    val_set = ColourPairDataset(val_paths or train_paths, resolution, seed=args.seed + 1, mode=stage.data_mode,
                               **options)
    return TrainingData(*stage.datasets(train_set, val_set), held_out=len(val_paths), skipped=len(skipped))


def prepare_run(accelerator: Accelerator, pipe: RecolorPipeline, stage: Stage, data: TrainingData,
                args: argparse.Namespace) -> TrainingRun:
    """Adam over the trained components, their EMAs, the loader, ``accelerator.prepare`` and the checkpoint
    hooks."""
    components = stage.trained_components()
    params = [p for component in components.values() for p in component.parameters()]
    optimizer = torch.optim.Adam(params, lr=args.learning_rate, betas=(args.adam_beta1, args.adam_beta2))
    loader = torch.utils.data.DataLoader(data.train_set, batch_size=args.train_batch_size, shuffle=True,
                                         drop_last=True, num_workers=args.dataloader_num_workers,
                                         generator=torch.Generator().manual_seed(args.seed))
    emas = {name: EMAModel(component.parameters(), decay=args.ema_decay, use_ema_warmup=True,
                           model_cls=type(component), model_config=component.config)
            for name, component in components.items()} if args.use_ema else {}
    register_checkpoint_hooks(accelerator, emas)
    prepared, optimizer, loader = accelerator.prepare(stage, optimizer, loader)
    pipe.to(accelerator.device)
    if len(loader) == 0:
        raise ValueError(f"{len(data.train_set)} training photos are fewer than one batch "
                         f"({args.train_batch_size} x {accelerator.num_processes} processes)")
    return TrainingRun(args, accelerator, pipe, prepared, optimizer, loader, data, emas)


def start_logging(run: TrainingRun, stage_cls: type[Stage]) -> None:
    """Trackers (with the run's flags) and a line on what is trained on which data, on the main process."""
    args, accelerator, data = run.args, run.accelerator, run.data
    if accelerator.is_main_process:
        accelerator.init_trackers(f"recolor-{stage_cls.__name__.lower()}", config={
            k: v for k, v in vars(args).items() if isinstance(v, (int, float, str, bool))})
        logger.info(f"training {stage_cls.trained} on {len(data.train_set)} photos, {data.held_out} held out, "
                    f"{data.skipped} unreadable skipped, "
                    f"resolution {data.train_set.resolution}, "
                    f"batch {args.train_batch_size} x {accelerator.num_processes} processes")


def epoch_batches(run: TrainingRun, start_step: int) -> Iterator[dict]:
    """The batches of steps ``start_step`` + 1, + 2, ... without end: epoch e in the order seeded by seed + e (and
    the dataset's crops and looks of epoch e), the batches of the current epoch already trained on skipped."""
    epoch, done_in_epoch = divmod(start_step, len(run.loader))
    while True:
        run.loader.set_epoch(epoch)
        run.data.train_set.set_epoch(epoch)
        yield from run.accelerator.skip_first_batches(run.loader, done_in_epoch) if done_in_epoch else run.loader
        epoch, done_in_epoch = epoch + 1, 0


def training_step(run: TrainingRun, batch: dict, step: int) -> dict[str, float]:
    """Forward, backward, optimizer and EMA update of step ``step`` + 1 -> its logged values."""
    run.stage.train()
    loss, logs = run.stage(batch, step)
    run.accelerator.backward(loss)
    run.optimizer.step()
    run.optimizer.zero_grad(set_to_none=True)
    components = run.accelerator.unwrap_model(run.stage).trained_components()
    for name, ema in run.emas.items():
        ema.step(components[name].parameters())
    return {"loss": loss.detach().item(), **logs}


def out_of_time(accelerator: Accelerator, deadline: float) -> bool:
    """Whether any process is past ``deadline`` (``time.monotonic``), so that all stop at the same step."""
    late = torch.tensor([time.monotonic() > deadline], device=accelerator.device)
    return bool(accelerator.gather(late).any())


def after_step(run: TrainingRun, val_batch: dict, step: int, last: bool) -> None:
    """Validation and checkpoint (then pruning) when ``step`` is due for them or the ``last``."""
    args, accelerator = run.args, run.accelerator
    # validation before the checkpoint, so that the random state saved is the one step N+1 starts from
    if accelerator.is_main_process and (step % args.validation_steps == 0 or last):
        validate(accelerator.unwrap_model(run.stage), val_batch, step, run.output_dir, accelerator)
    if step % args.checkpointing_steps == 0 or last:
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            save_checkpoint(accelerator, run.output_dir / f"checkpoint-{step}")
            prune_checkpoints(run.output_dir, args.checkpoints_total_limit)


def run_steps(run: TrainingRun, val_batch: dict, global_step: int) -> int:
    """Train from ``global_step`` to ``--max_train_steps``, or until ``--max_train_minutes`` ran out -> the last
    step (which is validated and checkpointed)."""
    args, accelerator = run.args, run.accelerator
    last_step = args.max_train_steps
    if global_step >= last_step:
        return global_step
    progress = tqdm(range(last_step), initial=global_step, desc="steps",
                    disable=not accelerator.is_local_main_process)
    deadline = time.monotonic() + 60 * args.max_train_minutes if args.max_train_minutes else float("inf")
    for batch in epoch_batches(run, global_step):
        logs = training_step(run, batch, global_step)
        global_step += 1
        progress.update(1)
        if out_of_time(accelerator, deadline):
            last_step = global_step  # stop here, with a final checkpoint and validation
        progress.set_postfix({k: f"{v:.4f}" for k, v in logs.items()})
        accelerator.log(logs, step=global_step)
        after_step(run, val_batch, global_step, last=global_step == last_step)
        if global_step == last_step:
            return global_step


def finish(run: TrainingRun, global_step: int) -> None:
    """Put the EMA weights in the trained components, save the pipeline to ``--output_dir`` and log a summary."""
    accelerator = run.accelerator
    accelerator.wait_for_everyone()
    components = accelerator.unwrap_model(run.stage).trained_components()
    for name, ema in run.emas.items():
        ema.copy_to(components[name].parameters())
    if accelerator.is_main_process:
        run.pipe.save_pretrained(str(run.output_dir))
        logger.info(f"saved pipeline to {run.output_dir}; summary: {global_step} steps, "
                    f"{len(run.data.train_set)} training photos, {run.data.skipped} unreadable photos skipped")
    accelerator.end_training()


def train(stage_cls: type[Stage], args: argparse.Namespace) -> RecolorPipeline:
    """The training run shared by every stage; returns the pipeline with the (EMA) trained weights."""
    accelerator = build_accelerator(args)
    set_seed(args.seed)
    pipe = load_pipeline(args)
    stage = stage_cls(pipe, args)
    data = build_data(stage, args, args.resolution or pipe.config.resolution)
    run = prepare_run(accelerator, pipe, stage, data, args)
    global_step = resume(accelerator, run.output_dir, args.resume_from_checkpoint) if args.resume_from_checkpoint else 0
    for ema in run.emas.values():
        ema.to(accelerator.device)  # after load_state, which loads the EMA on the CPU
    start_logging(run, stage_cls)
    finish(run, run_steps(run, data.validation_batch(accelerator.device), global_step))
    return pipe


@torch.no_grad()
def validate(stage: Stage, batch: dict, step: int, output_dir: Path, accelerator: Accelerator) -> None:
    stage.eval()
    loss, logs = stage(batch, step)
    accelerator.log({f"val_{k}": v for k, v in {"loss": loss.item(), **logs}.items()}, step=step)
    save_grid(stage.validation_images(batch), output_dir / "validation" / f"step-{step:06d}.png")
