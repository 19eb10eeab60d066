"""`python -m eval headroom`: what a learned target of per-patch colour statistics could still gain.

The learned part of the colour step is P_W's target T' (``LatentMapPredictor.correct``): a choice, per patch, of
which colour to move the content to. This measures that choice where it is made, on the pipeline's grid (C3's,
1/16 of the working resolution): the mean Lab distance between each content patch's target mean and the ground
truth's patch mean, on dpst-oracle, halves (strong, mild) and halves-local pairs, for

- identity: the content's own means S_S; global: Reinhard(S_S); base-only: the non-learned target T; model: T';
- fit: ONE affine colour transform of the means fitted on the matches weighted by the trust
  (``transfer.fitted_means``);
- base-only with another fallback for the distrusted matches (``transfer.fallback_statistics``): the fitted look, or
  the content kept, in place of Reinhard(S_S). The DPST mask oracle gives content the reference lacks the global
  transfer, the halves give it the look: these two rows show which fallback each ground truth asks for;
- oracle rows, which read the ground truth and so bound what a learned choice could reach: per patch the better of
  base-only and global (a perfect trust), of base-only and fit, the best of model, fit and identity; per pair the
  better of model and fit.

Cheap (no G', no full-resolution output): a quick read of a P_W variant before the image benchmarks. Writes
results.csv and summary.md.
"""

from __future__ import annotations

import argparse
import itertools
from dataclasses import replace
from typing import Iterator

import pandas as pd
import torch
from tqdm import tqdm

from eval.ablation import pair_state
from eval.benchmark import Pair, dpst_oracle_pairs, halves_local_pairs, halves_pairs
from eval.quality import halves_paths
from eval.report import method_tables, write_summary
from recolor_hf.models.colour import patch_statistics, rgb_to_lab
from recolor_hf.models.correspondence import gather_statistics
from recolor_hf.models.transfer import confidence_weight, fitted_means, global_transfer
from recolor_hf.pipeline import RecolorPipeline

PARTS = ("dpst-oracle", "halves strong", "halves mild", "halves-local")


@torch.no_grad()
def patch_errors(pipe: RecolorPipeline, pair: Pair) -> dict[str, float]:
    """Mean Lab distance to the ground truth's patch means of every candidate and oracle row (module docstring)."""
    state = pair_state(pipe, pair)
    f, match = state.features, state.match
    base, _ = pipe.colour_targets(f, match, learned=False)
    model, _ = pipe.colour_targets(f, match, maps=False)
    trust = confidence_weight(match.confidence, tuple(pipe.predictor.config.confidence_range))
    truth = patch_statistics(rgb_to_lab(pipe.prepare(pair.target, "target").working), tuple(base.shape[-2:]))
    gathered = gather_statistics(f.reference_stats, f.content_stats, match.index)
    means = {"identity": f.content_stats[:, :3], "global": global_transfer(f.content_stats, f.content_whole,
                                                                             f.reference_whole)[:, :3],
             "base-only": base[:, :3], "model": model[:, :3], "fit": fitted_means(f.content_stats, gathered, trust),
             **{f"base-only, fallback {kind}": pipe.colour_targets(f, match, learned=False, fallback=kind)[0][:, :3]
                for kind in ("look", "keep")}}
    error = {name: (value - truth[:, :3]).norm(dim=1) for name, value in means.items()}  # (B, h, w)
    best = {"oracle per patch: base-only or global": ("base-only", "global"),
            "oracle per patch: base-only or fit": ("base-only", "fit"),
            "oracle per patch: model, fit or identity": ("model", "fit", "identity")}
    rows = {name: value.mean().item() for name, value in error.items()}
    rows |= {name: torch.stack([error[c] for c in choices]).min(0).values.mean().item()
             for name, choices in best.items()}
    return rows | {"oracle per pair: model or fit": min(rows["model"], rows["fit"])}


def headroom_parts(args: argparse.Namespace) -> Iterator[Pair]:
    """The pairs of PARTS, each part's as its own benchmark command builds them (first --num_pairs of each)."""
    paths = halves_paths(args)
    sources = {"dpst-oracle": dpst_oracle_pairs(args.dpst_dir, args.max_side),
               "halves strong": halves_pairs(paths, args.seed, "strong", args.max_side),
               "halves mild": halves_pairs(paths, args.seed, "mild", args.max_side),
               "halves-local": halves_local_pairs(paths, args.seed, args.max_side)}
    for part in args.parts:
        yield from (replace(pair, part=part) for pair in itertools.islice(sources[part], args.num_pairs))


def run(args: argparse.Namespace) -> None:
    """The headroom table (module docstring) of --pretrained_model_name_or_path."""
    pipe = RecolorPipeline.from_pretrained(args.pretrained_model_name_or_path)
    if args.device:
        pipe.to(args.device)
    rows = [{"pair": pair.name, "part": pair.part, "method": name, "grid_error": value}
            for pair in tqdm(headroom_parts(args), desc="pairs", unit="pair")
            for name, value in patch_errors(pipe, pair).items()]
    results = pd.DataFrame(rows)
    results.to_csv(args.output_dir / "results.csv", index=False)
    notes = [f"checkpoint {args.pretrained_model_name_or_path}; DPST: {args.dpst_dir}; photos: {args.photos_dir} "
             f"(split {args.split}); max side {args.max_side}, seed {args.seed}",
             f"grid: the pipeline's match grid at {pipe.config.resolution} px; grid_error: mean Lab distance of "
             "patch means to the ground truth's; oracle rows read the ground truth (bounds, not methods)"]
    tables = method_tables(results, ("grid_error",))
    if len(tables) > 1:  # one table per part: the mean over parts mixes benchmarks
        tables = {heading: table for heading, table in tables.items() if not heading.startswith("all")}
    write_summary(args.output_dir, "Headroom of the learned per-patch target", notes, tables)
