"""The image benchmarks (`python -m eval presets | fivek | dpst | dpst-oracle | halves | halves-local | grey-refs |
sensitivity | clicks | masks`): each method on each pair, scored; results.csv, summary.md and contact_sheet.jpg in
`--output_dir`.

No-harm checks: presets, fivek (and dpst: contact sheet only). Content-related references (DESIGN §6):
dpst-oracle, halves, halves-local, grey-refs, sensitivity. Guidance: clicks, masks.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from eval.benchmark import (
    CLICK_METRICS, CLICK_RADIUS, MASK_METRICS, SENSITIVITY_METRICS, ClickCase, MaskCase, Pair, click_benchmark,
    contact_sheet, dpst_labelled, dpst_oracle_pairs, dpst_pairs, fit_cell, fivek_pairs, guided_methods,
    halves_local_pairs, halves_pairs, mark_points, mask_benchmark, preset_pairs, reference_sensitivity, run_benchmark,
    swapped_references, timelapse_pairs,
)
from eval.methods import Method, build_methods
from eval.report import METRICS, method_tables, write_summary
from recolor_hf.data import photo_split
from recolor_hf.metrics import lpips_name

SHEET_ROWS = 100  # contact_sheet.jpg shows at most this many pairs (JPEG height limit)
IMAGE_HEIGHT = 256  # px, rows of the per-pair strips saved with --save_images
CLICK_NOTES = [  # the method of the clicks benchmark, for its summary
    "one click from the centre of the largest content class to the centre of the reference class of the most "
    "different mean colour; a keep point in the next largest content class",
    "moved: share of the way the clicked region's mean Lab colour moves toward the clicked colour (ΔE00); "
    "keep / rest: mean ΔE00 change of the keep region / the rest of the image; regions: the class's pixels "
    f"within {CLICK_RADIUS:.0%} of the image diagonal of the point",
    "ours+click, base-only+click: the model / its base-only path with the clicks; every other row: the method's "
    "automatic output (ours, base-only = the same, no click)",
]

MASK_NOTES = [  # the method of the masks benchmark, for its summary
    "painted: the largest content class, and the reference class of the most different mean colour (ΔE00)",
    "moved: share of the way the painted content region's mean Lab colour moves toward the painted reference "
    "region's (ΔE00); rest: mean ΔE00 change outside the painted region",
    "ours+masks, base-only+masks: the model / its base-only path with the painted regions; ours+click, "
    "base-only+click: the click of `clicks` on the same pair (moved toward the clicked colour, rest outside the "
    "click and keep regions); every other row: the method's automatic output, scored as the masks",
]
MASK_TINT_SHARE = 0.5  # painted regions are shown blended this far toward white


def lpips_note() -> str:
    """Which LPIPS ran, for the output header."""
    name = lpips_name()
    if name is not None:
        return f"LPIPS: {name} (real LPIPS)"
    return "LPIPS: n/a (needs the `lpips` package and its torchvision backbone weights in the torch hub cache; nothing is downloaded)"


def methods_of(args: argparse.Namespace) -> dict[str, Method]:
    """The methods named by --methods (default: the baselines, plus 'ours' and 'base-only' with
    --pretrained_model_name_or_path, both with --fallback)."""
    return build_methods(args.methods, args.pretrained_model_name_or_path, args.device, args.fallback)


def add_row(args: argparse.Namespace, rows: list, name: str, labels: list[str], images: list[np.ndarray]) -> None:
    """Keep a contact-sheet row (the first SHEET_ROWS pairs) and, with --save_images, save images/NAME.jpg."""
    if args.save_images:
        (args.output_dir / "images").mkdir(exist_ok=True)
        contact_sheet([images], labels, height=IMAGE_HEIGHT).save(args.output_dir / "images" / f"{name}.jpg", quality=92)
    if len(rows) < SHEET_ROWS:
        rows.append([fit_cell(image, args.row_height) for image in images])


def write_results(
    args: argparse.Namespace, results: pd.DataFrame, rows: list, labels: list[str], title: str, notes: list[str],
    metrics: Iterable[str] = METRICS,
) -> None:
    """Write results.csv, summary.md (tables of `metrics`) and contact_sheet.jpg; print the summary."""
    results.to_csv(args.output_dir / "results.csv", index=False)
    contact_sheet(rows, labels, args.row_height).save(args.output_dir / "contact_sheet.jpg", quality=90)
    write_summary(args.output_dir, title, notes, method_tables(results, metrics))


def evaluate(
    pairs: Iterable[Pair], methods: dict[str, Method], args: argparse.Namespace, title: str, notes: list[str], total: int | None
) -> None:
    """Run the methods and write the results (write_results); the contact sheet has one row per pair: content,
    reference, target if any, each method."""
    rows, labels = [], []

    def on_pair(pair: Pair, outputs: dict[str, np.ndarray]) -> None:
        target = [] if pair.target is None else [pair.target]
        labels[:] = ["content", "reference"] + ["target"] * len(target) + list(outputs)
        add_row(args, rows, pair.name, labels, [pair.content, pair.reference, *target, *outputs.values()])

    results = run_benchmark(pairs, methods, total=total, on_pair=on_pair)
    notes = [*notes, lpips_note(), f"methods: {', '.join(methods)}"]
    if args.pretrained_model_name_or_path:
        notes.append(f"fallback of ours and base-only for content the reference lacks: {args.fallback}")
    write_results(args, results, rows, labels, title, notes)


def run_presets(args: argparse.Namespace) -> None:
    """Preset benchmark over a folder of photos."""
    paths = photo_split(args.photos_dir, args.split)
    notes = [
        f"photos: {args.photos_dir} (split {args.split}: {len(paths)} photos), max side {args.max_side or 'as stored'}",
        f"{args.num_pairs} pairs (alternating global / local looks), seed {args.seed}",
    ]
    pairs = preset_pairs(paths, args.num_pairs, args.seed, args.max_side)
    evaluate(pairs, methods_of(args), args, "Preset benchmark", notes, total=args.num_pairs)


def run_fivek(args: argparse.Namespace) -> None:
    """FiveK expert benchmark."""
    pairs = itertools.islice(fivek_pairs(args.fivek_dir, args.seed, args.expert, args.max_side), args.num_pairs)
    notes = [f"FiveK: {args.fivek_dir}, expert {args.expert}, seed {args.seed}, max side {args.max_side or 'as stored'}"]
    evaluate(pairs, methods_of(args), args, f"FiveK expert {args.expert} benchmark", notes, total=args.num_pairs)


def run_dpst(args: argparse.Namespace) -> None:
    """DPST pairs (no ground truth): timings and the contact sheet."""
    pairs = itertools.islice(dpst_pairs(args.dpst_dir, args.max_side), args.num_pairs)
    notes = [f"DPST: {args.dpst_dir} (no ground truth: quality metrics n/a, see contact_sheet.jpg)"]
    evaluate(pairs, methods_of(args), args, "DPST pairs", notes, total=args.num_pairs)


def run_dpst_oracle(args: argparse.Namespace) -> None:
    """DPST pairs against the mask-oracle ground truth."""
    pairs = itertools.islice(dpst_oracle_pairs(args.dpst_dir, args.max_side), args.num_pairs)
    notes = [f"DPST: {args.dpst_dir}, max side {args.max_side}; target: per-class CIELAB mean/std transfer with the "
             "semantic masks (eval.benchmark.mask_oracle)"]
    evaluate(pairs, methods_of(args), args, "DPST mask-oracle benchmark", notes, total=args.num_pairs)


def halves_paths(args: argparse.Namespace) -> list[Path]:
    """The photos of halves and halves-local: the first --num_pairs (default all) of --split of --photos_dir."""
    return photo_split(args.photos_dir, args.split)[: args.num_pairs]


def run_halves(args: argparse.Namespace) -> None:
    """Halves of one photo under one look."""
    paths = halves_paths(args)
    notes = [
        f"photos: {args.photos_dir} (split {args.split}), {len(paths)} pairs, max side {args.max_side or 'as stored'}",
        f"content half A, reference P(half B), target P(half A); {args.strength} looks by kind, seed {args.seed}",
    ]
    pairs = halves_pairs(paths, args.seed, args.strength, args.max_side)
    evaluate(pairs, methods_of(args), args, f"Halves benchmark ({args.strength} looks)", notes, total=len(paths))


def run_halves_local(args: argparse.Namespace) -> None:
    """Halves of one photo under one segment-local look (eval.benchmark.halves_local_pairs)."""
    paths = halves_paths(args)
    notes = [
        f"photos: {args.photos_dir} (split {args.split}), {len(paths)} pairs, max side {args.max_side or 'as stored'}",
        "one segment-local look L over the whole photo (recolor_hf.looks.segment_local_augment: different looks on "
        f"unsupervised regions); content half A, reference L(photo) half B, target L(photo) half A; seed {args.seed}",
    ]
    pairs = halves_local_pairs(paths, args.seed, args.max_side)
    evaluate(pairs, methods_of(args), args, "Halves benchmark (segment-local looks)", notes, total=len(paths))


def run_grey_refs(args: argparse.Namespace) -> None:
    """DPST pairs with grey references against the mask oracle of the grey reference."""
    pairs = itertools.islice(dpst_oracle_pairs(args.dpst_dir, args.max_side, grey=True), args.num_pairs)
    notes = [f"DPST: {args.dpst_dir}, max side {args.max_side}; each reference converted to grey "
             "(recolor_hf.data.to_gray); target: the mask oracle (eval.benchmark.mask_oracle) with the grey reference"]
    evaluate(pairs, methods_of(args), args, "DPST grey-reference benchmark", notes, total=args.num_pairs)


def run_timelapse(args: argparse.Namespace) -> None:
    """Halves of fixed-camera scenes at two times of day (eval.benchmark.timelapse_pairs)."""
    pairs = list(itertools.islice(timelapse_pairs(args.timelapse_dir, args.scenes, args.per_scene, args.seed,
                                                  args.max_side), args.num_pairs))
    notes = [f"time-lapse scenes: {args.timelapse_dir} ({', '.join(args.scenes) if args.scenes else 'all'}), "
             f"{args.per_scene} pairs per scene, max side {args.max_side}, seed {args.seed}",
             "content half A of frame a, reference half B of frame b, target half A of frame b"]
    evaluate(pairs, methods_of(args), args, "Time-lapse halves benchmark", notes, total=len(pairs))


def run_sensitivity(args: argparse.Namespace) -> None:
    """Reference sensitivity on DPST: each content with its own and another pair's reference."""
    methods = methods_of(args)
    pairs = list(dpst_pairs(args.dpst_dir, args.max_side))
    cases = list(itertools.islice(swapped_references(pairs, args.seed), args.num_pairs))
    labels = ["content", "reference", "other reference"] + [f"{name}{r}" for name in methods for r in ("", " (R')")]
    rows = []

    def on_pair(pair: Pair, other: Pair, outputs: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
        images = [pair.content, pair.reference, other.reference, *itertools.chain(*outputs.values())]
        add_row(args, rows, pair.name, labels, images)

    results = reference_sensitivity(cases, methods, total=len(cases), on_pair=on_pair)
    notes = [f"DPST: {args.dpst_dir}, max side {args.max_side}; R' = the reference of another pair (seed {args.seed}), "
             "never pixel-identical to R", f"methods: {', '.join(methods)}"]
    write_results(args, results, rows, labels, "Reference sensitivity (DPST)", notes, SENSITIVITY_METRICS)


def run_clicks(args: argparse.Namespace) -> None:
    """Click effect of 'ours' and 'base-only' on DPST, beside every method's automatic output."""
    methods = methods_of(args)
    guided = guided_methods(methods)
    labelled = itertools.islice(dpst_labelled(args.dpst_dir, args.max_side), args.num_pairs)
    labels = ["content (click, keep)", "reference (target)", *methods, *(f"{name}+click" for name in guided)]
    rows = []

    def on_pair(pair: Pair, case: ClickCase, outputs: dict[str, np.ndarray]) -> None:
        (click, target), = case.guidance.pairs
        content = mark_points(mark_points(pair.content, [click], (255, 0, 0)), case.guidance.keep, (0, 255, 0))
        reference = mark_points(pair.reference, [target], (255, 0, 0))
        add_row(args, rows, pair.name, labels, [content, reference, *outputs.values()])

    results = click_benchmark(labelled, methods, total=args.num_pairs, on_pair=on_pair)
    notes = [f"DPST: {args.dpst_dir}, max side {args.max_side}", *CLICK_NOTES]
    write_results(args, results, rows, labels, "Click effect (DPST)", notes, CLICK_METRICS)


def painted(image: np.ndarray, region: np.ndarray) -> np.ndarray:
    """A copy of the image with the region blended MASK_TINT_SHARE toward white (contact sheets of masks)."""
    shown = image.astype(np.float64)
    shown[region] += MASK_TINT_SHARE * (255 - shown[region])
    return shown.round().astype(np.uint8)


def run_masks(args: argparse.Namespace) -> None:
    """Painted-region effect of 'ours' and 'base-only' on DPST, beside the click benchmark's click."""
    methods = methods_of(args)
    guided = guided_methods(methods)
    labelled = itertools.islice(dpst_labelled(args.dpst_dir, args.max_side), args.num_pairs)
    labels = ["content (painted)", "reference (painted)", *methods, *(f"{name}+masks" for name in guided),
              *(f"{name}+click" for name in guided)]
    rows = []

    def on_pair(pair: Pair, case: MaskCase, click: ClickCase, outputs: dict[str, np.ndarray]) -> None:
        images = [painted(pair.content, case.region), painted(pair.reference, case.guidance.reference_mask)]
        add_row(args, rows, pair.name, labels, [*images, *outputs.values()])

    results = mask_benchmark(labelled, methods, total=args.num_pairs, on_pair=on_pair)
    notes = [f"DPST: {args.dpst_dir}, max side {args.max_side}", *MASK_NOTES]
    write_results(args, results, rows, labels, "Painted-region effect (DPST)", notes, MASK_METRICS)
