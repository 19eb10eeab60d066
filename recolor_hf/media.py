"""What the ``recolor`` command reads and writes, torch-free (so that ``--help`` and usage errors answer at once):
video file extensions and the video mode's temporal smoothing setting (``recolor_hf.video`` does the work)."""

from pathlib import Path

VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".m4v", ".avi", ".webm")  # read by the CLI as videos
VIDEO_FORMATS = {".mp4": "mp4", ".mov": "mov", ".mkv": "matroska"}  # writable: extension -> FFmpeg muxer
DEFAULT_SMOOTHING = 0.9  # EMA weight of the past: about 10 frames of memory (0 = every frame on its own)


def is_video(path: Path) -> bool:
    """Whether ``path`` has a video file extension (``VIDEO_EXTENSIONS``)."""
    return path.suffix.lower() in VIDEO_EXTENSIONS


def check_smoothing(smoothing: float) -> float:
    """The EMA weight must be in [0, 1): 1 would never take in a new frame."""
    if isinstance(smoothing, bool) or not isinstance(smoothing, (int, float)) or not 0 <= smoothing < 1:
        raise ValueError(f"smoothing must be a number in [0, 1), got {smoothing!r}")
    return float(smoothing)
