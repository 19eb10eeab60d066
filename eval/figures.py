"""The README / model-card pictures, made by a checkpoint (run after `python -m eval dpst-oracle ... --out DIR`).

    python -m eval.figures --checkpoint checkpoints/recolor-small --oracle-out outputs/eval/dpst-oracle

- docs/result.jpg          the DPST pairs where ours is closest to the mask-oracle ground truth (by ΔE00), with
                           very different references: source | reference | ours;
- docs/failure_cases.jpg   the pairs where ours loses most to Reinhard: source | reference | mask oracle | ours.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
from PIL import Image

from eval.__main__ import DATA
from eval.benchmark import contact_sheet, dpst_oracle_pairs, fit_cell
from eval.methods import pipeline_method

DOCS = Path(__file__).resolve().parents[1] / "docs"
RESULT_ROW_HEIGHT, FAILURE_ROW_HEIGHT = 200, 160


def ranked_pairs(results: pd.DataFrame, baseline: str | None = None) -> list[str]:
    """Pair names by ours' ΔE00 (minus the baseline's, if given), worst (largest) first."""
    table = results.pivot(index="pair", columns="method", values="ciede2000")
    score = table["ours"] - (table[baseline] if baseline else 0)
    return list(score.sort_values(ascending=False).index)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--oracle-out", type=Path, required=True,
                   help="output folder of `python -m eval dpst-oracle` (default size) run with ours and reinhard")
    p.add_argument("--dpst", type=Path, default=DATA / "dpst")
    p.add_argument("--results", type=int, default=4, help="rows of result.jpg")
    p.add_argument("--failures", type=int, default=4, help="rows of failure_cases.jpg")
    p.add_argument("--docs", type=Path, default=DOCS)
    args = p.parse_args()
    ours = pipeline_method(args.checkpoint)
    results = pd.read_csv(args.oracle_out / "results.csv")
    pairs = {pair.name: pair for pair in dpst_oracle_pairs(args.dpst)}

    def distinct(names: list[str], count: int) -> list[str]:  # DPST repeats some sources (e.g. in9 == in22)
        chosen, seen = [], set()
        for name in names:
            key = pairs[name].source.tobytes()
            if key not in seen and len(chosen) < count:
                chosen.append(name)
                seen.add(key)
        return chosen

    best = distinct(ranked_pairs(results)[::-1], args.results)
    worst = distinct(ranked_pairs(results, "reinhard"), args.failures)

    def sheet(names: list[str], with_target: bool, height: int) -> Image.Image:
        rows = []
        for name in names:
            pair = pairs[name]
            images = [pair.source, pair.reference] + ([pair.target] if with_target else [])
            rows.append([fit_cell(x, height) for x in (*images, ours(pair.source, pair.reference))])
        labels = ["source", "reference"] + (["mask oracle"] if with_target else []) + ["ours"]
        return contact_sheet(rows, labels, height)

    sheet(best, False, RESULT_ROW_HEIGHT).save(args.docs / "result.jpg", quality=88)
    sheet(worst, True, FAILURE_ROW_HEIGHT).save(args.docs / "failure_cases.jpg", quality=88)
    print(f"wrote {args.docs / 'result.jpg'} (DPST pairs {best}) and {args.docs / 'failure_cases.jpg'} "
          f"(DPST pairs {worst})")


if __name__ == "__main__":
    main()
