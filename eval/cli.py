"""Command line: `python -m eval COMMAND [options]`, every benchmark of the project (see `--help`).

Image benchmarks (eval.quality): no-harm checks presets, fivek (and dpst: contact sheet only); content-related
references (DESIGN §6) dpst-oracle, halves, halves-local, grey-refs, timelapse, sensitivity, clicks, masks.
ablation (eval.ablation): what each learned part of the model changes; headroom (eval.headroom): what a learned
per-patch target could still gain. shipped (eval.shipped): the quality bars of a shipped checkpoint, pass or fail.
Speed and memory: speed, soak (the demo), train-speed, model-size, upsample, upsample-quality, video. figures: the
README / model-card pictures.
Flags are diffusers-style snake_case, as in train/: --pretrained_model_name_or_path, --output_dir, ...
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable

from eval import (
    DATA_ENV, DATA_ROOT, ablation, figures, headroom, model_size, quality, shipped, soak, speed, train_speed,
    upsample, upsample_quality, video,
)
from recolor_hf import DEFAULT_CHECKPOINT, PRESETS
from recolor_hf.data import SPLITS
from recolor_hf.fallback import FALLBACKS

OUTPUTS = Path("outputs") / "eval"  # --output_dir defaults to OUTPUTS / COMMAND
DATA_FOLDERS = ("photos", "fivek", "dpst", "timelapse")  # --NAME_dir defaults to --data_dir / NAME
ROW_HEIGHT = 160  # px, contact-sheet rows
OUR_MAX_SIDE = 512  # px, default --max_side of the content-related benchmarks


def comma_list(kind: type = str) -> Callable[[str], list]:
    """argparse type: "a,b,c" -> [kind(a), kind(b), kind(c)]."""
    return lambda text: [kind(item) for item in text.split(",")]


def image_size(text: str) -> tuple[int, int]:
    """argparse type: "WxH" -> (W, H)."""
    width, _, height = text.partition("x")
    if not (width.isdigit() and height.isdigit()):
        raise argparse.ArgumentTypeError(f"expected WxH, e.g. 1920x1080, got {text!r}")
    return int(width), int(height)


def parents() -> dict[str, argparse.ArgumentParser]:
    """Option groups shared by several commands."""
    groups = {name: argparse.ArgumentParser(add_help=False) for name in ("output", "data", "model", "pairs")}
    groups["output"].add_argument("--output_dir", type=Path, help=f"output folder (default {OUTPUTS}/COMMAND)")
    groups["data"].add_argument("--data_dir", type=Path, default=DATA_ROOT,
                                help=f"data root (default ${DATA_ENV} or ../shared/data beside the repository)")
    groups["model"].add_argument("--pretrained_model_name_or_path",
                                 help="RecolorPipeline folder; adds the methods 'ours' and 'base-only'")
    groups["model"].add_argument("--device", help="device for the pipeline (e.g. cuda)")
    groups["model"].add_argument("--methods", type=comma_list(),
                                 help="comma-separated methods (default: baselines [+ ours, base-only])")
    pairs = groups["pairs"]
    pairs.add_argument("--seed", type=int, default=0)
    pairs.add_argument("--max_side", type=int, help="downscale inputs so the long side is at most this")
    pairs.add_argument("--num_pairs", type=int, help="pairs to run (default: all)")
    pairs.add_argument("--save_images", action="store_true", help="save a comparison strip per pair in images/")
    pairs.add_argument("--row_height", type=int, default=ROW_HEIGHT, help="contact-sheet row height in px")
    return groups


def add_image_benchmarks(commands, groups: dict[str, argparse.ArgumentParser]) -> None:
    """presets, fivek, dpst, dpst-oracle, halves, halves-local, grey-refs, sensitivity, clicks, masks (eval.quality)."""
    shared = [groups["output"], groups["data"], groups["model"], groups["pairs"]]
    specs = {  # command: (run, data folder, --max_side default, help)
        "presets": (quality.run_presets, "photos", None, "seeded looks on photo pairs (ground truth by construction)"),
        "fivek": (quality.run_fivek, "fivek", None, "FiveK input -> expert retouch"),
        "dpst": (quality.run_dpst, "dpst", None, "DPST pairs: contact sheet, no ground truth"),
        "dpst-oracle": (quality.run_dpst_oracle, "dpst", OUR_MAX_SIDE, "DPST pairs against a mask-oracle ground truth"),
        "halves": (quality.run_halves, "photos", OUR_MAX_SIDE, "two halves of one photo under one look"),
        "halves-local": (quality.run_halves_local, "photos", OUR_MAX_SIDE,
                         "two halves of one photo under one segment-local look over the whole photo"),
        "grey-refs": (quality.run_grey_refs, "dpst", OUR_MAX_SIDE,
                      "DPST pairs with grey references against the mask oracle of the grey reference"),
        "timelapse": (quality.run_timelapse, "timelapse", OUR_MAX_SIDE,
                      "halves of one fixed-camera scene at two times of day (real light, exact ground truth)"),
        "sensitivity": (quality.run_sensitivity, "dpst", OUR_MAX_SIDE, "DPST: effect of another reference"),
        "clicks": (quality.run_clicks, "dpst", OUR_MAX_SIDE,
                   "DPST: click effect of 'ours' and 'base-only' (needs --pretrained_model_name_or_path)"),
        "masks": (quality.run_masks, "dpst", OUR_MAX_SIDE,
                  "DPST: painted-region effect of 'ours' and 'base-only', beside the click "
                  "(needs --pretrained_model_name_or_path)"),
    }
    for name, (run, folder, max_side, text) in specs.items():
        command = commands.add_parser(name, parents=shared, help=text, description=text)
        command.add_argument(f"--{folder}_dir", type=Path, help=f"{folder} folder (default DATA_DIR/{folder})")
        command.set_defaults(run=run, max_side=max_side)
        command.add_argument("--fallback", choices=FALLBACKS, default="global",
                             help="what content the reference lacks moves to, in 'ours' and 'base-only' "
                                  "(RecolorPipeline's fallback)")
        if folder == "photos":
            command.add_argument("--split", choices=SPLITS, default="val" if name.startswith("halves") else "all",
                                 help="photos of the training split (recolor_hf.data.photo_split)")
    commands.choices["presets"].set_defaults(num_pairs=60)
    commands.choices["fivek"].add_argument("--expert", default="C")
    commands.choices["timelapse"].add_argument("--scenes", type=comma_list(), default=None,
                                               help="comma-separated scene folders (default: all)")
    commands.choices["timelapse"].add_argument("--per_scene", type=int, default=12, help="pairs per scene")
    commands.choices["halves"].add_argument(
        "--strength", choices=["strong", "mild"], default="strong",
        help="strong: DPST-like grades (eval.benchmark.strong_eval_look); mild: the preset looks")


def add_ablation(commands, groups: dict[str, argparse.ArgumentParser]) -> None:
    """ablation (eval.ablation): on dpst-oracle and halves-local pairs; headroom (eval.headroom): the same and the
    halves; shipped (eval.shipped): quality bars."""
    command = commands.add_parser(
        "ablation", parents=[groups["output"], groups["data"], groups["pairs"]],
        help="full model vs base-only, swapped w / W~0R, zeroed P_W heads", description=ablation.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    command.add_argument("--pretrained_model_name_or_path", required=True, help="RecolorPipeline folder")
    command.add_argument("--device", help="device for the pipeline (e.g. cuda)")
    command.add_argument("--dpst_dir", type=Path, help="dpst folder (default DATA_DIR/dpst)")
    command.add_argument("--photos_dir", type=Path, help="photos folder of halves-local (default DATA_DIR/photos)")
    command.add_argument("--split", choices=SPLITS, default="val", help="photos of halves-local, as in halves")
    command.set_defaults(run=ablation.run, max_side=OUR_MAX_SIDE)
    command = commands.add_parser(
        "headroom", parents=[groups["output"], groups["data"], groups["pairs"]],
        help="grid-level error of T, T', the global and fitted transfers, and oracle choices among them",
        description=headroom.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    command.add_argument("--pretrained_model_name_or_path", required=True, help="RecolorPipeline folder")
    command.add_argument("--device", help="device for the pipeline (e.g. cuda)")
    command.add_argument("--dpst_dir", type=Path, help="dpst folder (default DATA_DIR/dpst)")
    command.add_argument("--photos_dir", type=Path, help="photos folder of the halves parts (default DATA_DIR/photos)")
    command.add_argument("--split", choices=SPLITS, default="val", help="photos of the halves parts, as in halves")
    command.add_argument("--parts", nargs="+", choices=headroom.PARTS, default=list(headroom.PARTS))
    command.set_defaults(run=headroom.run, max_side=OUR_MAX_SIDE)
    command = commands.add_parser("shipped", parents=[groups["output"], groups["data"]],
                                  help="a checkpoint's quality bars against the baselines, pass or fail",
                                  description=shipped.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    command.add_argument("--pretrained_model_name_or_path", default=str(DEFAULT_CHECKPOINT), help="pipeline folder")
    command.add_argument("--checks", nargs="+", choices=list(shipped.CHECKS), default=list(shipped.CHECKS))
    command.add_argument("--num_pairs", type=int, help="pairs per check (default: each check's own)")
    command.add_argument("--dpst_dir", type=Path, help="dpst folder (default DATA_DIR/dpst)")
    command.add_argument("--photos_dir", type=Path, help="photos folder (default DATA_DIR/photos)")
    command.set_defaults(run=shipped.run)


def add_speed_benchmarks(commands, groups: dict[str, argparse.ArgumentParser]) -> None:
    """speed, soak, model-size, train-speed."""
    output, model = groups["output"], groups["model"]
    command = commands.add_parser("speed", parents=[output, model], help="seconds and peak memory per image",
                                  description=speed.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    command.add_argument("--megapixels", type=comma_list(float), default=[1.0, 12.0], help="content sizes, e.g. 1,12")
    command.add_argument("--content", type=Path, help="photo to upscale as the content photo (default synthetic)")
    command.add_argument("--reference", type=Path, help="reference photo (default synthetic, 512 px)")
    command.add_argument("--repeats", type=int, default=3)
    command.add_argument("--startup_repeats", type=int, default=3, help="runs per start-up measurement (0: skip)")
    command.add_argument("--force", action="store_true",
                         help=f"time even when the load average is above {speed.MAX_LOAD} (a busy machine)")
    command.set_defaults(run=speed.run)
    command = commands.add_parser("soak", parents=[output], help="the demo's memory over many large requests",
                                  description=soak.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    command.add_argument("--pretrained_model_name_or_path", default=str(DEFAULT_CHECKPOINT), help="pipeline folder")
    command.add_argument("--requests", type=int, default=200)
    command.add_argument("--megapixels", type=float, default=12.0)
    command.add_argument("--num_photos", type=int, default=6, help="distinct content photos to cycle through")
    command.add_argument("--sessions", type=int, default=4, help="gradio_client sessions taking turns")
    command.add_argument("--every", type=int, default=10, help="a row of results.csv every this many requests")
    command.set_defaults(run=soak.run)
    command = commands.add_parser("model-size", parents=[output], help="parameters and seconds of each model preset",
                                  description=model_size.__doc__)
    command.add_argument("--presets", nargs="+", choices=sorted(PRESETS), default=["tiny", "small", "paper"])
    command.add_argument("--repeats", type=int, default=5)
    command.add_argument("--size", type=int, default=256, help="side of the square content and reference")
    command.add_argument("--seed", type=int, default=0)
    command.set_defaults(run=model_size.run)
    command = commands.add_parser("train-speed", parents=[output], help="training images / s per stage",
                                  description=train_speed.__doc__)
    command.add_argument("--presets", nargs="+", choices=sorted(PRESETS), default=["small"])
    command.add_argument("--stages", nargs="+", choices=list(train_speed.STAGES), default=list(train_speed.STAGES))
    command.add_argument("--train_batch_size", type=int, default=8)
    command.add_argument("--steps", type=int, default=5)
    command.add_argument("--warmup", type=int, default=2)
    command.add_argument("--device", default=None, help="default: cuda if available, else cpu")
    command.add_argument("--mixed_precision", default="no", choices=["no", "bf16"])
    command.add_argument("--seed", type=int, default=0)
    command.set_defaults(run=train_speed.run)


def add_other_benchmarks(commands, groups: dict[str, argparse.ArgumentParser]) -> None:
    """upsample, upsample-quality, video, figures."""
    output, data = groups["output"], groups["data"]
    command = commands.add_parser("upsample", parents=[output], help="full-resolution colour transfer: speed, memory",
                                  description=upsample.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    command.add_argument("--sizes", type=comma_list(image_size), default=[(1000, 1000), (4000, 3000), (6000, 4000)],
                         help="content sizes WxH,WxH,...")
    command.set_defaults(run=upsample.run)
    command = commands.add_parser("upsample-quality", parents=[output, data], help="grid size x eps PSNR on FiveK",
                                  description=upsample_quality.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    command.add_argument("--fivek_dir", type=Path, help="FiveK folder (default DATA_DIR/fivek)")
    command.set_defaults(run=upsample_quality.run)
    command = commands.add_parser("video", parents=[output, data], help="video flicker and speed",
                                  description=video.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    command.add_argument("--pretrained_model_name_or_path", default=str(DEFAULT_CHECKPOINT), help="pipeline folder")
    command.add_argument("--device", help="device for the pipeline (e.g. cuda)")
    command.add_argument("--frames", type=int, default=64, help="frames per flicker clip")
    command.add_argument("--width", type=int, default=320)
    command.add_argument("--height", type=int, default=240)
    command.add_argument("--speed_frames", type=int, default=6, help="frames of the speed run (0: skip)")
    command.add_argument("--speed_size", type=image_size, default=video.SPEED_SIZE, help="WxH of the speed run")
    command.set_defaults(run=video.run, reads_data_root=True)  # its clip photos are files under --data_dir
    command = commands.add_parser("figures", parents=[data], help="docs/result.jpg and docs/failure_cases.jpg",
                                  description=figures.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    command.add_argument("--pretrained_model_name_or_path", required=True, help="pipeline folder ('ours')")
    command.add_argument("--device", help="device for the pipeline (e.g. cuda)")
    command.add_argument("--oracle_dir", type=Path, required=True,
                         help="--output_dir of `python -m eval dpst-oracle` (default size) run with ours and reinhard")
    command.add_argument("--dpst_dir", type=Path, help="DPST folder (default DATA_DIR/dpst)")
    command.add_argument("--num_results", type=int, default=4, help="rows of result.jpg")
    command.add_argument("--num_failures", type=int, default=4, help="rows of failure_cases.jpg")
    command.add_argument("--output_dir", type=Path, default=figures.DOCS)
    command.set_defaults(run=figures.run)


def parser() -> argparse.ArgumentParser:
    """The argument parser with its subcommands."""
    main_parser = argparse.ArgumentParser(prog="python -m eval", description=__doc__,
                                          formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = main_parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    groups = parents()
    add_image_benchmarks(commands, groups)
    add_ablation(commands, groups)
    add_speed_benchmarks(commands, groups)
    add_other_benchmarks(commands, groups)
    return main_parser


def check_data_root(data_dir: Path) -> None:
    """A ValueError naming ``data_dir`` when it is not a folder."""
    if not data_dir.is_dir():
        raise ValueError(f"data folder {data_dir} not found: pass --data_dir or set {DATA_ENV}")


def resolve_paths(args: argparse.Namespace) -> None:
    """Fill in the defaults that depend on others: --NAME_dir from --data_dir, --output_dir from the command."""
    if getattr(args, "reads_data_root", False):
        check_data_root(args.data_dir)
    for name in DATA_FOLDERS:
        if getattr(args, f"{name}_dir", False) is None:  # a folder this command reads, not given: from the root
            check_data_root(args.data_dir)
            setattr(args, f"{name}_dir", args.data_dir / name)
    args.output_dir = args.output_dir or OUTPUTS / args.command
    args.output_dir.mkdir(parents=True, exist_ok=True)


def main(argv: list[str] | None = None) -> None:
    """Parse `argv` and run the chosen command; bad input exits with status 1 and a message."""
    args = parser().parse_args(argv)
    try:
        resolve_paths(args)
        args.run(args)
    except ValueError as err:
        print(f"python -m eval {args.command}: error: {err}", file=sys.stderr)
        raise SystemExit(1) from None
