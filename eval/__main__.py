"""Command line: `python -m eval {presets,fivek,dpst} [options]` (see `--help`)."""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path
from typing import Iterable

import numpy as np

from eval.benchmark import Pair, contact_sheet, dpst_pairs, fit_cell, fivek_pairs, preset_pairs, run_benchmark, summary_markdown
from eval.methods import Method, build_methods
from recolor_hf.data import list_images, split_train_val
from recolor_hf.metrics import lpips_name

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SHEET_ROWS = 100  # contact_sheet.jpg shows at most this many pairs (JPEG height limit)


def lpips_note() -> str:
    """Which LPIPS ran, for the output header."""
    name = lpips_name()
    if name is not None:
        return f"LPIPS: {name} (real LPIPS)"
    return "LPIPS: n/a (needs the `lpips` package and its torchvision backbone weights in the torch hub cache; nothing is downloaded)"


def evaluate(
    pairs: Iterable[Pair], methods: dict[str, Method], args: argparse.Namespace, title: str, notes: list[str], total: int | None
) -> None:
    """Run the methods; write results.csv, summary.md, contact_sheet.jpg (one row per pair,
    the first SHEET_ROWS pairs: source, reference, target if any, each method) and, with --save-images, images/PAIR.jpg;
    print the summary."""
    sheet_rows, labels = [], []

    def on_pair(pair: Pair, outputs: dict[str, np.ndarray]) -> None:
        has_target = pair.target is not None
        labels[:] = ["source", "reference"] + (["target"] if has_target else []) + list(outputs)
        images = [pair.source, pair.reference] + ([pair.target] if has_target else []) + list(outputs.values())
        if args.save_images:
            (args.out / "images").mkdir(exist_ok=True)
            contact_sheet([images], labels, height=256).save(args.out / "images" / f"{pair.name}.jpg", quality=92)
        if len(sheet_rows) < SHEET_ROWS:
            sheet_rows.append([fit_cell(image, args.row_height) for image in images])

    results = run_benchmark(pairs, methods, total=total, on_pair=on_pair)
    results.to_csv(args.out / "results.csv", index=False)
    contact_sheet(sheet_rows, labels, args.row_height).save(args.out / "contact_sheet.jpg", quality=90)
    summary = summary_markdown(results, title, [*notes, lpips_note(), f"methods: {', '.join(methods)}"])
    (args.out / "summary.md").write_text(summary)
    print(summary)


def run_presets(args: argparse.Namespace, methods: dict[str, Method]) -> None:
    """Preset benchmark over a folder of photos."""
    paths = list_images(args.photos)
    if args.split != "all":
        train, val = split_train_val(paths, val_fraction=0.1, seed=0)
        paths = val if args.split == "val" else train
    notes = [
        f"photos: {args.photos} (split {args.split}: {len(paths)} photos), max side {args.max_side or 'as stored'}",
        f"{args.num_pairs} pairs (alternating global / local looks), seed {args.seed}",
    ]
    pairs = preset_pairs(paths, args.num_pairs, args.seed, args.max_side)
    evaluate(pairs, methods, args, "Preset benchmark", notes, total=args.num_pairs)


def run_fivek(args: argparse.Namespace, methods: dict[str, Method]) -> None:
    """FiveK expert benchmark."""
    pairs = itertools.islice(fivek_pairs(args.fivek, args.seed, args.expert, args.max_side), args.num_pairs)
    notes = [f"FiveK: {args.fivek}, expert {args.expert}, seed {args.seed}, max side {args.max_side or 'as stored'}"]
    evaluate(pairs, methods, args, f"FiveK expert {args.expert} benchmark", notes, total=args.num_pairs)


def run_dpst(args: argparse.Namespace, methods: dict[str, Method]) -> None:
    """DPST pairs (no ground truth): timings and the contact sheet."""
    pairs = itertools.islice(dpst_pairs(args.dpst, args.max_side), args.num_pairs)
    notes = [f"DPST: {args.dpst} (no ground truth: quality metrics n/a, see contact_sheet.jpg)"]
    evaluate(pairs, methods, args, "DPST pairs", notes, total=args.num_pairs)


def parser() -> argparse.ArgumentParser:
    """The argument parser with its three subcommands."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--out", type=Path, help="output folder (default outputs/eval/<command>)")
    common.add_argument("--methods", type=lambda text: text.split(","), help="comma-separated methods (default: baselines [+ ours])")
    common.add_argument("--checkpoint", help="RecolorPipeline folder; adds method 'ours'")
    common.add_argument("--device", help="device for 'ours' (e.g. cuda)")
    common.add_argument("--seed", type=int, default=0)
    common.add_argument("--max-side", type=int, help="downscale inputs so the long side is at most this")
    common.add_argument("--save-images", action="store_true", help="save a comparison strip per pair in images/")
    common.add_argument("--row-height", type=int, default=160, help="contact-sheet row height in px")

    main_parser = argparse.ArgumentParser(prog="python -m eval", description=__doc__)
    commands = main_parser.add_subparsers(dest="command", required=True)
    presets = commands.add_parser("presets", parents=[common], help="seeded looks on photo pairs (ground truth by construction)")
    presets.add_argument("--photos", type=Path, default=DATA / "photos")
    presets.add_argument("--split", choices=["all", "train", "val"], default="all")
    presets.add_argument("--num-pairs", type=int, default=60)
    presets.set_defaults(run=run_presets)
    fivek = commands.add_parser("fivek", parents=[common], help="FiveK input -> expert retouch")
    fivek.add_argument("--fivek", type=Path, default=DATA / "fivek")
    fivek.add_argument("--expert", default="C")
    fivek.add_argument("--num-pairs", type=int)
    fivek.set_defaults(run=run_fivek)
    dpst = commands.add_parser("dpst", parents=[common], help="DPST pairs: contact sheet, no ground truth")
    dpst.add_argument("--dpst", type=Path, default=DATA / "dpst")
    dpst.add_argument("--num-pairs", type=int)
    dpst.set_defaults(run=run_dpst)
    return main_parser


def main(argv: list[str] | None = None) -> None:
    """Parse `argv` and run the chosen benchmark."""
    args = parser().parse_args(argv)
    methods = build_methods(args.methods, args.checkpoint, args.device)
    args.out = args.out or Path("outputs") / "eval" / args.command
    args.out.mkdir(parents=True, exist_ok=True)
    args.run(args, methods)


if __name__ == "__main__":
    main()
