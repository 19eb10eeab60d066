"""`python -m eval shipped`: the quality bars a shipped checkpoint must clear, each pass or fail.

- dpst: DPST pairs (similar scenes, very different colours) against the mask-oracle ground truth: ours beats
  identity, Reinhard and MKL in MAE and ΔE00;
- looks: held-out photo A, reference an unaligned view (``random_warp``) of P(A) under a seeded global or local look
  P, ground truth P(A): ours below 0.8 x identity in both (``CHECKS``);
- no-harm: reference P(B) of another held-out photo B (the preset benchmark's pairs), ground truth P(A): only the look
  is shared, so doing nothing is hard to beat, but a transfer must still beat Reinhard and MKL.

Writes results.csv (mean MAE and ΔE00 per check and method, and whether ours passes) and summary.md; exits with
status 1 when a check fails.
"""

from __future__ import annotations

import argparse
import itertools

import numpy as np
import pandas as pd

from eval.benchmark import dpst_oracle_pairs, preset_pairs
from eval.report import markdown_table, write_summary
from recolor_hf import RecolorPipeline
from recolor_hf.baselines import BASELINES
from recolor_hf.data import list_images, random_warp, split_train_val
from recolor_hf.image_io import load_array, to_float, to_uint8
from recolor_hf.looks import random_look
from recolor_hf.metrics import ciede2000, mae

# check -> (baselines ours must beat, factor on their errors, default number of pairs)
CHECKS = {"dpst": (("identity", "reinhard", "mkl"), 1.0, 10), "looks": (("identity",), 0.8, 6),
          "no-harm": (("reinhard", "mkl"), 1.0, 40)}
MAX_SIDE = 256  # px, long side of every input
LOOK_KINDS = ("global", "local")  # the looks check alternates these


def look_pairs(photos: list, count: int) -> list[tuple[np.ndarray, ...]]:
    """(content A, reference = unaligned view of P(A), target P(A)) of ``count`` photos spread over ``photos``."""
    triples = []
    for i, path in enumerate(photos[:: max(1, len(photos) // count)][:count]):
        rng = np.random.default_rng([7, i])
        content = to_float(load_array(path, MAX_SIDE))
        target = random_look(rng, LOOK_KINDS[i % 2])(content)
        triples.append(tuple(to_uint8(x) for x in (content, random_warp(target, rng), target)))
    return triples


def check_pairs(check: str, args: argparse.Namespace) -> list[tuple[np.ndarray, ...]]:
    """The (content, reference, target) triples of ``check`` (``--num_pairs`` or its default count)."""
    count = args.num_pairs or CHECKS[check][2]
    if check == "dpst":
        pairs = dpst_oracle_pairs(args.dpst_dir, MAX_SIDE)
        return [(p.content, p.reference, p.target) for p in itertools.islice(pairs, count)]
    _, val = split_train_val(list_images(args.photos_dir), 0.1, seed=0)
    if check == "looks":
        return look_pairs(val, count)
    return [(p.content, p.reference, p.target) for p in preset_pairs(val, count, seed=7, max_side=MAX_SIDE)]


def errors(pipe: RecolorPipeline, pairs: list[tuple[np.ndarray, ...]], methods: tuple[str, ...]
           ) -> dict[str, np.ndarray]:
    """{"ours" and each baseline of ``methods``: mean (MAE, ΔE00) to the ground truth} over (content, reference,
    target) triples."""
    scores = {name: [] for name in ("ours", *methods)}
    for content, reference, target in pairs:
        outputs = {"ours": np.asarray(pipe(content=content, reference=reference).images[0])}
        outputs.update({name: BASELINES[name](content, reference) for name in methods})
        for name, output in outputs.items():
            scores[name].append((mae(output, target), ciede2000(output, target)))
    return {name: np.mean(values, axis=0) for name, values in scores.items()}


def passes(scores: dict[str, np.ndarray], factor: float) -> bool:
    """Whether ours is below ``factor`` x every baseline's error in both metrics."""
    ours = scores["ours"]
    return all((ours < factor * value).all() for name, value in scores.items() if name != "ours")


def run(args: argparse.Namespace) -> None:
    """Every check of ``--checks`` on ``--pretrained_model_name_or_path``: results.csv, summary.md, exit status."""
    pipe = RecolorPipeline.from_pretrained(args.pretrained_model_name_or_path)
    rows = []
    for check in args.checks:
        methods, factor, _ = CHECKS[check]
        scores = errors(pipe, check_pairs(check, args), methods)
        ok = passes(scores, factor)
        rows += [{"check": check, "method": name, "MAE": value[0], "ΔE00": value[1], "passed": ok}
                 for name, value in scores.items()]
        print(f"{check}: {'pass' if ok else 'FAIL'} " + ", ".join(f"{k} {v.round(2)}" for k, v in scores.items()))
    results = pd.DataFrame(rows)
    results.to_csv(args.output_dir / "results.csv", index=False)
    notes = [f"checkpoint {args.pretrained_model_name_or_path}; inputs at most {MAX_SIDE} px; bars: " + "; ".join(
        f"{check}: ours < {CHECKS[check][1]} x {', '.join(CHECKS[check][0])}" for check in args.checks)]
    write_summary(args.output_dir, "Shipped checkpoint quality bars", notes,
                  {"checks": markdown_table(results, {"MAE": "{:.2f}", "ΔE00": "{:.2f}"})})
    if not results["passed"].all():
        raise SystemExit(f"failed: {', '.join(sorted(set(results.loc[~results['passed'], 'check'])))}")
