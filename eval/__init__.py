"""Evaluation harness: one entry point, `python -m eval COMMAND [options]` (see `python -m eval --help`).

Every command reads its inputs from one data root, DATA_ROOT (the `shared/data` folder beside the repository, or
the folder named by the environment variable RECOLOR_DATA; `--data_dir` overrides both). Every benchmark writes
results.csv and summary.md (eval.report) into `--output_dir` (default outputs/eval/COMMAND); `figures` writes the
docs/ pictures.
"""

from pathlib import Path

from recolor_hf.data import DATA_ENV, DATA_ROOT  # the one data root, shared with training

__all__ = ["DATA_ENV", "DATA_ROOT", "REPO_ROOT"]
REPO_ROOT = Path(__file__).resolve().parents[1]
