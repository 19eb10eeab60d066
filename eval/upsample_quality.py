"""Quality sweep of recolor_hf.upsample: PSNR of grid_size x eps on FiveK retouches (`python -m eval upsample-quality`).

FiveK input -> expert C retouch pairs (a real photo edit). The low-res result is the retouch downsampled to
QUALITY_LOW px, optionally with its chroma (YCbCr Cb/Cr) blurred to mimic a colourisation network; the full-res
output is scored against the real retouch. Baseline: bicubic upsampling of the low-res result.
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
from PIL import Image, ImageFilter

from eval.report import markdown_table, write_summary
from recolor_hf.data import FiveKPairs
from recolor_hf.upsample import EPS, GRID_SIZE, transfer_colour

QUALITY_LOW = 128  # px, long side of the low-res result
GRIDS, EPSILONS = (16, 32, 64, 128), (1e-4, 3e-4, 1e-3)  # the sweep
CHROMA_BLUR = 1.5  # px, Gaussian blur of the chroma of the "blurred" low-res results
MAX_PSNR = 255.0**2  # PSNR = 10 log10(MAX_PSNR / MSE) on 8-bit images


def chroma_blur(image: np.ndarray) -> np.ndarray:
    """The image with its YCbCr chroma blurred (CHROMA_BLUR px), as a colourisation network's result looks."""
    y, cb, cr = Image.fromarray(image).convert("YCbCr").split()
    blur = ImageFilter.GaussianBlur(CHROMA_BLUR)
    return np.asarray(Image.merge("YCbCr", (y, cb.filter(blur), cr.filter(blur))).convert("RGB"))


def squared_errors(content: np.ndarray, retouch: np.ndarray, blurred: bool) -> dict:
    """Mean squared error against the retouch of bicubic upsampling and of transfer_colour at each grid x eps."""
    (height, width), scale = content.shape[:2], QUALITY_LOW / max(content.shape[:2])
    size = (round(width * scale), round(height * scale))
    low = np.asarray(Image.fromarray(content).resize(size, Image.BOX))
    result = np.asarray(Image.fromarray(retouch).resize(size, Image.BOX))
    result = chroma_blur(result) if blurred else result
    outputs = {("bicubic", None): np.asarray(Image.fromarray(result).resize((width, height), Image.BICUBIC))}
    for grid in GRIDS:
        for eps in EPSILONS:
            outputs[grid, eps] = transfer_colour(content, low, result, grid_size=grid, eps=eps)
    return {key: np.mean((output.astype(np.float64) - retouch) ** 2) for key, output in outputs.items()}


def run(args: argparse.Namespace) -> None:
    """PSNR (of the mean MSE over the FiveK pairs) per grid x eps, plain and chroma-blurred: results.csv, summary.md."""
    fivek = FiveKPairs(args.fivek_dir, "expertC", max_side=None, cache=False)
    if not len(fivek):
        raise ValueError(f"no FiveK input / expertC pairs under {args.fivek_dir}")
    pairs = [fivek.arrays(i) for i in range(len(fivek))]
    rows = []
    for blurred in (False, True):
        errors = [squared_errors(content, retouch, blurred) for content, retouch in pairs]
        rows += [{"chroma blurred": blurred, "grid": grid, "eps": eps,
                  "PSNR": 10 * np.log10(MAX_PSNR / np.mean([error[grid, eps] for error in errors]))}
                 for grid, eps in errors[0]]
    results = pd.DataFrame(rows)
    results.to_csv(args.output_dir / "results.csv", index=False)
    write_summary(args.output_dir, "Upsampling quality", [
        f"FiveK input -> expertC, {len(pairs)} pairs, low-res {QUALITY_LOW} px; PSNR dB of the mean MSE (defaults: "
        f"grid {GRID_SIZE}, eps {EPS:g}); bicubic: bicubic upsampling of the low-res result"], psnr_tables(results))


def psnr_tables(results: pd.DataFrame) -> dict[str, str]:
    """A grid x eps PSNR table per chroma-blurred value, headed with the bicubic baseline."""
    tables = {}
    for blurred, frame in results.groupby("chroma blurred", sort=False):
        bicubic = frame.loc[frame["grid"] == "bicubic", "PSNR"].item()
        sweep = frame[frame["grid"] != "bicubic"].pivot(index="grid", columns="eps", values="PSNR")
        table = sweep.rename(columns=lambda eps: f"eps {eps:g}").rename_axis(columns=None).reset_index()
        tables[f"chroma-blurred result: {blurred}; bicubic {bicubic:.2f}"] = markdown_table(table, {"grid": "{}"})
    return tables
