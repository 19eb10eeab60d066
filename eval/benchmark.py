"""Benchmarks with ground truth by construction (DESIGN §6): pairs, runs, tables, sheets."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw
from tqdm import tqdm

from eval.methods import Method
from recolor_hf.data import FiveKPairs, load_image
from recolor_hf.looks import random_look
from recolor_hf.metrics import evaluate_pair

METRICS = ("mae", "psnr", "ciede2000", "lpips")
HIGHER_IS_BETTER = {"psnr"}
HEADERS = {"mae": "MAE ↓", "psnr": "PSNR ↑", "ciede2000": "ΔE00 ↓", "lpips": "LPIPS ↓", "seconds": "s/img"}
FORMATS = {"mae": "{:.2f}", "psnr": "{:.2f}", "ciede2000": "{:.2f}", "lpips": "{:.4f}", "seconds": "{:.3f}"}


@dataclass
class Pair:
    """One test case: re-colour `source` after `reference`; `target` is the ground truth, if any."""

    name: str
    part: str
    source: np.ndarray
    reference: np.ndarray
    target: np.ndarray | None = None


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Float [0, 1] RGB -> uint8 (rounded, clipped)."""
    return np.clip(np.rint(np.asarray(image) * 255.0), 0, 255).astype(np.uint8)


def apply_look(look: Callable[[np.ndarray], np.ndarray], image: np.ndarray) -> np.ndarray:
    """Apply a float [0, 1] look to a uint8 image, returning uint8."""
    return to_uint8(look(image.astype(np.float32) / 255.0))


def preset_pairs(
    paths: list[Path], num_pairs: int, seed: int, max_side: int | None = None
) -> Iterator[Pair]:
    """Seeded preset pairs: source A, reference P(B), target P(A) for two different photos A, B.

    Pairs alternate between global and local looks P; pair i depends only on (seed, i).
    """
    if len(paths) < 2:
        raise ValueError(f"need at least 2 photos, got {len(paths)}")
    for i in range(num_pairs):
        rng = np.random.default_rng([seed, i])
        kind = ("global", "local")[i % 2]
        a, b = rng.choice(len(paths), size=2, replace=False)
        look = random_look(rng, kind)
        photo_a, photo_b = load_image(paths[a], max_side), load_image(paths[b], max_side)
        yield Pair(
            name=f"{i:03d}_{paths[a].stem}_{paths[b].stem}",
            part=kind,
            source=photo_a,
            reference=apply_look(look, photo_b),
            target=apply_look(look, photo_a),
        )


def fivek_pairs(root: Path, seed: int, expert: str = "C", max_side: int | None = None) -> Iterator[Pair]:
    """FiveK pairs: source input X, reference the expert's retouch of another photo, target the
    expert's retouch of X (at X's size). The other photo is drawn with `seed`."""
    fivek = FiveKPairs(root, f"expert{expert}", max_side, cache=False)
    rng = np.random.default_rng(seed)
    for i in range(len(fivek)):
        j = (i + 1 + rng.integers(len(fivek) - 1)) % len(fivek)  # any index but i
        source, target = fivek[i]
        yield Pair(
            name=f"{fivek.names[i]}_{fivek.names[j]}",
            part="fivek",
            source=to_uint8(source),
            reference=load_image(fivek.experts[j], max_side),
            target=to_uint8(target),
        )


def dpst_pairs(root: Path, max_side: int | None = None) -> Iterator[Pair]:
    """DPST pairs content/inN.png + reference/tarN.png, by N; no ground truth."""
    contents = sorted((root / "content").glob("in*.png"), key=lambda path: int(path.stem[2:]))
    for path in contents:
        reference_path = root / "reference" / f"tar{path.stem[2:]}.png"
        if reference_path.exists():
            yield Pair(path.stem, "dpst", load_image(path, max_side), load_image(reference_path, max_side))


def run_benchmark(
    pairs: Iterable[Pair],
    methods: dict[str, Method],
    total: int | None = None,
    on_pair: Callable[[Pair, dict[str, np.ndarray]], None] | None = None,
) -> pd.DataFrame:
    """Run every method on every pair: one row per pair × method with metrics and seconds.

    Metrics are NaN where a pair has no target or LPIPS is unavailable. `on_pair(pair, outputs)`
    is called after each pair with the methods' outputs.
    """
    rows = []
    for pair in tqdm(pairs, total=total, desc="pairs", unit="pair"):
        outputs = {}
        for name, method in methods.items():
            start = time.perf_counter()
            output = method(pair.source, pair.reference)
            seconds = time.perf_counter() - start
            if output.shape != pair.source.shape or output.dtype != np.uint8:
                raise ValueError(
                    f"method {name!r} returned {output.dtype} {output.shape}, expected uint8 {pair.source.shape}"
                )
            outputs[name] = output
            scores = evaluate_pair(output, pair.target) if pair.target is not None else {}
            rows.append(
                {"pair": pair.name, "part": pair.part, "method": name}
                | {metric: scores.get(metric) for metric in METRICS}
                | {"seconds": seconds}
            )
        if on_pair is not None:
            on_pair(pair, outputs)
    return pd.DataFrame(rows, columns=["pair", "part", "method", *METRICS, "seconds"]).astype(
        {metric: float for metric in (*METRICS, "seconds")}
    )


def markdown_table(results: pd.DataFrame) -> str:
    """Markdown table of per-method means (methods in first-seen order); best quality value in bold."""
    means = results.groupby("method", sort=False)[[*METRICS, "seconds"]].mean()
    lines = [
        "| method | " + " | ".join(HEADERS[column] for column in means.columns) + " |",
        "|---|" + "---:|" * len(means.columns),
    ]
    best = {
        metric: (means[metric].max() if metric in HIGHER_IS_BETTER else means[metric].min())
        for metric in METRICS
        if means[metric].notna().any()
    }
    for method, row in means.iterrows():
        cells = []
        for column, value in row.items():
            text = "n/a" if math.isnan(value) else FORMATS[column].format(value)
            cells.append(f"**{text}**" if column in best and value == best[column] else text)
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def summary_markdown(results: pd.DataFrame, title: str, notes: list[str]) -> str:
    """Summary document: title, notes, then one table for all pairs and one per part (if several)."""
    parts = list(dict.fromkeys(results["part"]))
    sections = [("all", results)] + ([(part, results[results["part"] == part]) for part in parts] if len(parts) > 1 else [])
    text = [f"# {title}", "", *[f"- {note}" for note in notes], ""]
    for part, frame in sections:
        text += [f"## {part} ({frame['pair'].nunique()} pairs)", "", markdown_table(frame), ""]
    return "\n".join(text)


def fit_cell(image: np.ndarray, height: int = 160) -> np.ndarray:
    """Downscale an image to fit a contact-sheet cell of height × 1.5·height (never upscales)."""
    cell = Image.fromarray(image)
    cell.thumbnail((round(height * 1.5), height), Image.LANCZOS)
    return np.asarray(cell)


def contact_sheet(rows: list[list[np.ndarray]], labels: list[str], height: int = 160) -> Image.Image:
    """Grid image under a header of column labels: one row per list of images, each image
    centred in a height × 1.5·height cell."""
    width, header = round(height * 1.5), 20
    sheet = Image.new("RGB", (width * len(labels), header + height * len(rows)), (32, 32, 32))
    draw = ImageDraw.Draw(sheet)
    for column, label in enumerate(labels):
        draw.text((column * width + 4, 4), label, fill=(235, 235, 235))
    for r, images in enumerate(rows):
        for column, image in enumerate(images):
            cell = fit_cell(image, height)
            x = column * width + (width - cell.shape[1]) // 2
            y = header + r * height + (height - cell.shape[0]) // 2
            sheet.paste(Image.fromarray(cell), (x, y))
    return sheet
