"""Video benchmark: flicker of per-frame independent vs temporally smoothed re-colouring, and speed at 1080p.

Usage: `python -m eval video [--pretrained_model_name_or_path DIR] [--frames 64] [--speed_frames 6]`.

Clips (made here, H.264-encoded and decoded back so the content frames carry real compression noise):
- `pan-zoom`: a slow pan and zoom across one photo;
- `two-shots`: a pan across one photo, a cut, then a zoom into another (the smoother must reset at the cut).
Flicker = mean ΔE00 between consecutive output frames minus that between consecutive content frames
(`recolor_hf.metrics.flicker`), for `--smoothing 0` (each frame on its own), the default smoothing and MKL
applied per frame. Raw consecutive frames differ mostly by motion (a textured photo panning), which a
re-colouring that lowers contrast shrinks, so the raw difference can be negative; the main number compares
frame t with frame t-1 resampled onto it (the crop boxes are known), leaving out a border. Speed: frames per
second of `recolor_video` end to end (decode, re-colour, encode) on a `--speed_size` pan (default 1920x1080),
the same with the reference's features recomputed on every frame (`FrameRecolorer(reuse_reference=False)`, as
before they were cached; best of SPEED_REPEATS alternating runs each, so other jobs on the machine weigh on both
alike), beside MKL applied per frame at that size (colour transfer only, no decoding or encoding). The clips are made from CLIP_PHOTOS and re-coloured
after REFERENCE, paths in the data root.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import av
from PIL import Image

from eval.report import markdown_table, write_summary
from recolor_hf import RecolorPipeline
from recolor_hf.baselines import mkl
from recolor_hf.media import DEFAULT_SMOOTHING
from recolor_hf.metrics import flicker
from recolor_hf.video import FrameRecolorer, open_video, read_frames, transcode, write_frames

CLIP_PHOTOS = ("photos/kodak24/kodim23.jpg", "photos/kodak24/kodim05.jpg")  # in the data root
REFERENCE = "dpst/reference/tar1.png"  # in the data root
SPEED_SIZE = (1920, 1080)  # default --speed_size
FPS = 25
PAN = 0.25  # the crop window travels this fraction of the photo's width over a shot
ZOOM = 1.25  # and narrows by this factor
MARGIN = 0.1  # fraction of each side left out of motion-compensated comparisons
SPEED_REPEATS = 2  # timed runs of each speed variant, alternating; the best counts


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
    the first frames of new shots) compares frame t with itself: no change, for output and content frames alike."""
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


def make_clips(photos: list[Image.Image], frames: int, size: tuple[int, int], folder: Path) -> dict[str, Clip]:
    """The benchmark clips from two photos as H.264 files in ``folder``, by name."""
    first, second = photos
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


def flicker_rows(pipe: RecolorPipeline, clips: dict[str, Clip], reference: Image.Image,
                 size: tuple[int, int]) -> list[dict]:
    """Flicker per clip and output (independent, smoothed, MKL per frame), motion-compensated and raw, with the
    scene cuts the smoother detected."""
    rows, reference_array = [], np.asarray(reference)
    for name, (path, boxes, cuts) in clips.items():
        content_frames = list(read_frames(path))
        align = aligner(boxes, cuts, size)
        smoothed = FrameRecolorer(pipe, reference)
        independent = FrameRecolorer(pipe, reference, smoothing=0)
        outputs = {"independent (smoothing 0)": list(independent.map(content_frames)),
                   f"smoothed ({DEFAULT_SMOOTHING})": list(smoothed.map(content_frames)),
                   "MKL per frame": [mkl(frame, reference_array) for frame in content_frames]}
        rows += [{"clip": name, "frames": len(content_frames), "output": output,
                  "flicker": flicker(frames, content_frames, align), "raw flicker": flicker(frames, content_frames),
                  "scene cuts": smoothed.smoother.cuts}
                 for output, frames in outputs.items()]
    return rows


def flicker_table(results: pd.DataFrame) -> str:
    """A row per clip: each output's motion-compensated flicker (raw in brackets), the ratio smoothed / independent
    (the first two outputs of flicker_rows) and the scene cuts."""
    rows = []
    for clip, frame in results.groupby("clip", sort=False):
        cells = {output: f"{value:.3f} ({raw:.3f})"
                 for output, value, raw in zip(frame["output"], frame["flicker"], frame["raw flicker"])}
        rows.append({"clip": clip, "frames": frame["frames"].iat[0], **cells,
                     "ratio": frame["flicker"].iat[1] / frame["flicker"].iat[0], "scene cuts": frame["scene cuts"].iat[0]})
    return markdown_table(pd.DataFrame(rows), {"frames": "{:d}", "ratio": "{:.3f}", "scene cuts": "{:d}"})


def video_frames_per_second(pipe: RecolorPipeline, path: Path, reference: Image.Image, output: Path,
                            reuse_reference: bool) -> float:
    """Frames per second of re-colouring the video ``path`` into ``output`` end to end (decode, re-colour,
    encode: what ``recolor_video`` does), the reference's features computed once or on every frame."""
    start = time.perf_counter()
    recolour = FrameRecolorer(pipe, reference, reuse_reference=reuse_reference)
    with open_video(path) as container, av.open(str(output), "w") as out:
        written = transcode(container, out, recolour, progress=False)
    return written / (time.perf_counter() - start)


def speed(pipe: RecolorPipeline, photo: Image.Image, reference: Image.Image, frames: int, size: tuple[int, int],
          folder: Path) -> dict:
    """Frames per second at `size` (W, H): ours end to end with the reference's features computed once and per
    frame (best of SPEED_REPEATS alternating runs), MKL per frame; the machine's load average."""
    clip = pan_zoom(photo, frames, size)
    path = folder / "speed.mp4"
    write_frames(path, clip, FPS)
    best = {True: 0.0, False: 0.0}
    for _ in range(SPEED_REPEATS):
        for reuse in (False, True):
            best[reuse] = max(best[reuse], video_frames_per_second(pipe, path, reference, folder / "speed-out.mp4",
                                                                   reuse))
    reference_array = np.asarray(reference)
    start = time.perf_counter()
    for frame in clip:
        mkl(frame, reference_array)
    return {"frames": frames, "ours frames/s (decode + re-colour + encode)": best[True],
            "ours frames/s, reference features per frame (before)": best[False],
            "speed-up": best[True] / best[False],
            "MKL frames/s (transfer only)": len(clip) / (time.perf_counter() - start),
            "load average (1 min)": os.getloadavg()[0]}


def check_data(data_dir: Path) -> None:
    """A ValueError naming every clip photo or reference missing from the data root ``data_dir``."""
    missing = [path for path in (*CLIP_PHOTOS, REFERENCE) if not (data_dir / path).is_file()]
    if missing:
        raise ValueError(f"the video benchmark's clips are made from {', '.join((*CLIP_PHOTOS, REFERENCE))} in the "
                         f"data folder; {data_dir} lacks {', '.join(missing)} (pass --data_dir DIR holding them)")


def run(args: argparse.Namespace) -> None:
    """Flicker of every clip (results.csv) and, unless --speed_frames 0, the speed (speed.csv); summary.md."""
    check_data(args.data_dir)
    pipe = RecolorPipeline.from_pretrained(args.pretrained_model_name_or_path)
    if args.device is not None:
        pipe = pipe.to(args.device)
    photos = [Image.open(args.data_dir / path).convert("RGB") for path in CLIP_PHOTOS]
    reference = Image.open(args.data_dir / REFERENCE).convert("RGB")
    size = (args.width, args.height)
    with tempfile.TemporaryDirectory() as tmp:
        results = pd.DataFrame(flicker_rows(pipe, make_clips(photos, args.frames, size, Path(tmp)), reference, size))
        results.to_csv(args.output_dir / "results.csv", index=False)
        tables = {"flicker": flicker_table(results)}
        if args.speed_frames:
            speeds = pd.DataFrame([speed(pipe, photos[0], reference, args.speed_frames, args.speed_size, Path(tmp))])
            speeds.to_csv(args.output_dir / "speed.csv", index=False)
            tables["speed at {}x{}".format(*args.speed_size)] = markdown_table(speeds, {"frames": "{:d}"})
    notes = ["flicker = mean dE00 between consecutive output frames - that between consecutive content frames, "
             "motion-compensated (raw, without compensation, in brackets)",
             f"{args.frames} frames at {args.width}x{args.height}, {torch.get_num_threads()} torch threads"]
    write_summary(args.output_dir, "Video flicker and speed", notes, tables)
