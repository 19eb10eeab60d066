"""`python -m eval ablation`: does each learned part of the model earn its weights?

On dpst-oracle pairs (eval.benchmark.dpst_oracle_pairs) and halves-local pairs (halves_local_pairs), MAE and ΔE00
against the ground truth of:

- full: the model, as the method `ours` runs it;
- base-only: the same pipeline with every learned part bypassed (`learned=False`, the method `base-only`);
- w swap: full with the global code w = E_w(I_S, I_R) (``PairFeatures.code``) of the next pair of its part
  (pair i takes pair (i + 1) % n's);
- W~0R swap: full with the next pair's warped reference map W~0R (``Correspondence.warped``, and each candidate's
  ``candidate_maps`` with a ranker), its own match index, candidates, scores and confidence;
- heads zeroed: full with P_W's output layers (``statistics_head``, the three map ``heads``, the ranker's output
  and the ``affinity_head``, weights and biases) set to zero: each patch takes the candidate of highest attention
  (the ranker's starting logits), no learned trust, contrast or affinity, W = W0(base), G' still on.

Liveness: "full_change", the mean ΔE00 between full's output and each other row's (~0: that part changes nothing).
Speed: seconds per image of full and base-only, each the whole pipeline call (the issue's target: full <= 2x
base-only). Writes results.csv, summary.md and contact_sheet.jpg like the image benchmarks (eval.quality).
--num_pairs counts the pairs of each part (default: all 38 DPST pairs, and one pair per photo of --split as in
halves-local).
"""

from __future__ import annotations

import argparse
import copy
import itertools
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Callable, Iterator

import numpy as np
import pandas as pd
import PIL.Image
import torch
from tqdm import tqdm

from eval.benchmark import Pair, dpst_oracle_pairs, halves_local_pairs
from eval.methods import Method, build_methods
from eval.quality import add_row, halves_paths, write_results
from recolor_hf.metrics import ciede2000, mae
from recolor_hf.models.correspondence import Correspondence
from recolor_hf.models.predictor import LatentMapPredictor
from recolor_hf.pipeline import RecolorPipeline
from recolor_hf.steps import PairFeatures

TIMED = {"full": "ours", "base-only": "base-only"}  # rows run (and timed) as a whole pipeline call: row -> method
VARIANTS = ("w swap", "W~0R swap", "heads zeroed")  # rows of the full model with one part swapped or switched off
ROWS = (*TIMED, *VARIANTS)
ABLATION_METRICS = ("mae", "ciede2000", "full_change")
COLUMNS = ["pair", "part", "method", *ABLATION_METRICS, "seconds"]
SPEED_TARGET = 2.0  # the bound on full / base-only seconds per image


@dataclass
class PairState:
    """One pair at the tensor level: its prepared content, working-size content, P_W's inputs and the match."""

    contents: list[PIL.Image.Image]
    content_low: torch.Tensor
    features: PairFeatures
    match: Correspondence


@torch.no_grad()
def pair_state(pipe: RecolorPipeline, pair: Pair) -> PairState:
    """The pipeline's steps before P_W for `pair`, as ``RecolorPipeline.encode`` runs them."""
    contents = pipe.prepare(pair.content, "content")
    features = pipe.features(contents.working, pipe.prepare(pair.reference, "reference").working)
    return PairState(contents.images, contents.working, features, pipe.match(features))


@torch.no_grad()
def render(pipe: RecolorPipeline, state: PairState, features: PairFeatures, match: Correspondence) -> np.ndarray:
    """The full model's uint8 output at the content's size from (possibly swapped) `features` and `match`."""
    latents = pipe.predict_from(state.content_low, features, match, learned=True)
    latents.contents = state.contents
    return np.asarray(pipe.decode(latents)[0].convert("RGB"))


@contextmanager
def zeroed_heads(predictor: LatentMapPredictor) -> Iterator[None]:
    """P_W's output layers (``statistics_head``, ``heads``, the ranker's ``out``, the ``affinity_head``) set to zero
    inside the block, restored after."""
    optional = [layer for layer in (predictor.ranker and predictor.ranker.out, predictor.affinity_head) if layer]
    layers = [predictor.statistics_head, *predictor.heads, *optional]
    saved = [copy.deepcopy(layer.state_dict()) for layer in layers]
    try:
        with torch.no_grad():
            for parameter in itertools.chain.from_iterable(layer.parameters() for layer in layers):
                parameter.zero_()
        yield
    finally:
        for layer, state in zip(layers, saved):
            layer.load_state_dict(state)


def variant_outputs(pipe: RecolorPipeline, state: PairState, donor: PairState) -> dict[str, np.ndarray]:
    """The VARIANTS of one pair: w and W~0R taken from `donor` (another pair), and the zeroed heads."""
    features, match = state.features, state.match
    outputs = {
        "w swap": render(pipe, state, replace(features, code=donor.features.code), match),
        "W~0R swap": render(pipe, state, features, replace(match, warped=donor.match.warped,
                                                            candidate_maps=donor.match.candidate_maps)),
    }
    with zeroed_heads(pipe.predictor):
        outputs["heads zeroed"] = render(pipe, state, features, match)
    return outputs


def timed(method: Method, pair: Pair) -> tuple[np.ndarray, float]:
    """`method`'s output on the pair and its wall-clock seconds."""
    start = time.perf_counter()
    output = method(pair.content, pair.reference)
    return output, time.perf_counter() - start


def scores(pair: Pair, name: str, output: np.ndarray, full: np.ndarray, seconds: float | None) -> dict:
    """One results row: MAE and ΔE00 against the target, ΔE00 against full's output (NaN for full itself)."""
    return {"pair": pair.name, "part": pair.part, "method": name, "mae": mae(output, pair.target),
            "ciede2000": ciede2000(output, pair.target),
            "full_change": np.nan if name == "full" else ciede2000(full, output), "seconds": seconds}


def ablate(
    pairs: list[Pair], methods: dict[str, Method], on_pair: Callable[[Pair, dict[str, np.ndarray]], None] | None = None
) -> list[dict]:
    """ROWS of every pair of one part (pair i's donor: pair (i + 1) % n); `methods` holds TIMED's methods, whose
    ``pipe`` the variants use. `on_pair(pair, outputs)` is called after each pair."""
    if len(pairs) < 2:
        raise ValueError(f"ablation swaps w and W~0R between pairs: each part needs at least 2 pairs, got {len(pairs)}"
                         " (raise --num_pairs)")
    pipe = methods["ours"].pipe
    rows, first = [], pair_state(pipe, pairs[0])
    state = first
    for i, pair in enumerate(tqdm(pairs, desc=pairs[0].part, unit="pair")):
        donor = pair_state(pipe, pairs[i + 1]) if i + 1 < len(pairs) else first
        runs = {row: timed(methods[name], pair) for row, name in TIMED.items()}
        outputs = {row: output for row, (output, _) in runs.items()} | variant_outputs(pipe, state, donor)
        rows += [scores(pair, row, output, outputs["full"], runs[row][1] if row in runs else None)
                 for row, output in outputs.items()]
        if on_pair is not None:
            on_pair(pair, outputs)
        state = donor
    return rows


def ablation_parts(args: argparse.Namespace) -> dict[str, list[Pair]]:
    """The pairs of each part: dpst-oracle (first --num_pairs DPST pairs) and halves-local (as `python -m eval
    halves-local` builds them)."""
    dpst = itertools.islice(dpst_oracle_pairs(args.dpst_dir, args.max_side), args.num_pairs)
    halves = halves_local_pairs(halves_paths(args), args.seed, args.max_side)
    return {part: [replace(pair, part=part) for pair in pairs]
            for part, pairs in (("dpst-oracle", dpst), ("halves-local", halves))}


def liveness_notes(results: pd.DataFrame) -> list[str]:
    """What each row changes (mean full_change) and the speed ratio full / base-only (of the median seconds, which
    a busy machine's outliers move less than the tables' means), as sentences."""
    change = results.groupby("method", sort=False)["full_change"].mean()
    seconds = results.groupby("method", sort=False)["seconds"].median()
    notes = [f"{name} changes the output by {change[name]:.2f} ΔE00 (mean vs full)" for name in ROWS if name != "full"]
    ratio = seconds["full"] / seconds["base-only"]
    verdict = "within" if ratio <= SPEED_TARGET else "over"
    return notes + [f"median seconds per image: full {seconds['full']:.3f}, base-only {seconds['base-only']:.3f}: "
                    f"full / base-only = {ratio:.2f} ({verdict} the target <= {SPEED_TARGET:g})"]


def run(args: argparse.Namespace) -> None:
    """The ablation table (module docstring) on dpst-oracle and halves-local pairs."""
    methods = build_methods(list(TIMED.values()), args.pretrained_model_name_or_path, args.device)
    parts = ablation_parts(args)
    labels, rows = ["content", "reference", "target", *ROWS], []

    def on_pair(pair: Pair, outputs: dict[str, np.ndarray]) -> None:
        add_row(args, rows, pair.name, labels, [pair.content, pair.reference, pair.target, *outputs.values()])

    warm_up = next(iter(parts.values()))[:1]  # one untimed call of each, so one-off start-up costs are not timed
    for pair, method in itertools.product(warm_up, methods.values()):
        method(pair.content, pair.reference)
    results = pd.DataFrame(
        itertools.chain.from_iterable(ablate(pairs, methods, on_pair) for pairs in parts.values()), columns=COLUMNS
    ).astype({column: float for column in (*ABLATION_METRICS, "seconds")})
    notes = [f"DPST: {args.dpst_dir}; photos: {args.photos_dir} (split {args.split}); max side {args.max_side}, "
             f"seed {args.seed}; checkpoint {args.pretrained_model_name_or_path}",
             "w swap / W~0R swap: pair i takes pair (i + 1) % n's (n: the pairs of its part); heads zeroed: P_W's "
             "statistics_head, map heads and ranker output at zero; full_change: ΔE00 between full's output and the "
             "row's",
             *liveness_notes(results)]
    write_results(args, results, rows, labels, "Ablation: what each learned part changes", notes, ABLATION_METRICS)
