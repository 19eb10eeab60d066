"""Video benchmark: flicker of per-frame independent vs temporally smoothed re-colouring, and speed at 1080p.

Usage: `python -m eval.bench_video [--checkpoint DIR] [--frames 64] [--speed-frames 6]`.

Clips (made here, H.264-encoded and decoded back so the source frames carry real compression noise):
- `pan-zoom`: a slow pan and zoom across one photo;
- `two-shots`: a pan across one photo, a cut, then a zoom into another (the smoother must reset at the cut).
Flicker = mean ΔE00 between consecutive output frames minus that between consecutive source frames
(`recolor_hf.metrics.flicker`), for `--smoothing 0` (each frame on its own), the default smoothing and MKL
applied per frame. Raw consecutive frames differ mostly by motion (a textured photo panning), which a
re-colouring that lowers contrast shrinks, so the raw difference can be negative; the main number compares
frame t with frame t-1 resampled onto it (the crop boxes are known), leaving out a border. Speed: frames per second of `recolor_video` end to end (decode, re-colour, encode) on a
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
MARGIN = 0.1  # fraction of each side left out of motion-compensated comparisons


Box = tuple[float, float, float, float]


def pan_zoom_boxes(photo_size: tuple[int, int], frames: int, size: tuple[int, int], pan: float = PAN,
                   zoom: float = ZOOM) -> list[Box]:
    """Crop boxes (left, top, right, bottom) in a photo of ``photo_size`` (W, H): a window of the aspect ratio of
    ``size`` (W, H) moving ``pan`` of the photo's width left to right while narrowing by ``zoom``."""
    width, height = photo_size
    aspect = size[0] / size[1]
    full_w = min(width * (1 - pan), height * aspect)
    boxes = []
    for i in range(frames):
        t = i / max(frames - 1, 1)
        crop_w = full_w / (1 + (zoom - 1) * t)
        crop_h = crop_w / aspect
        left = t * pan * width + (full_w - crop_w) / 2
        top = (height - crop_h) / 2
        boxes.append((left, top, left + crop_w, top + crop_h))
    return boxes


def pan_zoom(photo: Image.Image, frames: int, size: tuple[int, int], pan: float = PAN,
             zoom: float = ZOOM) -> list[np.ndarray]:
    """``frames`` (H, W, 3) uint8 crops of ``photo`` along ``pan_zoom_boxes``, resized to ``size`` (bicubic)."""
    return [np.asarray(photo.resize(size, Image.BICUBIC, box=box))
            for box in pan_zoom_boxes(photo.size, frames, size, pan, zoom)]


def aligner(boxes: list[Box], cuts: set[int], size: tuple[int, int]):
    """Motion compensation for ``metrics.flicker`` from the clip's crop boxes: frame t-1 resampled onto frame
    t's pixels, both without a MARGIN border (content entering the frame). A pair across a cut (t in ``cuts``,
    the first frames of new shots) compares frame t with itself: no change, for outputs and sources alike."""
    mx, my = round(size[0] * MARGIN), round(size[1] * MARGIN)

    def align(t: int, previous: np.ndarray, current: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if t in cuts:
            return current[my:-my, mx:-mx], current[my:-my, mx:-mx]
        (px0, py0, px1, py1), (cx0, cy0, cx1, cy1) = boxes[t - 1], boxes[t]
        sx, sy = size[0] / (px1 - px0), size[1] / (py1 - py0)
        box = ((cx0 - px0) * sx + mx, (cy0 - py0) * sy + my, (cx1 - px0) * sx + mx, (cy1 - py0) * sy + my)
        padded = np.pad(previous, ((my, my), (mx, mx), (0, 0)), mode="edge")  # the box may leave frame t-1
        warped = np.asarray(Image.fromarray(padded).resize(size, Image.BICUBIC, box=box))
        return warped[my:-my, mx:-mx], current[my:-my, mx:-mx]

    return align


Clip = tuple[Path, list[Box], set[int]]  # file, crop box of each frame, first frames of new shots


def make_clips(frames: int, size: tuple[int, int], folder: Path) -> dict[str, Clip]:
    """The benchmark clips as H.264 files in ``folder``, by name."""
    first, second = (Image.open(p).convert("RGB") for p in PHOTOS)
    half = frames // 2
    clips = {"pan-zoom": (pan_zoom(first, frames, size), pan_zoom_boxes(first.size, frames, size), set()),
             "two-shots": (pan_zoom(first, half, size) + pan_zoom(second, frames - half, size, pan=0),
                           pan_zoom_boxes(first.size, half, size)
                           + pan_zoom_boxes(second.size, frames - half, size, pan=0), {half})}
    result = {}
    for name, (clip, boxes, cuts) in clips.items():
        result[name] = (folder / f"{name}.mp4", boxes, cuts)
        write_frames(result[name][0], clip, FPS)
    return result


def flicker_table(pipe: RecolorPipeline, clips: dict[str, Clip], reference: Image.Image,
                  size: tuple[int, int]) -> None:
    """Print flicker per clip and method, motion-compensated (and raw), and the ratio smoothed / independent."""
    print("flicker = mean dE00 between consecutive output frames - that between consecutive source frames, "
          "motion-compensated (raw, without compensation, in brackets)")
    print(f"| clip | frames | independent (smoothing 0) | smoothed ({DEFAULT_SMOOTHING}) | ratio | scene cuts "
          f"| MKL per frame |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    reference_array = np.asarray(reference)
    for name, (path, boxes, cuts) in clips.items():
        sources = list(read_frames(path))
        align = aligner(boxes, cuts, size)
        outputs = {"independent": list(FrameRecolorer(pipe, reference, smoothing=0).map(sources))}
        smoothed = FrameRecolorer(pipe, reference)
        outputs["smoothed"] = list(smoothed.map(sources))
        outputs["mkl"] = [mkl(frame, reference_array) for frame in sources]
        values = {k: (flicker(v, sources, align), flicker(v, sources)) for k, v in outputs.items()}
        cells = {k: f"{a:.3f} ({raw:.3f})" for k, (a, raw) in values.items()}
        ratio = values["smoothed"][0] / values["independent"][0]
        print(f"| {name} | {len(sources)} | {cells['independent']} | {cells['smoothed']} | {ratio:.3f} "
              f"| {smoothed.smoother.cuts} | {cells['mkl']} |", flush=True)


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
        size = (args.width, args.height)
        flicker_table(pipe, make_clips(args.frames, size, Path(tmp)), reference, size)
        if args.speed_frames:
            speed(pipe, reference, args.speed_frames, Path(tmp))


if __name__ == "__main__":
    main()
