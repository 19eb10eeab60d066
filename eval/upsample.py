"""Speed and peak memory of recolor_hf.upsample (fit / apply) at 1, 12, 24 MP: `python -m eval upsample`.

Each size runs in a fresh process (bench_size; it imports neither torch nor the rest of the harness) so peak RSS
(ru_maxrss) is per size. The content photo is random uint8 (apply cost does not depend on its pixel values), the
low-res copy is LOW px on the long side, the "network result" is a channel swap of it.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import psutil
from PIL import Image

from eval import REPO_ROOT
from eval.report import markdown_table, write_summary
from recolor_hf.upsample import EPS, GRID_SIZE, apply_affine_grid, fit_affine_grid

MIB = 2**20
LOW = 256  # px, long side of the low-res copy in the speed benchmark
STRIP = 256  # rows of the random content photo generated at a time (so generating it does not set the peak)
TIMED_RUNS = 3  # the fastest of these is reported


def peak_mib() -> float:
    """This process's peak resident memory so far (ru_maxrss), MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def fastest(run) -> tuple[float, object]:
    """(the fastest of TIMED_RUNS calls of `run` in seconds, its last result)."""
    seconds = []
    for _ in range(TIMED_RUNS):
        start = time.perf_counter()
        result = run()
        seconds.append(time.perf_counter() - start)
    return min(seconds), result


def bench_size(width: int, height: int) -> dict:
    """Fit and apply seconds and peak RSS (MiB) at one size (run it in a fresh process: fresh_process)."""
    rng = np.random.default_rng(0)
    content = np.empty((height, width, 3), np.uint8)
    for y in range(0, height, STRIP):
        content[y : y + STRIP] = rng.integers(0, 256, content[y : y + STRIP].shape, dtype=np.uint8)
    scale = LOW / max(width, height)
    low = np.asarray(Image.fromarray(content).resize((round(width * scale), round(height * scale)), Image.BOX))
    result = np.ascontiguousarray(low[..., ::-1])
    rss = psutil.Process().memory_info().rss / MIB
    fit_seconds, grid = fastest(lambda: fit_affine_grid(low, result))
    fit_peak = peak_mib()
    apply_seconds, _ = fastest(lambda: apply_affine_grid(content, grid))
    return {"size": f"{width}x{height}", "MP": width * height / 1e6, "low": f"{low.shape[1]}x{low.shape[0]}",
            "grid": f"{grid.shape[1]}x{grid.shape[0]}", "fit s": fit_seconds, "fit peak RSS MiB": fit_peak,
            "apply s": apply_seconds, "apply peak RSS MiB": peak_mib(), "input RSS MiB": rss}


def fresh_process(width: int, height: int) -> dict:
    """bench_size(width, height) in a new Python process."""
    code = f"import json; from eval.upsample import bench_size; print(json.dumps(bench_size({width}, {height})))"
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.splitlines()[-1])


def run(args: argparse.Namespace) -> None:
    """bench_size of every `--sizes` entry, each in a fresh process: results.csv and summary.md."""
    results = pd.DataFrame([fresh_process(width, height) for width, height in args.sizes])
    results.to_csv(args.output_dir / "results.csv", index=False)
    notes = [f"{psutil.cpu_count()} CPUs, numpy {np.__version__}, defaults grid {GRID_SIZE} eps {EPS:g}",
             f"fastest of {TIMED_RUNS} runs; peak RSS of the size's own process (input RSS: holding the content)"]
    formats = {column: "{:.0f}" for column in results.columns if column.endswith("MiB")} | {"fit s": "{:.3f}",
                                                                                          "apply s": "{:.3f}"}
    write_summary(args.output_dir, "Upsampling speed", notes, {"sizes": markdown_table(results, formats)})
