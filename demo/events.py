"""The demo's event functions: each takes the shared ``Demo`` first (``app.py`` binds it with ``on``), then the
event's inputs, and works through the request's ``Session``. Photos in are raw uploads (FileData dicts or paths:
the events get them with preprocess=False, so that an unreadable file's message reaches the user), images out are
session file paths; problems are reported by ``report_errors``."""

import re
import reprlib
import threading
import time
import types
import uuid
from pathlib import Path
from typing import Callable

import gradio as gr
import pandas as pd
import PIL.Image

from recolor_hf.optimize import LatentOptimizer

from .clicks import Clicks
from .inputs import check_fallback, check_mode, check_steps, check_strength, normalized, photo_path, report_errors
from .photos import EXAMPLES
from .session import OPTIMISED, Demo, Session, Shown

FRESH_OUTPUTS = 12  # outputs of Session.fresh_views: result (4), clicks (4), region editors (2), LUT, Inspect
PREVIEW_EVERY = 5  # the optimisation shows its current result every this many steps
MIN_AXIS_STEPS = 10  # the curve's x axis spans the run's steps, at least this many (integer ticks)
LUT_LABEL = "3D LUT for Resolve, Premiere, ffmpeg, strength {}"
LUT_STRENGTH = re.compile(r"look_strength_([0-9.]+)\.cube")  # the strength in a LUT file's name (session.LUT_NAME)


def on(demo: Demo, event: Callable) -> Callable:
    """``event`` as Gradio calls it: a method of ``demo`` (Gradio reads the rest of its signature, its type hints
    and whether it is a generator)."""
    return types.MethodType(event, demo)


# ----- photos -----

def new_photos(demo: Demo, content, reference, accepted: tuple | None, request: gr.Request = None) -> tuple:
    """An upload or a removed photo: a readable one clears the result and the clicks (outputs: the photos, the
    accepted photos' state, then ``Session.fresh_views``'); an unreadable one is named in a warning, the photo
    boxes go back to the last accepted photos and nothing else changes."""
    try:
        views = demo.session(request).fresh_views(content, reference)
    except ValueError as err:
        gr.Warning(str(err))
        return (*(accepted or (None, None)), gr.skip(), *(gr.skip(),) * FRESH_OUTPUTS)
    return gr.skip(), gr.skip(), (photo_path(content), photo_path(reference)), *views


@report_errors(warn=True)
def use_example(demo: Demo, evt: gr.SelectData, request: gr.Request = None) -> tuple:
    """A click on an example: its two photos, then as ``new_photos``."""
    if not isinstance(evt.index, int) or not 0 <= evt.index < len(EXAMPLES):
        raise ValueError(f"There is no example number {reprlib.repr(evt.index)}.")
    content, reference = EXAMPLES[evt.index]
    return content, reference, (content, reference), *demo.session(request).fresh_views(content, reference)


@report_errors(warn=True)
def clear_content_region(demo: Demo, content, request: gr.Request = None) -> dict | None:
    """The bin icon of the photo's region editor: the photo again, without paint."""
    return demo.session(request).editors(demo.photos.screen(content, None)[0], None)[0]


@report_errors(warn=True)
def clear_reference_region(demo: Demo, reference, request: gr.Request = None) -> dict | None:
    """The bin icon of the reference's region editor: the reference again, without paint."""
    return demo.session(request).editors(None, demo.photos.screen(None, reference)[1])[1]


# ----- re-colouring -----

@report_errors()
def recolour(demo: Demo, content, reference, strength: float, fallback: str = "global",
             request: gr.Request = None) -> tuple:
    """Automatic correspondence -> (state, before/after, full-resolution PNG, status); ``fallback``: what the
    parts the reference lacks become (``inputs.check_fallback``)."""
    strength, fallback = check_strength(strength), check_fallback(fallback)
    key, latents, note = demo.encode(content, reference, fallback=fallback)
    return demo.session(request).show(key, latents, strength, note)


@report_errors()
def set_strength(demo: Demo, shown: Shown | None, strength: float, lut=None, request: gr.Request = None) -> tuple:
    """Re-render the result on screen at another strength from its cached latents (supp. eq. 3), no predictor run,
    and re-fit a LUT that was exported -> (before/after, full-resolution PNG, status, LUT box)."""
    strength = check_strength(strength)
    latents = demo.on_screen(shown)
    if latents is None:
        return gr.skip(), gr.skip(), "Nothing to re-render yet: re-colour a photo first.", gr.skip()
    session = demo.session(request)
    _, compare, download, status = session.show(shown.key, latents, strength)
    box = gr.skip() if lut is None else session.lut(latents, PIL.Image.open(download), strength)[0]
    return compare, download, status, box


@report_errors()
def export_lut(demo: Demo, shown: Shown | None, strength: float, request: gr.Request = None) -> tuple:
    """The result on screen as a 3D LUT -> (LUT box, status with its fit error)."""
    strength = check_strength(strength)
    latents = demo.on_screen(shown)
    if latents is None:
        raise ValueError("Re-colour a photo first: the LUT is fitted to the result on screen.")
    return demo.session(request).lut(latents, demo.pipe.decode(latents, strength)[0], strength)


def lut_box(demo: Demo, lut) -> dict:
    """The LUT box after its file changed: shown with a label giving the strength in the file's name (which the box
    shortens), or hidden when there is no LUT."""
    name = re.fullmatch(LUT_STRENGTH, Path(photo_path(lut) or "").name)
    return gr.update(visible=name is not None, label=LUT_LABEL.format(name[1] if name else ""))


# ----- clicks and painted regions -----

@report_errors(warn=True)
def click_content(demo: Demo, clicks: dict, mode: str, content, reference, evt: gr.SelectData,
                  request: gr.Request = None) -> tuple:
    """A click on the content view: starts a pair, or adds a keep point."""
    point = normalized(evt.index, demo.photos.preview(content, "content photo").size)
    return demo.session(request).click_views(Clicks.from_json(clicks).click_content(point, mode), content, reference)


@report_errors(warn=True)
def click_reference(demo: Demo, clicks: dict, content, reference, evt: gr.SelectData,
                    request: gr.Request = None) -> tuple:
    """A click on the reference view completes the pending pair."""
    point = normalized(evt.index, demo.photos.preview(reference, "reference photo").size)
    return demo.session(request).click_views(Clicks.from_json(clicks).click_reference(point), content, reference)


@report_errors(warn=True)
def undo(demo: Demo, clicks: dict, content, reference, request: gr.Request = None) -> tuple:
    return demo.session(request).click_views(Clicks.from_json(clicks).undo(), content, reference)


@report_errors(warn=True)
def clear_clicks(demo: Demo, content, reference, request: gr.Request = None) -> tuple:
    return demo.session(request).click_views(Clicks(), content, reference)


@report_errors()
def guided(demo: Demo, content, reference, clicks: dict, strength: float, fallback: str = "global",
           request: gr.Request = None) -> tuple:
    """Re-colour with the clicked pairs and keep points (supp. eq. 2); ``fallback`` as in ``recolour``."""
    strength, fallback = check_strength(strength), check_fallback(fallback)
    clicks = Clicks.from_json(clicks)
    if not clicks.actions and clicks.pending is None:
        raise ValueError("Click a region of the photo first (a pair or a keep point), then press the button.")
    key, latents, note = demo.encode(content, reference, clicks.guidance(), fallback)
    return demo.session(request).show(key, latents, strength, note)


@report_errors()
def masks(demo: Demo, content, reference, content_region: dict, reference_region: dict, clicks: dict,
          strength: float, fallback: str = "global", request: gr.Request = None) -> tuple:
    """Re-colour with the painted regions (region-to-region transfers, ``guidance.RegionEdit``), plus any clicks;
    ``fallback`` as in ``recolour``."""
    strength, fallback = check_strength(strength), check_fallback(fallback)
    painted = (demo.photos.painted_mask(content_region, "painted content region"),
               demo.photos.painted_mask(reference_region, "painted reference region"))
    if painted[0] is None and painted[1] is None:
        raise ValueError("Paint a region on the content photo and/or the reference first.")
    key, latents, note = demo.encode(content, reference, Clicks.from_json(clicks).guidance(*painted), fallback)
    return demo.session(request).show(key, latents, strength, note)


def painted(demo: Demo, accepted: tuple | None, content_region: dict, reference_region: dict, clicks: dict,
            strength: float, fallback: str = "global", request: gr.Request = None) -> tuple:
    """The regions tab's button: ``masks`` on the session's accepted photos and the editors' preprocessed values
    (the browser sends a painted editor as blobs that only Gradio's preprocessing reads)."""
    return masks(demo, *(accepted or (None, None)), content_region, reference_region, clicks, strength, fallback,
                 request)


# ----- the look optimisation and Inspect -----

@report_errors()
def optimize(demo: Demo, content, reference, mode: str, steps: int, strength: float, fallback: str = "global",
             request: gr.Request = None):
    """Match the reference's overall look by optimisation (supp. C.7), a generator: yields ``progress`` after every
    step, then the result of the closest step with the curve. ``stop`` ends it early. ``mode``: "code" / "maps" or
    their labels (OPTIMIZE_MODES); ``fallback`` as in ``recolour`` (the "maps" mode starts from that prediction).
    Outputs: (state, before/after, full-resolution PNG, status, curve)."""
    strength, steps, mode = check_strength(strength), check_steps(steps), check_mode(mode)
    fallback = check_fallback(fallback)
    session = demo.session(request)
    optimizer = LatentOptimizer(demo.pipe, demo.photos.load(content, "content photo"),
                                demo.photos.load(reference, "reference photo"), mode, fallback=fallback)
    start, stopped, losses = time.perf_counter(), threading.Event(), []
    demo.running[session.id] = stopped
    try:
        for loss in optimizer.run(steps, should_stop=stopped.is_set):
            losses.append(loss)
            yield progress(session, optimizer, losses, steps, strength)
    finally:
        demo.running.pop(session.id, None)
    if not losses:
        raise ValueError("Stopped before the first step: nothing to show.")
    ran = f"Stopped at step {len(losses)} of {steps}" if len(losses) < steps else f"Ran {steps} steps"
    note = (f"{ran} in {time.perf_counter() - start:.1f} s; showing the closest, step {optimizer.best_step + 1} "
            f"(difference {optimizer.best_loss:.4f}). ")
    key = f"{OPTIMISED}{uuid.uuid4().hex}"
    demo.encodings.put(key, optimizer.latents(best=True))
    yield *session.show(key, demo.encodings.get(key), strength, note), curve_frame(losses)  # the axis stays


def progress(session: Session, optimizer: LatentOptimizer, losses: list[float], steps: int, strength: float) -> tuple:
    """One optimisation step's outputs: the status and the curve, and every PREVIEW_EVERY steps the current result
    (on screen only)."""
    curve = gr.update(value=curve_frame(losses), x_lim=(1, max(steps, MIN_AXIS_STEPS)))
    status = f"Step {len(losses)} of {steps}: difference to the reference's look {losses[-1]:.4f}."
    compare = gr.skip()
    if len(losses) % PREVIEW_EVERY == 0:
        current = optimizer.latents(best=False)
        compare = session.previews(current, session.demo.pipe.decode(current, strength)[0])
    return gr.skip(), compare, gr.skip(), status, curve


def curve_frame(losses: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"step": range(1, len(losses) + 1), "difference": losses})


def stop(demo: Demo, request: gr.Request = None) -> None:
    """Ask this session's running optimisation, if any, to stop after its current step."""
    stopped = demo.running.get(demo.session(request).id)
    if stopped is not None:
        stopped.set()


@report_errors()
def inspect(demo: Demo, shown: Shown | None, reference, request: gr.Request = None) -> list[tuple[str, str]]:
    """The colour maps W1, W2, W3 (PCA, supp. C.9) and the correspondence, as (image file, caption) pairs."""
    latents = demo.on_screen(shown)
    if latents is None:
        raise ValueError("Nothing to inspect yet: re-colour a photo first.")
    return demo.session(request).inspect(latents, reference)
