"""Video re-colouring without flicker: a temporally smoothed transfer, rendered per frame at full resolution.

Run independently on every frame, the hard correspondence of the predictor switches between reference patches
from one frame to the next, so the predicted colours jump and the video flickers. Here the predictor still runs
on every frame, but what it predicts is smoothed over time before rendering:

- the *transfer* of the colour statistics, not the targets themselves: per patch, the Lab mean shift T - S_S and
  the log contrast gain log((T_std + f) / (S_std + f)) (``models.transfer.statistics_transfer``) are averaged
  by an exponential moving average (EMA), and the frame's own statistics S_S are moved by the averaged transfer.
  A patch whose content changes (pan, zoom) therefore keeps its own colours moved the way the recent frames were
  moved, instead of taking another region's colours;
- the predicted map residuals W - W0(base) (each map is a residual on the base image's self-map), by the same
  EMA; the base image and W0(base) are recomputed from the smoothed statistics.

A scene cut (a large change of the frame's colour histogram) resets the averages, so a new shot gets its own
transfer at once. Each frame is then rendered (``RecolorPipeline.decode``) and carried to the frame's full
resolution by the local-affine step of ``recolor_hf.upsample``. Decoding and encoding use PyAV (FFmpeg); the
first audio stream is copied unchanged, the frame rate and timestamps are kept.

A video that decodes to fewer frames than its container declares (a file cut short: the demuxer just stops, or
its last packet does not decode) is a ValueError, or with ``allow_partial`` a ``TruncatedVideoWarning`` and the
frames there are.
"""

import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator

import av
import numpy as np
import torch
from tqdm import tqdm

from .fallback import check_fallback
from .image_io import check_size
from .media import DEFAULT_SMOOTHING, VIDEO_FORMATS, check_smoothing
from .models.transfer import apply_transfer, local_transfer, statistics_transfer
from .models.layers import resize_map
from .pipeline import RecolorPipeline
from .steps import RecolorLatents
from .strength import check_alpha

VIDEO_CODEC = "libx264"
VIDEO_QUALITY = {"crf": "18", "preset": "medium"}  # x264: visually lossless-ish, FFmpeg's default speed
HISTOGRAM_BINS = 8  # per RGB channel, for scene-cut detection
SCENE_CUT = 0.5  # total-variation distance between consecutive colour histograms that counts as a cut
DURATION_TOLERANCE = 0.02  # a frame count estimated from a duration may be this much too high (variable frame rate)


class TruncatedVideoWarning(UserWarning):
    """A video decoded to fewer frames than its container declares (or with a packet that did not decode), and
    ``allow_partial`` kept the frames there are."""


def colour_histogram(frame_low: torch.Tensor) -> torch.Tensor:
    """(1, 3, r, r) in [0, 1] -> (HISTOGRAM_BINS ** 3,) normalised joint RGB histogram."""
    bins = (frame_low[0] * HISTOGRAM_BINS).long().clamp(0, HISTOGRAM_BINS - 1)
    index = (bins[0] * HISTOGRAM_BINS + bins[1]) * HISTOGRAM_BINS + bins[2]
    counts = torch.bincount(index.flatten(), minlength=HISTOGRAM_BINS ** 3).float()
    return counts / counts.sum()


@dataclass
class TemporalState:
    """The running averages: statistics transfer (B, 6, h, w), map residuals, last frame's histogram."""

    transfer: torch.Tensor
    residuals: tuple[torch.Tensor, ...]
    histogram: torch.Tensor


class TemporalSmoother:
    """EMA of the predicted transfer and map residuals over frames, reset at scene cuts (module docstring).

    ``smoothing`` is the weight of the past (0 = each frame independent); ``scene_cut`` the histogram distance in
    [0, 1] above which the averages restart. ``cuts`` counts the scene cuts seen.
    """

    def __init__(self, pipe: RecolorPipeline, smoothing: float = DEFAULT_SMOOTHING, scene_cut: float = SCENE_CUT):
        self.pipe = pipe
        self.smoothing = check_smoothing(smoothing)
        self.scene_cut = scene_cut
        self.state: TemporalState | None = None
        self.cuts = 0

    def __call__(self, latents: RecolorLatents) -> RecolorLatents:
        """One frame's latents (batch of 1) -> latents whose statistics and maps carry the smoothed transfer."""
        histogram = colour_histogram(latents.content_low)
        transfer = statistics_transfer(latents.content_stats, latents.target_stats)
        residuals = tuple(m - resize_map(latents.base_map, m.shape[-2:]) for m in latents.maps)
        state = self.state
        if state is not None and 0.5 * (histogram - state.histogram).abs().sum() > self.scene_cut:
            self.cuts += 1
            state = None
        if state is not None:
            keep = self.smoothing
            transfer = keep * state.transfer + (1 - keep) * transfer
            residuals = tuple(keep * old + (1 - keep) * new for old, new in zip(state.residuals, residuals))
        self.state = TemporalState(transfer, residuals, histogram)
        if state is None or self.smoothing == 0:
            return latents
        target = apply_transfer(latents.content_stats, transfer)
        base_map = self.pipe.self_map(local_transfer(latents.content_low, latents.content_stats, target))
        maps = tuple(resize_map(base_map, r.shape[-2:]) + r for r in residuals)
        return replace(latents, maps=maps, base_map=base_map, target_stats=target)


class FrameRecolorer:
    """Re-colour a stream of frames like one reference: (H, W, 3) uint8 in, (H, W, 3) uint8 out, in order.

    The reference's own features (backbone, self-map, statistics: ``RecolorPipeline.reference_features``) are
    computed once; ``reuse_reference=False`` recomputes them on every frame (the same output, slower: for
    benchmarks).
    """

    def __init__(self, pipe: RecolorPipeline, reference, alpha: float = 1.0,
                 smoothing: float = DEFAULT_SMOOTHING, reuse_reference: bool = True, fallback: str = "global"):
        self.pipe = pipe
        self.alpha = check_alpha(alpha)
        self.fallback = check_fallback(fallback)
        self.reference_low = pipe.prepare(reference, "reference").working
        with torch.no_grad():
            self.reference = pipe.reference_features(self.reference_low) if reuse_reference else None
        self.smoother = TemporalSmoother(pipe, smoothing)

    @torch.no_grad()
    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """One frame (H, W, 3) uint8 -> the frame re-coloured at its own size."""
        content = self.pipe.prepare(frame, "frame")
        latents = self.pipe.predict(content.working, self.reference_low, reference_features=self.reference,
                                    fallback=self.fallback)
        latents = self.smoother(latents)
        latents.contents = content.images
        return np.asarray(self.pipe.decode(latents, self.alpha)[0])

    def map(self, frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """Re-colour every frame of ``frames`` in order."""
        for frame in frames:
            yield self(frame)


def open_video(path: Path) -> av.container.InputContainer:
    """Open a video file for reading, or a ValueError naming the problem."""
    if not Path(path).is_file():
        raise ValueError(f"video: no such file {path}")
    try:
        container = av.open(str(path))
    except av.FFmpegError as err:
        raise ValueError(f"video: {path} is not a readable video ({err})") from None
    if not container.streams.video:
        container.close()
        raise ValueError(f"video: {path} has no video stream")
    return container


def read_frames(path: Path) -> Iterator[np.ndarray]:
    """Every frame of the first video stream of ``path`` as (H, W, 3) uint8 RGB."""
    with open_video(path) as container:
        for frame in container.decode(container.streams.video[0]):
            yield frame.to_ndarray(format="rgb24")


def write_frames(path: Path, frames: list[np.ndarray], fps: int) -> None:
    """Encode (H, W, 3) uint8 frames of one even size as an H.264 video at ``fps`` (for tests and benchmarks)."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream(VIDEO_CODEC, rate=fps)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        stream.options = VIDEO_QUALITY
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())


def recolor_video(pipe: RecolorPipeline, content: Path, reference, output: Path | BinaryIO, alpha: float = 1.0,
                  smoothing: float = DEFAULT_SMOOTHING, container_format: str | None = None,
                  progress: bool = True, allow_partial: bool = False, fallback: str = "global") -> int:
    """Re-colour the video ``content`` like ``reference`` into ``output`` as H.264 (``fallback``: the pipeline's,
    what content the reference lacks moves to).

    ``output`` is a path ending in one of ``VIDEO_FORMATS`` or a seekable binary file, then with
    ``container_format`` (a ``VIDEO_FORMATS`` value). Frames keep their size, timestamps and frame rate; the
    first audio stream is copied as it is. Returns the number of frames written. A video that ends before the
    frame count its container declares is a ValueError, or with ``allow_partial`` a ``TruncatedVideoWarning``
    (``check_complete``); either way ``output`` has been written to, so write through ``atomic.atomic_file``.
    """
    if container_format is None:
        suffix = Path(output).suffix.lower()
        if suffix not in VIDEO_FORMATS:
            raise ValueError(f"cannot write video {output}: use one of the extensions {', '.join(VIDEO_FORMATS)}")
        container_format = VIDEO_FORMATS[suffix]
    recolour = FrameRecolorer(pipe, reference, alpha, smoothing, fallback=fallback)
    with open_video(content) as container, av.open(output, "w", format=container_format) as out:
        return transcode(container, out, recolour, progress, allow_partial)


def transcode(container: av.container.InputContainer, out: av.container.OutputContainer,
              recolour: FrameRecolorer, progress: bool, allow_partial: bool = False) -> int:
    """Decode the first video stream, re-colour each frame, encode it; copy the first audio stream's packets;
    then ``check_complete``."""
    video_in = container.streams.video[0]
    video_in.thread_type = "AUTO"
    width, height = video_in.codec_context.width, video_in.codec_context.height
    check_size(width, height, recolour.pipe.config.max_pixels, "video frame")
    video_out = out.add_stream(VIDEO_CODEC, rate=video_in.average_rate)
    video_out.width, video_out.height = width, height
    video_out.pix_fmt = "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"  # 4:2:0 needs even sizes
    video_out.codec_context.time_base = video_in.time_base
    video_out.options = VIDEO_QUALITY
    audio_in = container.streams.audio[0] if container.streams.audio else None
    audio_out = out.add_stream_from_template(audio_in) if audio_in is not None else None
    streams = [s for s in (video_in, audio_in) if s is not None]
    count, damaged = 0, None
    with tqdm(total=video_in.frames or None, desc="recolor", unit="frame", disable=not progress) as bar:
        for packet in container.demux(*streams):
            if packet.stream is audio_in:
                if packet.dts is not None:  # the demuxer's empty flush packet has none
                    packet.stream = audio_out
                    out.mux(packet)
                continue
            try:
                frames = packet.decode()
            except av.FFmpegError as err:  # typically the last packet of a file cut short: skipped, and reported
                damaged = damaged or str(err)
                continue
            for frame in frames:
                result = av.VideoFrame.from_ndarray(recolour(frame.to_ndarray(format="rgb24")), format="rgb24")
                result.pts, result.time_base = frame.pts, frame.time_base
                out.mux(video_out.encode(result))
                count += 1
                bar.update()
        out.mux(video_out.encode())
    if count == 0:
        raise ValueError("video: no frames could be decoded")
    check_complete(count, declared_frames(container, video_in), damaged, allow_partial)
    return count


def stream_seconds(container: av.container.InputContainer, stream: av.VideoStream) -> float | None:
    """The duration of ``stream`` as its header gives it: the stream's own, else its DURATION tag (Matroska and
    WebM, as FFmpeg writes them: ``HH:MM:SS.nnnnnnnnn``), else the container's when the stream is its only one
    (the container's duration covers every stream, e.g. a longer audio track); None when unknown."""
    if stream.duration is not None:
        return float(stream.duration * stream.time_base)
    tag = stream.metadata.get("DURATION", "")
    try:
        hours, minutes, seconds = tag.split(":")
        return 3600 * int(hours) + 60 * int(minutes) + float(seconds)
    except ValueError:  # no tag, or not in that form
        pass
    if len(container.streams) == 1 and container.duration:
        return container.duration / av.time_base
    return None


def declared_frames(container: av.container.InputContainer, stream: av.VideoStream) -> tuple[int, float] | None:
    """(frame count the container declares for ``stream``, relative shortfall tolerated): the header's count when
    it has one (mp4, mov, avi), exact; else duration x average frame rate, within ``DURATION_TOLERANCE``; None
    when neither is known."""
    if stream.frames > 0:
        return stream.frames, 0.0
    seconds = stream_seconds(container, stream)
    if seconds is None or not stream.average_rate:
        return None
    return round(seconds * stream.average_rate), DURATION_TOLERANCE


def check_complete(count: int, declared: tuple[int, float] | None, damaged: str | None, allow_partial: bool) -> None:
    """Refuse a video that decoded to fewer frames than ``declared`` (``declared_frames``) or had a packet that
    could not be decoded (``damaged``, the decoder's error): a ValueError, or with ``allow_partial`` a
    ``TruncatedVideoWarning`` with the same message."""
    short = declared is not None and count < declared[0] * (1 - declared[1])
    if not short and damaged is None:
        return
    message = (f"video: decoded {count} of {declared[0]} frames; the video looks truncated" if short
               else "video: the video looks damaged")
    if damaged is not None:
        message += f" (a packet could not be decoded: {damaged})"
    if not allow_partial:
        raise ValueError(f"{message} (allow_partial=True, --allow-partial-video on the command line, keeps the "
                         "frames there are)")
    warnings.warn(message, TruncatedVideoWarning, stacklevel=2)
