"""The README / model-card pictures, made by a checkpoint (run after `python -m eval dpst-oracle ... --output_dir DIR`).

    python -m eval figures --pretrained_model_name_or_path recolor_hf/checkpoints/recolor-small \\
        --oracle_dir outputs/eval/dpst-oracle

- docs/result.jpg          the DPST pairs where ours is closest to the mask-oracle ground truth (by ΔE00), with
                           very different references: content | reference | ours;
- docs/failure_cases.jpg   the pairs where ours loses most to Reinhard: content | reference | mask oracle | ours.
"""

from __future__ import annotations

import argparse

import pandas as pd
from PIL import Image

from eval import REPO_ROOT
from eval.benchmark import Pair, contact_sheet, dpst_oracle_pairs, fit_cell
from eval.methods import Method, pipeline_method

DOCS = REPO_ROOT / "docs"
RESULT_ROW_HEIGHT, FAILURE_ROW_HEIGHT = 200, 160
JPEG_QUALITY = 88


def ranked_pairs(results: pd.DataFrame, baseline: str | None = None) -> list[str]:
    """Pair names by ours' ΔE00 (minus the baseline's, if given), worst (largest) first."""
    table = results.pivot(index="pair", columns="method", values="ciede2000")
    score = table["ours"] - (table[baseline] if baseline else 0)
    return list(score.sort_values(ascending=False).index)


def distinct(names: list[str], pairs: dict[str, Pair], count: int) -> list[str]:
    """The first `count` names whose content photos differ (DPST repeats some, e.g. in9 == in22)."""
    chosen, seen = [], set()
    for name in names:
        key = pairs[name].content.tobytes()
        if key not in seen and len(chosen) < count:
            chosen.append(name)
            seen.add(key)
    return chosen


def sheet(pairs: list[Pair], ours: Method, with_target: bool, height: int) -> Image.Image:
    """Contact sheet: content | reference | (mask oracle) | ours, one row per pair."""
    rows = []
    for pair in pairs:
        images = [pair.content, pair.reference] + ([pair.target] if with_target else [])
        rows.append([fit_cell(x, height) for x in (*images, ours(pair.content, pair.reference))])
    labels = ["content", "reference"] + (["mask oracle"] if with_target else []) + ["ours"]
    return contact_sheet(rows, labels, height)


def run(args: argparse.Namespace) -> None:
    """Write result.jpg and failure_cases.jpg into --output_dir."""
    results = pd.read_csv(args.oracle_dir / "results.csv")
    if "ours" not in set(results["method"]) or "reinhard" not in set(results["method"]):
        raise ValueError(f"{args.oracle_dir / 'results.csv'} needs the methods ours and reinhard")
    ours = pipeline_method(args.pretrained_model_name_or_path, args.device)
    pairs = {pair.name: pair for pair in dpst_oracle_pairs(args.dpst_dir)}
    best = distinct(ranked_pairs(results)[::-1], pairs, args.num_results)
    worst = distinct(ranked_pairs(results, "reinhard"), pairs, args.num_failures)
    sheet([pairs[name] for name in best], ours, False, RESULT_ROW_HEIGHT).save(
        args.output_dir / "result.jpg", quality=JPEG_QUALITY)
    sheet([pairs[name] for name in worst], ours, True, FAILURE_ROW_HEIGHT).save(
        args.output_dir / "failure_cases.jpg", quality=JPEG_QUALITY)
    print(f"wrote {args.output_dir / 'result.jpg'} (DPST pairs {best}) and {args.output_dir / 'failure_cases.jpg'} "
          f"(DPST pairs {worst})")
