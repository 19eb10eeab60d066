"""Video benchmark: flicker of per-frame independent vs temporally smoothed re-colouring, and speed at 1080p.

Usage: `python -m eval.bench_video [--checkpoint DIR] [--frames 64] [--speed-frames 6]`.

Clips (made here, H.264-encoded and decoded back so the source frames carry real compression noise):
- `pan-zoom`: a slow pan and zoom across one photo;
- `two-shots`: a pan across one photo, a cut, then a zoom into another (the smoother must reset at the cut).
Flicker = mean ΔE00 between consecutive output frames minus that between consecutive source frames
(`recolor_hf.metrics.flicker`), for `--smoothing 0` (each frame on its own), the default smoothing and MKL
applied per frame. Speed: frames per second of `recolor_video` end to end (decode, re-colour, encode) on a
1920x1080 pan, beside MKL applied per frame at 1080p (colour transfer only, no decoding or encoding).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import recolor_hf
from recolor_hf import RecolorPipeline
from recolor_hf.baselines import mkl
from recolor_hf.metrics import flicker
from recolor_hf.video import DEFAULT_SMOOTHING, FrameRecolorer, read_frames, recolor_video, write_frames

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
PHOTOS = (DATA / "photos" / "kodak24" / "kodim23.jpg", DATA / "photos" / "kodak24" / "kodim05.jpg")
REFERENCE = DATA / "dpst" / "reference" / "tar1.png"
FPS = 25
PAN = 0.25  # the crop window travels this fraction of the photo's width over a shot
ZOOM = 1.25  # and narrows by this factor


def pan_zoom(photo: Image.Image, frames: int, size: tuple[int, int], pan: float = PAN,
             zoom: float = ZOOM) -> list[np.ndarray]:
    """``frames`` crops of ``photo`` resized to ``size`` (W, H): a window of the output's aspect ratio moving
    ``pan`` of the photo's width left to right while narrowing by ``zoom`` (sub-pixel, bicubic)."""
    width, height = photo.size
    aspect = size[0] / size[1]
    full_w = min(width * (1 - pan), height * aspect)
    clip = []
    for i in range(frames):
        t = i / max(frames - 1, 1)
        crop_w = full_w / (1 + (zoom - 1) * t)
        crop_h = crop_w / aspect
        left = t * pan * width + (full_w - crop_w) / 2
        top = (height - crop_h) / 2
        box = (left, top, left + crop_w, top + crop_h)
        clip.append(np.asarray(photo.resize(size, Image.BICUBIC, box=box)))
    return clip


def make_clips(frames: int, size: tuple[int, int], folder: Path) -> dict[str, Path]:
    """The benchmark clips as H.264 files in ``folder``, by name."""
    first, second = (Image.open(p).convert("RGB") for p in PHOTOS)
    clips = {"pan-zoom": pan_zoom(first, frames, size),
             "two-shots": pan_zoom(first, frames // 2, size) + pan_zoom(second, frames - frames // 2, size, pan=0)}
    paths = {}
    for name, clip in clips.items():
        paths[name] = folder / f"{name}.mp4"
        write_frames(paths[name], clip, FPS)
    return paths


def flicker_table(pipe: RecolorPipeline, clips: dict[str, Path], reference: Image.Image) -> None:
    """Print flicker per clip and method, and the ratio smoothed / independent."""
    print(f"| clip | frames | independent (smoothing 0) | smoothed ({DEFAULT_SMOOTHING}) | ratio | scene cuts "
          f"| MKL per frame |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    reference_array = np.asarray(reference)
    for name, path in clips.items():
        sources = list(read_frames(path))
        results = {}
        for smoothing in (0.0, DEFAULT_SMOOTHING):
            recolour = FrameRecolorer(pipe, reference, smoothing=smoothing)
            results[smoothing] = flicker(list(recolour.map(sources)), sources)
        baseline = flicker([mkl(frame, reference_array) for frame in sources], sources)
        independent, smoothed = results[0.0], results[DEFAULT_SMOOTHING]
        print(f"| {name} | {len(sources)} | {independent:.3f} | {smoothed:.3f} | {smoothed / independent:.3f} "
              f"| {recolour.smoother.cuts} | {baseline:.3f} |", flush=True)


def speed(pipe: RecolorPipeline, reference: Image.Image, frames: int, folder: Path) -> None:
    """Print frames per second at 1920x1080: ours end to end, MKL per frame."""
    clip = pan_zoom(Image.open(PHOTOS[0]).convert("RGB"), frames, (1920, 1080))
    path = folder / "1080p.mp4"
    write_frames(path, clip, FPS)
    start = time.perf_counter()
    written = recolor_video(pipe, path, reference, folder / "1080p-out.mp4", progress=False)
    ours = written / (time.perf_counter() - start)
    reference_array = np.asarray(reference)
    start = time.perf_counter()
    for frame in clip:
        mkl(frame, reference_array)
    baseline = len(clip) / (time.perf_counter() - start)
    print(f"1080p ({frames} frames, {torch.get_num_threads()} torch threads): ours {ours:.2f} frames/s end to end "
          f"(decode + re-colour + encode); MKL per frame {baseline:.2f} frames/s (transfer only)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=recolor_hf.DEFAULT_CHECKPOINT)
    parser.add_argument("--frames", type=int, default=64, help="frames per flicker clip")
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--speed-frames", type=int, default=6, help="frames of the 1080p speed run (0: skip)")
    args = parser.parse_args()
    pipe = RecolorPipeline.from_pretrained(args.checkpoint)
    reference = Image.open(REFERENCE).convert("RGB")
    with tempfile.TemporaryDirectory() as tmp:
        flicker_table(pipe, make_clips(args.frames, (args.width, args.height), Path(tmp)), reference)
        if args.speed_frames:
            speed(pipe, reference, args.speed_frames, Path(tmp))


if __name__ == "__main__":
    main()
