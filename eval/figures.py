"""The README / model-card pictures, made by a checkpoint (run after `python -m eval presets ... --out DIR`).

    python -m eval.figures --checkpoint checkpoints/recolor-small --presets-out outputs/presets

- docs/result.jpg          the held-out preset-benchmark pairs where ours gains most over "no change" (by ΔE00):
                           source | reference | ours;
- docs/failure_cases.jpg   the pairs where ours loses most: source | reference | ground truth | ours.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
from PIL import Image

from eval.__main__ import DATA
from eval.benchmark import contact_sheet, fit_cell, preset_pairs
from eval.methods import pipeline_method
from recolor_hf.data import list_images, split_train_val

DOCS = Path(__file__).resolve().parents[1] / "docs"
RESULT_ROW_HEIGHT, FAILURE_ROW_HEIGHT = 200, 160


def ranked_pairs(results: pd.DataFrame) -> list[int]:
    """Indices i of preset pairs ("{i:03d}_..."), by ours' ΔE00 minus identity's, worst (largest) first."""
    table = results.pivot(index="pair", columns="method", values="ciede2000")
    loss = (table["ours"] - table["identity"]).sort_values(ascending=False)
    return [int(name.split("_", 1)[0]) for name in loss.index]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--presets-out", type=Path, required=True,
                   help="output folder of `python -m eval presets --split val` (default seed and size) run with "
                        "ours and identity")
    p.add_argument("--results", type=int, default=4, help="rows of result.jpg")
    p.add_argument("--failures", type=int, default=4, help="rows of failure_cases.jpg")
    p.add_argument("--docs", type=Path, default=DOCS)
    args = p.parse_args()
    ours = pipeline_method(args.checkpoint)
    ranked = ranked_pairs(pd.read_csv(args.presets_out / "results.csv"))
    best, worst = ranked[::-1][: args.results], ranked[: args.failures]
    _, val = split_train_val(list_images(DATA / "photos"), val_fraction=0.1, seed=0)
    pairs = {i: pair for i, pair in enumerate(preset_pairs(val, max(ranked) + 1, seed=0)) if i in best + worst}

    def sheet(indices: list[int], with_target: bool, height: int) -> Image.Image:
        rows = []
        for i in indices:
            pair = pairs[i]
            images = [pair.source, pair.reference] + ([pair.target] if with_target else [])
            rows.append([fit_cell(x, height) for x in (*images, ours(pair.source, pair.reference))])
        labels = ["source", "reference P(B)"] + (["ground truth P(A)"] if with_target else []) + ["ours"]
        return contact_sheet(rows, labels, height)

    sheet(best, False, RESULT_ROW_HEIGHT).save(args.docs / "result.jpg", quality=88)
    sheet(worst, True, FAILURE_ROW_HEIGHT).save(args.docs / "failure_cases.jpg", quality=88)
    print(f"wrote {args.docs / 'result.jpg'} (preset pairs {best}) and {args.docs / 'failure_cases.jpg'} "
          f"(preset pairs {worst})")


if __name__ == "__main__":
    main()
