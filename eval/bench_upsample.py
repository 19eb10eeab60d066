"""Benchmark recolor_hf.upsample: speed and peak memory, plus a quality sweep.

    python eval/bench_upsample.py            # fit / apply seconds and peak RSS at 1, 12, 24 MP
    python eval/bench_upsample.py --quality  # PSNR sweep of grid_size x eps on FiveK retouches

Speed: each size runs in a fresh subprocess so peak RSS (ru_maxrss) is per size. The
source is random uint8 (apply cost does not depend on content), the low-res copy is
256 px on the long side, the "network result" is a channel swap of it.

Quality: FiveK input -> expert C retouch pairs (a real photo edit). The low-res result
is the retouch downsampled to 128 px, optionally with its chroma (YCbCr Cb/Cr) blurred
to mimic a colourisation network; the full-res output is scored against the real
retouch. Baseline: bicubic upsampling of the low-res result.
"""

import argparse
import glob
import os
import resource
import subprocess
import sys
import time

import numpy as np
import psutil
from PIL import Image, ImageFilter

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from recolor_hf.upsample import EPS, GRID_SIZE, apply_affine_grid, fit_affine_grid, transfer_colour  # noqa: E402

SIZES = [(1000, 1000), (4000, 3000), (6000, 4000)]  # (W, H): 1, 12, 24 MP
LOW = 256


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_one(w: int, h: int) -> None:
    rng = np.random.default_rng(0)
    src = np.empty((h, w, 3), np.uint8)
    for y in range(0, h, 256):  # fill in strips so generating the input does not set the peak
        src[y : y + 256] = rng.integers(0, 256, src[y : y + 256].shape, dtype=np.uint8)
    s = LOW / max(w, h)
    low = np.asarray(Image.fromarray(src).resize((round(w * s), round(h * s)), Image.BOX))
    res = np.ascontiguousarray(low[..., ::-1])
    rss0 = psutil.Process().memory_info().rss / 2**20
    t_fit, t_apply = [], []
    for _ in range(3):
        t = time.perf_counter()
        grid = fit_affine_grid(low, res)
        t_fit.append(time.perf_counter() - t)
    peak_fit = peak_mb()
    for _ in range(3):
        t = time.perf_counter()
        apply_affine_grid(src, grid)
        t_apply.append(time.perf_counter() - t)
    print(
        f"{w}x{h} ({w * h / 1e6:4.1f} MP) low {low.shape[1]}x{low.shape[0]} grid {grid.shape[1]}x{grid.shape[0]} | "
        f"fit {min(t_fit):.3f} s, peak RSS {peak_fit:.0f} MB | apply {min(t_apply):.3f} s, peak RSS {peak_mb():.0f} MB "
        f"(+{peak_mb() - rss0:.0f} MB over the {rss0:.0f} MB holding the input)",
        flush=True,
    )


def chroma_blur(img: np.ndarray) -> np.ndarray:
    y, cb, cr = Image.fromarray(img).convert("YCbCr").split()
    blur = ImageFilter.GaussianBlur(1.5)
    return np.asarray(Image.merge("YCbCr", (y, cb.filter(blur), cr.filter(blur))).convert("RGB"))


def quality(data: str) -> None:
    pairs = []
    for f in sorted(glob.glob(os.path.join(data, "fivek/input/*.jpg"))):
        src = Image.open(f).convert("RGB")
        ref = Image.open(f.replace("input", "expertC")).convert("RGB").resize(src.size, Image.LANCZOS)
        pairs.append((np.asarray(src), np.asarray(ref)))
    if not pairs:
        sys.exit(f"no FiveK pairs under {data}/fivek")
    grids, epss = (16, 32, 64, 128), (1e-4, 3e-4, 1e-3)
    print(f"FiveK input -> expertC, {len(pairs)} pairs, low-res 128 px; PSNR dB of mean MSE (defaults: grid {GRID_SIZE}, eps {EPS:g})")
    for blurred in (False, True):
        mse = {}
        for src, ref in pairs:
            (h, w), s = src.shape[:2], 128 / max(src.shape[:2])
            size = (round(w * s), round(h * s))
            low = np.asarray(Image.fromarray(src).resize(size, Image.BOX))
            res = np.asarray(Image.fromarray(ref).resize(size, Image.BOX))
            res = chroma_blur(res) if blurred else res
            outs = {"bicubic": np.asarray(Image.fromarray(res).resize((w, h), Image.BICUBIC))}
            for g in grids:
                for e in epss:
                    outs[g, e] = transfer_colour(src, low, res, grid_size=g, eps=e)
            for k, out in outs.items():
                mse.setdefault(k, []).append(np.mean((out.astype(np.float64) - ref) ** 2))
        db = {k: 10 * np.log10(255**2 / np.mean(v)) for k, v in mse.items()}
        print(f"\nchroma-blurred result: {blurred}; bicubic baseline {db['bicubic']:.2f}")
        print("grid \\ eps " + "".join(f"{e:>8g}" for e in epss))
        for g in grids:
            print(f"{g:>10d} " + "".join(f"{db[g, e]:8.2f}" for e in epss))


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--size", help="WxH: benchmark one size in this process")
    p.add_argument("--quality", action="store_true", help="run the quality sweep instead")
    p.add_argument("--data", default="/work/shared/data", help="shared data root (for --quality)")
    args = p.parse_args()
    if args.quality:
        quality(args.data)
    elif args.size:
        bench_one(*map(int, args.size.split("x")))
    else:
        print(f"{os.cpu_count()} CPUs, numpy {np.__version__}, defaults grid {GRID_SIZE} eps {EPS:g}")
        for w, h in SIZES:
            subprocess.run([sys.executable, __file__, "--size", f"{w}x{h}"], check=True)
