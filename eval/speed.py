"""Speed benchmark: seconds per image and peak memory at 1 MP and 12 MP, and the `recolor` command's start-up.

Usage: `python -m eval speed [--pretrained_model_name_or_path DIR] [--device cuda] [--content PHOTO]`.
Content photos are a synthetic smooth colour field, or `--content` upscaled, at 3:2 aspect (ASPECT); the
reference is REFERENCE_SIDE px. Peak memory is the rise of the process's peak resident set size
(Linux VmHWM, reset before each method) and, when CUDA is in use, torch's peak CUDA memory.

With a checkpoint, a second table compares process start-up with in-process work for one image of the largest
size: `python -c "import torch"`, `recolor --help`, a whole `recolor CONTENT --reference REF -o OUT` process,
the same work (read, re-colour, write) in a process that has the pipeline loaded, and MKL's in-process time
(medians of `--startup_repeats` runs). The target: the process costs at most `import torch` + 1 s more.

Timings on a busy machine are not comparable: the machine's load average is printed first, and above MAX_LOAD
(1-minute load) the benchmark refuses to run unless `--force`; the summary records the load either way.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from PIL import Image

from eval.methods import Method, build_methods
from eval.report import markdown_table, write_summary
from recolor_hf.image_io import load_array

ASPECT = 1.5  # width / height of the content photos
REFERENCE_SIDE = 512  # px, long side of the reference
SYNTHETIC_GRID = (6, 9)  # (rows, columns) of random colours the synthetic photo interpolates
SYNTHETIC_NOISE = 4.0  # std of its per-pixel noise, in 8-bit levels
MAX_LOAD = 1.0  # 1-minute load average above which the tables are refused without --force


def synthetic_photo(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A smooth random colour field with mild noise, uint8 RGB (height, width)."""
    rng = np.random.default_rng(seed)
    coarse = Image.fromarray(rng.integers(0, 256, (*SYNTHETIC_GRID, 3), dtype=np.uint8)).resize((width, height),
                                                                                           Image.BICUBIC)
    noise = rng.normal(0.0, SYNTHETIC_NOISE, (height, width, 1))
    return np.clip(np.asarray(coarse) + noise, 0, 255).astype(np.uint8)


def content_image(megapixels: float, photo: Path | None) -> np.ndarray:
    """A content photo of aspect ASPECT and about `megapixels` MP: `photo` upscaled (bicubic), or a synthetic photo."""
    width = round((megapixels * 1e6 * ASPECT) ** 0.5)
    height = round(width / ASPECT)
    if photo is None:
        return synthetic_photo(height, width)
    return np.asarray(Image.fromarray(load_array(photo)).resize((width, height), Image.BICUBIC))


def _status_kib(field: str) -> int:
    """A memory field of /proc/self/status (e.g. VmRSS, VmHWM) in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def _cuda() -> object | None:
    """The torch module when CUDA is initialised in this process, else None."""
    torch = sys.modules.get("torch")
    return torch if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized() else None


def cpu_seconds() -> float:
    """CPU seconds (user + system) used so far by this process and its finished children."""
    return sum(usage.ru_utime + usage.ru_stime
               for usage in (resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)))


def median_costs(run: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median wall-clock and CPU seconds of ``repeats`` calls of ``run`` (CPU time is less sensitive to other
    jobs sharing the machine)."""
    walls, cpus = [], []
    for _ in range(repeats):
        cpu, start = cpu_seconds(), time.perf_counter()
        run()
        walls.append(time.perf_counter() - start)
        cpus.append(cpu_seconds() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def measure(method: Method, content: np.ndarray, reference: np.ndarray, repeats: int) -> dict[str, float]:
    """Median seconds over `repeats` timed runs, after one untimed run that measures peak memory (MiB)."""
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    rss_before = _status_kib("VmRSS")
    torch = _cuda()
    if torch is not None:
        torch.cuda.reset_peak_memory_stats()
    method(content, reference)
    row = {"peak_rss_mib": (_status_kib("VmHWM") - rss_before) / 1024}
    if torch is not None:
        row["peak_cuda_mib"] = torch.cuda.max_memory_allocated() / 2**20
    return {"seconds": median_costs(lambda: method(content, reference), repeats)[0]} | row


def pipeline_parts(checkpoint: str, device: str | None) -> dict[str, Method]:
    """The pipeline's two halves as separately timed methods: the networks at the working resolution
    (``pipe.encode``) and the strength render + full-resolution colour transfer (``pipe.decode``)."""
    from recolor_hf import RecolorPipeline

    pipe = RecolorPipeline.from_pretrained(checkpoint)
    if device is not None:
        pipe = pipe.to(device)
    cache: dict = {}

    def networks(content: np.ndarray, reference: np.ndarray) -> np.ndarray:
        cache["latents"] = pipe.encode(Image.fromarray(content), Image.fromarray(reference))
        return content

    def transfer(content: np.ndarray, reference: np.ndarray) -> np.ndarray:
        if "latents" not in cache or cache["latents"].contents[0].size != content.shape[1::-1]:
            networks(content, reference)
        return np.asarray(pipe.decode(cache["latents"])[0])

    return {"ours: networks": networks, "ours: render + full-res transfer": transfer}


def startup_rows(checkpoint: str, device: str | None, content: np.ndarray, reference: np.ndarray,
                 repeats: int) -> list[tuple[str, float, float]]:
    """(measurement, wall s, CPU s) rows: process start-up against the same work in-process (module docstring)."""
    from recolor_hf.cli import load_pipeline, model_recolor, save_atomic
    from recolor_hf.image_io import load_image as read_image

    def process(*args: str) -> Callable[[], object]:
        return lambda: subprocess.run([sys.executable, *args], check=True, capture_output=True)

    with tempfile.TemporaryDirectory() as folder:
        photo, ref, out = Path(folder) / "content.jpg", Path(folder) / "reference.png", Path(folder) / "out.jpg"
        Image.fromarray(content).save(photo, quality=95)
        Image.fromarray(reference).save(ref)
        command = ["-m", "recolor_hf", str(photo), "--reference", str(ref), "-o", str(out), "--overwrite",
                   "--checkpoint", checkpoint] + (["--device", device] if device else [])
        recolor = model_recolor(load_pipeline(Path(checkpoint), device, None), 1.0, None)
        mkl = build_methods(["mkl"])["mkl"]
        rows = [
            ('python -c "import torch"', *median_costs(process("-c", "import torch"), repeats)),
            ("recolor --help", *median_costs(process("-m", "recolor_hf", "--help"), repeats)),
            (f"recolor, one {content.shape[1]}x{content.shape[0]} image (whole process)",
             *median_costs(process(*command), repeats)),
            ("the same in-process (read, re-colour, write)",
             *median_costs(lambda: save_atomic(recolor(read_image(photo), ref), out), repeats)),
            ("MKL in-process (read, transfer, write)",
             *median_costs(lambda: save_atomic(Image.fromarray(mkl(np.asarray(read_image(photo)), reference)), out),
                           repeats)),
        ]
    overhead = [process_cost - work_cost for process_cost, work_cost in zip(rows[2][1:], rows[3][1:])]
    return rows + [("start-up overhead (process - in-process)", *overhead),
                   ("overhead - import torch (target <= 1 s)", *(o - t for o, t in zip(overhead, rows[0][1:])))]


def reference_image(photo: Path | None) -> np.ndarray:
    """The reference: `photo` at REFERENCE_SIDE px, or a synthetic photo of that width."""
    if photo is not None:
        return load_array(photo, REFERENCE_SIDE)
    return synthetic_photo(round(REFERENCE_SIDE / ASPECT), REFERENCE_SIDE, seed=1)


def method_rows(methods: dict[str, Method], args: argparse.Namespace) -> pd.DataFrame:
    """One row per size and method: seconds and peak memory (measure)."""
    reference = reference_image(args.reference)
    rows = []
    for megapixels in args.megapixels:
        content = content_image(megapixels, args.content)
        for name, method in methods.items():
            result = measure(method, content, reference, args.repeats)
            rows.append({"method": name, "size": f"{content.shape[1]}x{content.shape[0]}"} | result)
            print(f"{name} {rows[-1]['size']}: {result['seconds']:.3f} s", file=sys.stderr)
    return pd.DataFrame(rows)


def check_load(force: bool) -> str:
    """Print the machine's load average; above MAX_LOAD a ValueError unless ``force``. Returns it as a note."""
    load = os.getloadavg()
    note = f"load average {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (1 / 5 / 15 min) on {os.cpu_count()} CPUs"
    print(note, file=sys.stderr)
    if load[0] > MAX_LOAD and not force:
        raise ValueError(f"{note}: above {MAX_LOAD}, other jobs share the machine and the timings would not be "
                         "comparable; run on a quiet machine, or pass --force to write the tables anyway (the "
                         "summary then records the load)")
    return note + (": a busy machine, timed with --force" if load[0] > MAX_LOAD else "")


def run(args: argparse.Namespace) -> None:
    """Time every method at each size (results.csv) and, with a checkpoint, the start-up (startup.csv)."""
    load = check_load(args.force)
    methods = build_methods(args.methods, args.pretrained_model_name_or_path, args.device)
    if "ours" in methods:
        methods |= pipeline_parts(args.pretrained_model_name_or_path, args.device)
    results = method_rows(methods, args)
    results.to_csv(args.output_dir / "results.csv", index=False)
    memory = {"peak_rss_mib": "{:.0f}", "peak_cuda_mib": "{:.0f}"}
    tables = {"seconds per image (median) and peak memory (MiB)": markdown_table(results, memory)}
    if args.pretrained_model_name_or_path and args.startup_repeats > 0:
        content = content_image(args.megapixels[-1], args.content)
        startup = pd.DataFrame(startup_rows(args.pretrained_model_name_or_path, args.device, content,
                                            reference_image(args.reference),
                                            args.startup_repeats), columns=["measurement", "wall s", "CPU s"])
        startup.to_csv(args.output_dir / "startup.csv", index=False)
        tables[f"start-up, median of {args.startup_repeats}"] = markdown_table(startup)
    notes = [f"methods: {', '.join(methods)}", f"content: {args.content or 'synthetic'}, {args.repeats} timed runs",
             f"at the start, {load}"]
    write_summary(args.output_dir, "Speed benchmark", notes, tables)
