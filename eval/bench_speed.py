"""Speed benchmark: seconds per image and peak memory at 1 MP and 12 MP, and the `recolor` command's start-up.

Usage: `python -m eval.bench_speed [--checkpoint DIR] [--device cuda] [--source PHOTO]`.
Sources are a synthetic smooth colour field, or `--source` upscaled, at 3:2 aspect; the
reference is 512 px. Peak memory is the rise of the process's peak resident set size
(Linux VmHWM, reset before each method) and, when CUDA is in use, torch's peak CUDA memory.

With a checkpoint, a second table compares process start-up with in-process work for one image of the largest
size: `python -c "import torch"`, `recolor --help`, a whole `recolor SOURCE --reference REF -o OUT` process,
the same work (read, re-colour, write) in a process that has the pipeline loaded, and MKL's in-process time
(medians of `--startup-repeats` runs). The target: the process costs at most `import torch` + 1 s more.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from eval.methods import Method, build_methods
from recolor_hf.image_io import load_array


def synthetic_photo(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A smooth random colour field with mild noise, uint8 RGB (height, width)."""
    rng = np.random.default_rng(seed)
    coarse = Image.fromarray(rng.integers(0, 256, (6, 9, 3), dtype=np.uint8)).resize((width, height), Image.BICUBIC)
    noise = rng.normal(0.0, 4.0, (height, width, 1))
    return np.clip(np.asarray(coarse) + noise, 0, 255).astype(np.uint8)


def source_image(megapixels: float, photo: Path | None) -> np.ndarray:
    """A 3:2 source of about `megapixels` MP: `photo` upscaled (bicubic), or a synthetic photo."""
    width = round((megapixels * 1e6 * 1.5) ** 0.5)
    height = round(width / 1.5)
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
        source, ref, out = Path(folder) / "source.jpg", Path(folder) / "reference.png", Path(folder) / "out.jpg"
        Image.fromarray(content).save(source, quality=95)
        Image.fromarray(reference).save(ref)
        command = ["-m", "recolor_hf", str(source), "--reference", str(ref), "-o", str(out), "--overwrite",
                   "--checkpoint", checkpoint] + (["--device", device] if device else [])
        recolor = model_recolor(load_pipeline(Path(checkpoint), device, None), 1.0, None)
        mkl = build_methods(["mkl"])["mkl"]
        rows = [
            ('python -c "import torch"', *median_costs(process("-c", "import torch"), repeats)),
            ("recolor --help", *median_costs(process("-m", "recolor_hf", "--help"), repeats)),
            (f"recolor, one {content.shape[1]}x{content.shape[0]} image (whole process)",
             *median_costs(process(*command), repeats)),
            ("the same in-process (read, re-colour, write)",
             *median_costs(lambda: save_atomic(recolor(read_image(source), ref), out), repeats)),
            ("MKL in-process (read, transfer, write)",
             *median_costs(lambda: save_atomic(Image.fromarray(mkl(np.asarray(read_image(source)), reference)), out),
                           repeats)),
        ]
    overhead = [process_cost - work_cost for process_cost, work_cost in zip(rows[2][1:], rows[3][1:])]
    return rows + [("start-up overhead (process - in-process)", *overhead),
                   ("overhead - import torch (target <= 1 s)", *(o - t for o, t in zip(overhead, rows[0][1:])))]


def main(argv: list[str] | None = None) -> None:
    """Time every method at each size and print a markdown table."""
    parser = argparse.ArgumentParser(prog="python -m eval.bench_speed", description=__doc__)
    parser.add_argument("--checkpoint", help="RecolorPipeline folder; adds method 'ours'")
    parser.add_argument("--device", help="device for 'ours' (e.g. cuda)")
    parser.add_argument("--methods", type=lambda text: text.split(","), help="comma-separated methods")
    parser.add_argument("--megapixels", type=lambda text: [float(v) for v in text.split(",")], default=[1.0, 12.0])
    parser.add_argument("--source", type=Path, help="photo to upscale as the source (default synthetic)")
    parser.add_argument("--reference", type=Path, help="reference photo (default synthetic, 512 px)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--startup-repeats", type=int, default=3, help="runs per start-up measurement (0: skip)")
    args = parser.parse_args(argv)

    methods = build_methods(args.methods, args.checkpoint, args.device)
    if "ours" in methods:
        methods |= pipeline_parts(args.checkpoint, args.device)
    reference = load_array(args.reference, 512) if args.reference else synthetic_photo(341, 512, seed=1)
    rows = []
    for megapixels in args.megapixels:
        content = source_image(megapixels, args.source)
        for name, method in methods.items():
            result = measure(method, content, reference, args.repeats)
            rows.append({"method": name, "size": f"{content.shape[1]}x{content.shape[0]}"} | result)
            print(f"{name} {rows[-1]['size']}: {result['seconds']:.3f} s", file=sys.stderr)
    columns = ["seconds", "peak_rss_mib"] + (["peak_cuda_mib"] if any("peak_cuda_mib" in row for row in rows) else [])
    print("| method | size | " + " | ".join(columns) + " |")
    print("|---|---|" + "---:|" * len(columns))
    for row in rows:
        cells = [f"{row['seconds']:.3f}"] + [f"{row.get(column, float('nan')):.0f}" for column in columns[1:]]
        print(f"| {row['method']} | {row['size']} | " + " | ".join(cells) + " |")
    if args.checkpoint and args.startup_repeats > 0:
        print(f"\n| start-up, median of {args.startup_repeats} | wall s | CPU s |\n|---|---:|---:|")
        for name, wall, cpu in startup_rows(args.checkpoint, args.device, content, reference, args.startup_repeats):
            print(f"| {name} | {wall:.2f} | {cpu:.2f} |")

if __name__ == "__main__":
    main()
