"""Speed benchmark: seconds per image and peak memory at 1 MP and 12 MP.

Usage: `python -m eval.bench_speed [--checkpoint DIR] [--device cuda] [--source PHOTO]`.
Sources are a synthetic smooth colour field, or `--source` upscaled, at 3:2 aspect; the
reference is 512 px. Peak memory is the rise of the process's peak resident set size
(Linux VmHWM, reset before each method) and, when CUDA is in use, torch's peak CUDA memory.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from eval.methods import Method, build_methods
from recolor_hf.data import load_image


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
    return np.asarray(Image.fromarray(load_image(photo, max_side=None)).resize((width, height), Image.BICUBIC))


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
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        method(content, reference)
        times.append(time.perf_counter() - start)
    return {"seconds": statistics.median(times)} | row


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
    args = parser.parse_args(argv)

    methods = build_methods(args.methods, args.checkpoint, args.device)
    if "ours" in methods:
        methods |= pipeline_parts(args.checkpoint, args.device)
    reference = load_image(args.reference, 512) if args.reference else synthetic_photo(341, 512, seed=1)
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

if __name__ == "__main__":
    main()
