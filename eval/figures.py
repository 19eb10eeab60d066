"""The README / model-card pictures, made by a checkpoint (run after `python -m eval presets ... --out DIR`).

    python -m eval.figures --checkpoint checkpoints/recolor-small --presets-out outputs/presets

- docs/result.jpg          source | reference | output for a few DPST pairs;
- docs/failure_cases.jpg   the preset-benchmark pairs where ours loses most against "no change" (by ΔE00):
                           source | reference | ground truth | ours.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from eval.__main__ import DATA
from eval.benchmark import contact_sheet, dpst_pairs, fit_cell, preset_pairs
from eval.methods import pipeline_method
from recolor_hf.data import list_images, split_train_val

DOCS = Path(__file__).resolve().parents[1] / "docs"
RESULT_PAIRS = ("in3", "in9", "in26", "in35")  # DPST pairs shown at the top of the README
RESULT_ROW_HEIGHT, FAILURE_ROW_HEIGHT = 200, 160


def worst_pairs(results: pd.DataFrame, count: int) -> list[int]:
    """Indices i of preset pairs ("{i:03d}_...") where ours' ΔE00 exceeds identity's the most, worst first."""
    table = results.pivot(index="pair", columns="method", values="ciede2000")
    loss = (table["ours"] - table["identity"]).sort_values(ascending=False)
    return [int(name.split("_", 1)[0]) for name in loss.index[:count]]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--presets-out", type=Path, required=True,
                   help="output folder of `python -m eval presets --split val` run with ours and identity")
    p.add_argument("--failures", type=int, default=4, help="rows of failure_cases.jpg")
    p.add_argument("--docs", type=Path, default=DOCS)
    args = p.parse_args()
    ours = pipeline_method(args.checkpoint)

    pairs = [pair for pair in dpst_pairs(DATA / "dpst") if pair.name in RESULT_PAIRS]
    rows = [[fit_cell(x, RESULT_ROW_HEIGHT) for x in (pair.source, pair.reference, ours(pair.source, pair.reference))]
            for pair in pairs]
    contact_sheet(rows, ["source", "reference", "ours"], RESULT_ROW_HEIGHT).save(args.docs / "result.jpg", quality=88)

    results = pd.read_csv(args.presets_out / "results.csv")
    wanted = worst_pairs(results, args.failures)
    _, val = split_train_val(list_images(DATA / "photos"), val_fraction=0.1, seed=0)
    by_index = {i: pair for i, pair in enumerate(preset_pairs(val, max(wanted) + 1, seed=0)) if i in wanted}
    rows = []
    for i in wanted:
        pair = by_index[i]
        images = (pair.source, pair.reference, pair.target, ours(pair.source, pair.reference))
        rows.append([fit_cell(np.asarray(x), FAILURE_ROW_HEIGHT) for x in images])
    labels = ["source", "reference P(B)", "ground truth P(A)", "ours"]
    contact_sheet(rows, labels, FAILURE_ROW_HEIGHT).save(args.docs / "failure_cases.jpg", quality=88)
    print(f"wrote {args.docs / 'result.jpg'} and {args.docs / 'failure_cases.jpg'} (preset pairs {wanted})")


if __name__ == "__main__":
    main()
