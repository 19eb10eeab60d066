"""Command line: `python -m eval COMMAND [options]` (see `--help`).

No-harm checks: presets, fivek (and dpst: contact sheet only). Content-related references (DESIGN §6):
dpst-oracle, halves, sensitivity, clicks.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from eval.benchmark import (
    CLICK_METRICS, CLICK_RADIUS, METRICS, SENSITIVITY_METRICS, ClickCase, Pair, click_benchmark, contact_sheet,
    dpst_labelled, dpst_oracle_pairs, dpst_pairs, fit_cell, fivek_pairs, halves_pairs, mark_points, preset_pairs,
    reference_sensitivity, run_benchmark, summary_markdown, swapped_references,
)
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


def add_row(args: argparse.Namespace, rows: list, name: str, labels: list[str], images: list[np.ndarray]) -> None:
    """Keep a contact-sheet row (the first SHEET_ROWS pairs) and, with --save-images, save images/NAME.jpg."""
    if args.save_images:
        (args.out / "images").mkdir(exist_ok=True)
        contact_sheet([images], labels, height=256).save(args.out / "images" / f"{name}.jpg", quality=92)
    if len(rows) < SHEET_ROWS:
        rows.append([fit_cell(image, args.row_height) for image in images])


def write_results(
    args: argparse.Namespace, results: pd.DataFrame, rows: list, labels: list[str], title: str, notes: list[str],
    metrics: Iterable[str] = METRICS,
) -> None:
    """Write results.csv, summary.md (tables of `metrics`) and contact_sheet.jpg; print the summary."""
    results.to_csv(args.out / "results.csv", index=False)
    contact_sheet(rows, labels, args.row_height).save(args.out / "contact_sheet.jpg", quality=90)
    summary = summary_markdown(results, title, notes, metrics)
    (args.out / "summary.md").write_text(summary)
    print(summary)


def evaluate(
    pairs: Iterable[Pair], methods: dict[str, Method], args: argparse.Namespace, title: str, notes: list[str], total: int | None
) -> None:
    """Run the methods and write the results (write_results); the contact sheet has one row per pair: source,
    reference, target if any, each method."""
    rows, labels = [], []

    def on_pair(pair: Pair, outputs: dict[str, np.ndarray]) -> None:
        target = [] if pair.target is None else [pair.target]
        labels[:] = ["source", "reference"] + ["target"] * len(target) + list(outputs)
        add_row(args, rows, pair.name, labels, [pair.source, pair.reference, *target, *outputs.values()])

    results = run_benchmark(pairs, methods, total=total, on_pair=on_pair)
    write_results(args, results, rows, labels, title, [*notes, lpips_note(), f"methods: {', '.join(methods)}"])


def photo_paths(photos: Path, split: str) -> list[Path]:
    """The photos of a split ("all", "train", "val": split_train_val(val_fraction=0.1, seed=0), as training uses)."""
    paths = list_images(photos)
    if split != "all":
        train, val = split_train_val(paths, val_fraction=0.1, seed=0)
        paths = val if split == "val" else train
    return paths


def run_presets(args: argparse.Namespace, methods: dict[str, Method]) -> None:
    """Preset benchmark over a folder of photos."""
    paths = photo_paths(args.photos, args.split)
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


def run_dpst_oracle(args: argparse.Namespace, methods: dict[str, Method]) -> None:
    """DPST pairs against the mask-oracle ground truth."""
    pairs = itertools.islice(dpst_oracle_pairs(args.dpst, args.max_side), args.num_pairs)
    notes = [f"DPST: {args.dpst}, max side {args.max_side}; target: per-class CIELAB mean/std transfer with the "
             "semantic masks (eval.benchmark.mask_oracle)"]
    evaluate(pairs, methods, args, "DPST mask-oracle benchmark", notes, total=args.num_pairs)


def run_halves(args: argparse.Namespace, methods: dict[str, Method]) -> None:
    """Halves of one photo under one look."""
    paths = photo_paths(args.photos, args.split)[: args.num_pairs]
    notes = [
        f"photos: {args.photos} (split {args.split}), {len(paths)} pairs, max side {args.max_side or 'as stored'}",
        f"source half A, reference P(half B), target P(half A); {args.strength} looks by kind, seed {args.seed}",
    ]
    pairs = halves_pairs(paths, args.seed, args.strength, args.max_side)
    evaluate(pairs, methods, args, f"Halves benchmark ({args.strength} looks)", notes, total=len(paths))


def run_sensitivity(args: argparse.Namespace, methods: dict[str, Method]) -> None:
    """Reference sensitivity on DPST: each source with its own and another pair's reference."""
    pairs = list(dpst_pairs(args.dpst, args.max_side))
    cases = list(itertools.islice(swapped_references(pairs, args.seed), args.num_pairs))
    labels = ["source", "reference", "other reference"] + [f"{name}{r}" for name in methods for r in ("", " (R')")]
    rows = []

    def on_pair(pair: Pair, other: Pair, outputs: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
        images = [pair.source, pair.reference, other.reference, *itertools.chain(*outputs.values())]
        add_row(args, rows, pair.name, labels, images)

    results = reference_sensitivity(cases, methods, total=len(cases), on_pair=on_pair)
    notes = [f"DPST: {args.dpst}, max side {args.max_side}; R' = the reference of another pair (seed {args.seed}), "
             "never pixel-identical to R", f"methods: {', '.join(methods)}"]
    write_results(args, results, rows, labels, "Reference sensitivity (DPST)", notes, SENSITIVITY_METRICS)


def run_clicks(args: argparse.Namespace, methods: dict[str, Method]) -> None:
    """Click effect of 'ours' on DPST, beside every method's automatic output."""
    if "ours" not in methods:
        raise SystemExit("clicks measures the model's guidance: give --checkpoint DIR (and 'ours' in --methods)")
    labelled = itertools.islice(dpst_labelled(args.dpst, args.max_side), args.num_pairs)
    labels = ["source (click, keep)", "reference (target)", *methods, "ours+click"]
    rows = []

    def on_pair(pair: Pair, case: ClickCase, outputs: dict[str, np.ndarray]) -> None:
        (click, target), = case.guidance.pairs
        source = mark_points(mark_points(pair.source, [click], (255, 0, 0)), case.guidance.keep, (0, 255, 0))
        reference = mark_points(pair.reference, [target], (255, 0, 0))
        add_row(args, rows, pair.name, labels, [source, reference, *outputs.values()])

    results = click_benchmark(labelled, methods, total=args.num_pairs, on_pair=on_pair)
    notes = [
        f"DPST: {args.dpst}, max side {args.max_side}; one click from the centre of the largest source class to "
        "the centre of the reference class of the most different mean colour; a keep point in the next largest "
        "source class",
        "moved: share of the way the clicked region's mean Lab colour moves toward the clicked colour (ΔE00); "
        "keep / rest: mean ΔE00 change of the keep region / the rest of the image; regions: the class's pixels "
        f"within {CLICK_RADIUS:.0%} of the image diagonal of the point",
        "ours+click: with the clicks; every other row: the method's automatic output (ours = the same model, no click)",
    ]
    write_results(args, results, rows, labels, "Click effect (DPST)", notes, CLICK_METRICS)


def parser() -> argparse.ArgumentParser:
    """The argument parser with its subcommands."""
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
    dpst.set_defaults(run=run_dpst)
    oracle = commands.add_parser("dpst-oracle", parents=[common], help="DPST pairs against a mask-oracle ground truth")
    oracle.set_defaults(run=run_dpst_oracle, max_side=512)
    sensitivity = commands.add_parser("sensitivity", parents=[common], help="DPST: effect of another reference")
    sensitivity.set_defaults(run=run_sensitivity, max_side=512)
    clicks = commands.add_parser("clicks", parents=[common], help="DPST: click effect of 'ours' (needs --checkpoint)")
    clicks.set_defaults(run=run_clicks, max_side=512)
    for command in (dpst, oracle, sensitivity, clicks):
        command.add_argument("--dpst", type=Path, default=DATA / "dpst")
        command.add_argument("--num-pairs", type=int)
    halves = commands.add_parser("halves", parents=[common], help="two halves of one photo under one look")
    halves.add_argument("--photos", type=Path, default=DATA / "photos")
    halves.add_argument("--split", choices=["all", "train", "val"], default="val")
    halves.add_argument("--strength", choices=["strong", "mild"], default="strong",
                        help="strong: DPST-like grades (eval.benchmark.strong_eval_look); mild: the preset looks")
    halves.add_argument("--num-pairs", type=int, help="the first N photos of the split (default all)")
    halves.set_defaults(run=run_halves, max_side=512)
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
