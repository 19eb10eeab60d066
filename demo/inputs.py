"""What a client sends, checked, and problems turned into messages.

A client controls every field it sends: paths, file names, click positions, numbers, the optimisation's mode. Each
is checked here (or by ``photos`` and the library) before use, and a message quotes a sent value only shortened
(``reprlib``). ``report_errors`` is the one place where a ValueError becomes what the user sees.
"""

import functools
import html
import inspect
import reprlib
from pathlib import Path

import gradio as gr

from recolor_hf.strength import ALPHA_RANGE, check_alpha

MAX_STEPS = 200
OPTIMIZE_MODES = [("The whole look at once", "code"), ("Region by region (may show artifacts)", "maps")]
FALLBACK_CHOICES = [("Take the reference's overall colours", "global"), ("Take the look of the matched parts", "look"),
                    ("Stay as they are", "keep")]  # RecolorPipeline's fallback values (recolor_hf.fallback)
NAME_CHARS = 80  # a file name in a message is cut to this many characters


def photo_path(photo) -> str | None:
    """An image input's raw value (a FileData dict, as events get it with preprocess=False) or a path -> path."""
    if isinstance(photo, dict):
        path = photo.get("path")
        return path if isinstance(path, str) else None
    return None if photo is None else str(photo)


def display_name(photo, path: Path) -> str:
    """The name a message gives an uploaded photo: the client's file name (its last part, cut to NAME_CHARS,
    markup escaped) or else the file's own."""
    sent = photo.get("orig_name") if isinstance(photo, dict) else None
    return html.escape(Path(sent).name[:NAME_CHARS]) if isinstance(sent, str) and sent else path.name


def normalized(index, size: tuple[int, int]) -> tuple[float, float]:
    """Click position [x, y] in pixels of an image of ``size`` (W, H) -> (x, y) in [0, 1] (pixel centres); the
    library's point check refuses a position outside the image."""
    try:
        x, y = (float(value) for value in index)
    except (TypeError, ValueError):
        raise ValueError(f"A click position must be two numbers, got {reprlib.repr(index)}.") from None
    return min((x + 0.5) / size[0], 1.0), min((y + 0.5) / size[1], 1.0)


def check_strength(strength) -> float:
    """The slider's value as the pipeline's alpha, refused up front in the UI's words."""
    try:
        return check_alpha(strength)
    except ValueError:
        raise ValueError(f"The strength must be a number from {ALPHA_RANGE[0]:g} to {ALPHA_RANGE[1]:g}, "
                         f"got {reprlib.repr(strength)}.") from None


def check_steps(steps) -> int:
    """The optimisation's number of steps: a whole number from 1 to MAX_STEPS."""
    if isinstance(steps, bool) or not isinstance(steps, (int, float)) or not 1 <= steps <= MAX_STEPS \
            or steps != int(steps):
        raise ValueError(f"The number of steps must be a whole number from 1 to {MAX_STEPS}, "
                         f"got {reprlib.repr(steps)}.")
    return int(steps)


def check_choice(value, choices: list[tuple[str, str]], what: str) -> str:
    """A radio's value: one of ``choices``' values, or the label the UI shows for it (-> its value)."""
    known = {label: value for label, value in choices} | {value: value for _, value in choices}
    if not isinstance(value, str) or value not in known:
        labels = ", ".join(repr(label) for label, _ in choices)
        values = " / ".join(repr(value) for _, value in choices)
        raise ValueError(f"The {what} must be {labels} (or {values}), got {reprlib.repr(value)}.")
    return known[value]


def check_mode(mode) -> str:
    """The optimisation's mode: "code" / "maps" or the label the UI shows for it."""
    return check_choice(mode, OPTIMIZE_MODES, "mode")


def check_fallback(fallback) -> str:
    """What the parts of the photo the reference lacks become (the pipeline's ``fallback``): "global" / "look" /
    "keep" or the label the UI shows for it."""
    return check_choice(fallback, FALLBACK_CHOICES, "choice for parts the reference lacks")


def report_errors(warn: bool = False):
    """Decorator for event functions, the one place where errors become messages: a ValueError (how the library
    names a problem) becomes a gr.Error, which fails the event with that message and leaves its outputs as they
    were; with ``warn`` (UI-only events: uploads, clicks) a gr.Warning, and every output is left as it was."""
    def translate(err: ValueError):
        if warn:
            gr.Warning(str(err))
            return gr.skip()
        raise gr.Error(str(err), print_exception=False) from None

    def decorate(fn):
        if inspect.isgeneratorfunction(fn):
            @functools.wraps(fn)
            def generator(*args, **kwargs):
                try:
                    yield from fn(*args, **kwargs)
                except ValueError as err:
                    yield translate(err)
            return generator

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except ValueError as err:
                return translate(err)
        return wrapper
    return decorate
