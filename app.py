"""Gradio demo of recolor_hf: re-colour a photo like a reference photo (Yang, Xu, Fan, WACV 2024).

``build_demo(pipe)`` lays out the app and wires its events to ``Handlers``, the event functions (tests call them
directly). Run ``python app.py [--checkpoint DIR]``: it serves the shipped checkpoint or DIR (or an untrained
``small`` pipeline, with a banner, when the folder is missing) on Gradio's usual host / port (GRADIO_SERVER_NAME,
GRADIO_SERVER_PORT).

Every tab's action is an API endpoint (``/recolour``, ``/guided``, ``/masks``, ``/optimize`` with ``/stop``,
``/inspect``, and ``/strength`` to re-render the session's result). Events get the raw uploads
(``preprocess=False``) so that an unreadable file reaches ``Handlers.load`` and its message reaches the user.
Memory and disk stay bounded: the encodings live in an LRU cache keyed by the inputs' hash (the session state
holds only the key), result files are written into Gradio's cache by ``SessionFiles`` and deleted with their
session, and Gradio's own cached files are aged out (``DELETE_CACHE``).
"""

import argparse
import functools
import inspect
import re
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import numpy as np
import pandas as pd
import PIL.Image
import PIL.ImageOps
from gradio.utils import get_upload_folder

from recolor_hf import DEFAULT_CHECKPOINT, RecolorLatents, RecolorPipeline
from recolor_hf.demo_state import MAX_ACTIONS, Clicks, LRUCache, SessionFiles, content_key
from recolor_hf.guidance import Guidance
from recolor_hf.image_io import load_mask
from recolor_hf.lut import LUT_SIZE, export_cube
from recolor_hf.optimize import LatentOptimizer
from recolor_hf.strength import ALPHA_RANGE, check_alpha
from recolor_hf.visualize import correspondence_image, draw_clicks, pca_images

EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"
EXAMPLES = [[str(EXAMPLES_DIR / f"{name}_source.jpg"), str(EXAMPLES_DIR / f"{name}_reference.jpg")]
            for name in ("city", "mountain", "bedroom")]
PREVIEW_SIDE = 1024  # long side of on-screen images; the download keeps the full resolution
PREVIEW_OPTIONS = {"quality": 92}  # on-screen JPEGs
DOWNLOAD_NAME, DOWNLOAD_OPTIONS = "recoloured.png", {"compress_level": 1}
LUT_NAME, LUT_FILES, LUT_BOX_HEIGHT = "look_strength_{:g}.cube", "look_strength_*.cube", 110  # box height: px
LUT_LABEL = "3D LUT for Resolve, Premiere, ffmpeg"
MAX_STEPS = 200
PREVIEW_EVERY = 5  # the optimisation shows its current result every this many steps
MIN_SIDE = 16  # px: smaller photos are refused (a patch grid of 1/16 of the side needs at least one patch)
MAX_ENCODINGS = 4  # predictions kept for the strength slider and Inspect (each holds its full-resolution photo)
MAX_PREVIEWS = 8  # downscaled photos kept for the click views
MAX_SESSIONS = 32  # sessions whose result files are kept on disk
SESSION_TTL_S = 3600  # a session's result is forgotten after an hour unused (or an hour after its tab closed)
DELETE_CACHE = (3600, 86400)  # Gradio's cached uploads and views: every hour, delete those older than a day
FRESH_OUTPUTS = 12  # outputs of Handlers.fresh_views: result (4), clicks (4), region editors (2), LUT, Inspect
LOCAL_SESSION = "local"  # the session of direct calls (no Gradio request)
INPUT_HEIGHT, VIEW_HEIGHT, RESULT_HEIGHT, EXAMPLES_HEIGHT, THUMB_SIDE = 220, 190, 440, 120, 160
CURVE_HEIGHT = 170
MIN_AXIS_STEPS = 10  # the curve's x axis spans the run's steps, at least this many (integer ticks)
EXAMPLE_COLUMNS = 5  # thumbnail width: a fifth of the column
OPTIMIZE_MODES = [("The whole look at once", "code"), ("Region by region (may show artifacts)", "maps")]
CLICKS_HELP = (
    "The clicks as JSON: {\"actions\": [ACTION, ...], \"pending\": null}, each ACTION either "
    "{\"source\": [x, y], \"reference\": [x, y]} (a pair: the photo's region at source takes the colour of the "
    "reference's region at reference) or {\"keep\": [x, y]} (a region of the photo that keeps its colour); x, y "
    "are fractions of the image's width and height in [0, 1], from its top-left corner. JSON schema: "
    '{"type": "object", "properties": {"actions": {"type": "array", "maxItems": %d, "items": {"oneOf": ['
    '{"type": "object", "required": ["source", "reference"], "properties": {"source": {"$ref": "#/point"}, '
    '"reference": {"$ref": "#/point"}}}, {"type": "object", "required": ["keep"], "properties": {"keep": '
    '{"$ref": "#/point"}}}]}}, "pending": {"oneOf": [{"type": "null"}, {"$ref": "#/point"}]}}, "point": '
    '{"type": "array", "items": {"type": "number", "minimum": 0, "maximum": 1}, "minItems": 2, "maxItems": 2}}.'
    % MAX_ACTIONS)

INTRO = ("## Re-colour a photo like a reference photo\nEach region of your photo takes the colours of the matching "
         "region of the reference (sky to its sky, foliage to its foliage), the rest its overall look. Upload both "
         "or pick an example and press **Re-colour**; if the match is wrong, use **Point and click** or **Paint "
         "regions**.")
UNTRAINED = ("**⚠ untrained model**: no trained checkpoint was found, so this demo runs a randomly initialised "
             "pipeline. Results stay close to the unchanged photo; the app itself works.")
ABOUT = """*Latent-Guided Exemplar-Based Image Re-Colorization* (Yang, Xu, Fan, WACV 2024); "supp." is its
supplementary material.
- **Re-colour**: the W-predictor P_W maps source and reference to latent maps W = (W1, W2, W3) that modulate the
  generator G'; the hard cross-attention A_C matches source and reference patches.
- **Strength** is α in W' = W0S + α (W − W0S) (supp. eq. 3): 0 = the source's look, 1 = the prediction.
- **Point and click** is the user-guided correspondence of supp. C.6 (eq. 2): a pair sets A_C(r, s) = 1, a keep point
  A_U(s, s) = 1, and the hard-masked self-attention A_S spreads them to similar regions.
- **Paint regions** is the two-step correspondence of supp. C.5 (eq. 1).
- **Match the overall look** is online stylization (supp. C.7): Adam on the 1-D code w ("the whole look at once")
  or on the maps W ("region by region") to minimise the w0 loss (main eq. 2), the distance between the
  self-reconstruction codes w0 of the result and the reference ("difference to the reference's look").
- **Inspect** shows the PCA of W1, W2, W3 (three principal components as RGB, supp. C.9) and the correspondence.
"""


@dataclass(frozen=True)
class Shown:
    """A session's ``gr.State``: its id and the cache key of the result on screen (None: no result)."""

    session: str
    key: str | None = None


def session_of(request: gr.Request | None) -> str:
    return getattr(request, "session_hash", None) or LOCAL_SESSION


def photo_path(photo) -> str | None:
    """An image input's raw value (a FileData dict, as events get it with preprocess=False) or a path -> path."""
    return photo.get("path") if isinstance(photo, dict) else None if photo is None else str(photo)


def shrink(image: PIL.Image.Image) -> PIL.Image.Image:
    """A copy with long side <= PREVIEW_SIDE."""
    small = image.copy()
    small.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE), PIL.Image.LANCZOS)
    return small


def normalized(index, size: tuple[int, int]) -> tuple[float, float]:
    """Click position [x, y] in pixels of an image of ``size`` (W, H) -> (x, y) in [0, 1] (pixel centres)."""
    return min((index[0] + 0.5) / size[0], 1.0), min((index[1] + 0.5) / size[1], 1.0)


def check_strength(strength) -> float:
    """The slider's value as the pipeline's alpha, refused up front in the UI's words."""
    try:
        return check_alpha(strength)
    except ValueError:
        raise ValueError(f"The strength must be a number from {ALPHA_RANGE[0]:g} to {ALPHA_RANGE[1]:g}, "
                         f"got {strength!r}.") from None


def check_steps(steps) -> int:
    """The optimisation's number of steps: a whole number from 1 to MAX_STEPS."""
    if isinstance(steps, bool) or not isinstance(steps, (int, float)) or not 1 <= steps <= MAX_STEPS \
            or steps != int(steps):
        raise ValueError(f"The number of steps must be a whole number from 1 to {MAX_STEPS}, got {steps!r}.")
    return int(steps)


def check_mode(mode) -> str:
    """The optimisation's mode: "code" / "maps" or the label the UI shows for it."""
    modes = {label: value for label, value in OPTIMIZE_MODES} | {value: value for _, value in OPTIMIZE_MODES}
    if mode not in modes:
        choices = ", ".join(repr(label) for label, _ in OPTIMIZE_MODES)
        raise ValueError(f"The mode must be {choices} (or 'code' / 'maps'), got {mode!r}.")
    return modes[mode]


def guidance_parts(guidance: Guidance | None) -> list[bytes | str]:
    """What makes a guidance different from another, for the encodings' cache key."""
    if guidance is None:
        return []
    masks = [b"" if m is None else repr(m.shape).encode() + np.packbits(m).tobytes()
             for m in (guidance.content_mask, guidance.reference_mask)]
    return [repr((guidance.pairs, guidance.keep)), *masks]


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


class Handlers:
    """The demo's event functions around one pipeline: photos in are raw uploads (FileData dicts or paths),
    images out are session file paths; problems are reported by ``report_errors``."""

    def __init__(self, pipe: RecolorPipeline, files_root: Path | None = None, max_encodings: int = MAX_ENCODINGS,
                 input_roots: tuple[Path, ...] | None = None):
        self.pipe = pipe
        # where photos may be read from: Gradio's upload folder (what clients uploaded) and the examples; a client
        # controls every field it sends, so a path anywhere else is refused whether or not it exists
        roots = input_roots or (Path(get_upload_folder()), EXAMPLES_DIR)
        self.input_roots = tuple(Path(root).resolve() for root in roots)
        self.encodings = LRUCache(max_encodings)  # content key -> RecolorLatents
        self.previews = LRUCache(MAX_PREVIEWS)  # content key -> downscaled photo
        self.files = SessionFiles(files_root or Path(get_upload_folder()) / "recolor_demo", MAX_SESSIONS)
        self.stopping: set[str] = set()  # sessions whose optimisation should stop

    # ----- photos, encodings and results -----

    def uploaded(self, photo, name: str) -> Path:
        """The file of an uploaded photo (a FileData dict or a path): only a file inside ``input_roots``, with
        the same message for a path outside them whether or not it exists on the server."""
        path = photo_path(photo)
        if not path:
            raise ValueError(f"Upload a {name} first.")
        resolved = Path(path).resolve()
        if not any(resolved.is_relative_to(root) for root in self.input_roots) or not resolved.is_file():
            raise ValueError(f"The {name} is not a file uploaded to this demo: upload it again.")
        return resolved

    def load(self, photo, name: str) -> PIL.Image.Image:
        """An uploaded photo, checked by the pipeline's rules and at least MIN_SIDE px on each side; the ValueError
        names the problem and the file in the user's words."""
        path = self.uploaded(photo, name)
        shown = (photo.get("orig_name") if isinstance(photo, dict) else None) or path.name
        try:
            image = self.pipe.prepare(path, name)[0]
        except ValueError as err:
            message = str(err).replace(str(path), str(shown))
            message = re.sub(r" \(max_pixels;.*\)$", ": make it smaller and upload it again.", message)
            raise ValueError(message) from None
        if min(image.size) < MIN_SIDE:
            raise ValueError(f"The {name} {shown} is {image.width}x{image.height} pixels: photos need at least "
                             f"{MIN_SIDE} pixels on each side.")
        return image

    def photo_key(self, photo, name: str) -> str:
        """The content hash of an uploaded photo's file (a missing or unreadable one raises ``load``'s error)."""
        try:
            return content_key(self.uploaded(photo, name).read_bytes())
        except OSError:
            self.load(photo, name)
            raise

    def painted_mask(self, editor: dict | None, name: str) -> np.ndarray | None:
        """A region editor's value -> (H, W) bool mask of what is painted on any layer (the library's one mask
        rule), or None if nothing is. Layers are uploads (FileData dicts or paths, checked as photos are) or PIL
        images, decoded by the library's checked loader: the pixel limit holds before anything is decoded."""
        if editor is not None and not isinstance(editor, dict):
            raise ValueError(f"The {name} must be an image editor's value, got {type(editor).__name__}.")
        mask = None
        for layer in (editor or {}).get("layers") or []:
            image = layer if isinstance(layer, PIL.Image.Image) else self.uploaded(layer, name)
            painted = load_mask(image, name, self.pipe.config.max_pixels)
            mask = painted if mask is None else mask | painted
        return mask if mask is not None and mask.any() else None

    def preview(self, photo, name: str) -> PIL.Image.Image:
        """The photo downscaled for the screen (cached by content)."""
        key = self.photo_key(photo, name)
        image = self.previews.get(key)
        if image is None:
            image = shrink(self.load(photo, name))
            self.previews.put(key, image)
        return image

    def encode(self, source, reference, guidance: Guidance | None = None) -> tuple[str, RecolorLatents, str]:
        """(cache key, latents, note): the predictor's output for these photos and guidance, from the cache when
        the same inputs were encoded before."""
        key = content_key(self.photo_key(source, "source photo"), self.photo_key(reference, "reference photo"),
                          *guidance_parts(guidance))
        latents = self.encodings.get(key)
        if latents is not None:
            return key, latents, "Same photos and settings as before: reused that prediction. "
        source, reference = self.load(source, "source photo"), self.load(reference, "reference photo")
        start = time.perf_counter()
        guide = None if guidance is None else guidance.as_guide(source.size, reference.size)
        latents = self.pipe.encode(source, reference, guide=guide)
        self.encodings.put(key, latents)
        return key, latents, f"Predicted in {time.perf_counter() - start:.2f} s. "

    def on_screen(self, shown: Shown | None) -> RecolorLatents | None:
        """The latents of the session's result on screen; None if there is none, an error if it was dropped."""
        if shown is None or shown.key is None:
            return None
        latents = self.encodings.get(shown.key)
        if latents is None:
            raise ValueError(f"This result is no longer in memory (the demo keeps the last {self.encodings.capacity}"
                             "); press the action button again.")
        return latents

    def show(self, key: str, latents: RecolorLatents, strength: float, request: gr.Request | None, note: str = ""):
        """Render at ``strength`` -> (state, (before, after) preview paths, full-resolution PNG path, status)."""
        start = time.perf_counter()
        result = self.pipe.decode(latents, strength)[0]
        seconds = time.perf_counter() - start
        session = session_of(request)
        compare = self.preview_files(latents, result, session)
        download = self.files.save(session, DOWNLOAD_NAME, result, **DOWNLOAD_OPTIONS)
        status = f"{note}Rendered {result.width}x{result.height} at strength {strength:g} in {seconds:.2f} s."
        return Shown(session, key), compare, download, status

    def preview_files(self, latents: RecolorLatents, result: PIL.Image.Image, session: str) -> tuple[str, str]:
        """The before / after previews of a result as session files."""
        return (self.files.save(session, "before.jpg", shrink(latents.contents[0]), **PREVIEW_OPTIONS),
                self.files.save(session, "after.jpg", shrink(result), **PREVIEW_OPTIONS))

    def lut(self, latents: RecolorLatents, result: PIL.Image.Image, strength: float, session: str) -> tuple:
        """The result as a 3D LUT file named with its strength (``recolor_hf.lut``) -> (the LUT box's update: the
        file and a label with the strength, status)."""
        path = self.files.new_path(session, LUT_NAME.format(strength), replaces=LUT_FILES)
        error = export_cube(latents.contents[0], result, path)
        box = gr.update(value=str(path), label=f"{LUT_LABEL}, strength {strength:g}")  # the box shortens the name
        status = (f"3D LUT ({LUT_SIZE}x{LUT_SIZE}x{LUT_SIZE}) of the result at strength {strength:g}: on average "
                  f"{error:.1f} colour-difference units (CIEDE2000; about 1 is just visible) from the result, which "
                  "varies across the photo where a LUT applies one mapping to every pixel.")
        return box, status

    @report_errors()
    def export_lut(self, shown: Shown | None, strength: float, request: gr.Request = None) -> tuple:
        """The result on screen as a 3D LUT -> (.cube file path, status with its fit error)."""
        strength = check_strength(strength)
        latents = self.on_screen(shown)
        if latents is None:
            raise ValueError("Re-colour a photo first: the LUT is fitted to the result on screen.")
        return self.lut(latents, self.pipe.decode(latents, strength)[0], strength, session_of(request))

    def forget(self, shown: Shown | None) -> None:
        """``gr.State`` delete callback (the session ended or expired): drop its encoding and its files."""
        if shown is not None:
            self.encodings.pop(shown.key)
            self.files.close(shown.session)

    def view_files(self, session: str, kind: str, source: PIL.Image.Image | None,
                   reference: PIL.Image.Image | None) -> list[str | None]:
        """The two view images as fresh session files ``<kind>_source.jpg`` / ``<kind>_reference.jpg``. Returned as
        paths, not PIL images: Gradio saves a PIL output under its content hash, re-writing the same file in place
        when the same view is shown again, which cuts short a download of it already under way."""
        return [None if image is None else self.files.save(session, f"{kind}_{side}.jpg", image, **PREVIEW_OPTIONS)
                for image, side in ((source, "source"), (reference, "reference"))]

    def screen_photos(self, source, reference) -> list[PIL.Image.Image | None]:
        """Both photos downscaled for the screen (a missing one is None); a ValueError names an unreadable one."""
        return [None if photo is None else self.preview(photo, name)
                for photo, name in ((source, "source photo"), (reference, "reference photo"))]

    def editors(self, session: str, source: PIL.Image.Image | None, reference: PIL.Image.Image | None) -> list:
        """The region editors' values: each photo as the background of an unpainted editor (files of their own:
        the next click re-saves, and so deletes, the click views' files); a missing photo gives None and leaves
        that editor's file alone."""
        return [None if v is None else {"background": v, "layers": [], "composite": v}
                for v in self.view_files(session, "region", source, reference)]

    def fresh_views(self, source, reference, request: gr.Request | None) -> tuple:
        """New photos: no result, clicks, LUT or Inspect views; the photos in the click views and region editors.
        The photos are checked before anything of the session is deleted."""
        session, photos = session_of(request), self.screen_photos(source, reference)
        self.files.close(session)
        views = self.view_files(session, "view", *photos)
        status = "New photos: press **Re-colour** (or another tab's action)."
        return (None, None, None, status, Clicks().to_json(), *views, Clicks().summary(),
                *self.editors(session, *photos), gr.update(value=None, label=LUT_LABEL), None)

    def click_views(self, clicks: Clicks, source, reference, request: gr.Request | None) -> tuple:
        """(clicks as JSON, marked source view, marked reference view, summary)."""
        marked = draw_clicks(clicks, *self.screen_photos(source, reference))
        views = self.view_files(session_of(request), "view", *marked)
        return clicks.to_json(), *views, clicks.summary()

    # ----- events -----

    @report_errors(warn=True)
    def clear_source_region(self, source, request: gr.Request = None) -> dict | None:
        """The bin icon of the photo's region editor: the photo again, without paint."""
        return self.editors(session_of(request), self.screen_photos(source, None)[0], None)[0]

    @report_errors(warn=True)
    def clear_reference_region(self, reference, request: gr.Request = None) -> dict | None:
        """The bin icon of the reference's region editor: the reference again, without paint."""
        return self.editors(session_of(request), None, self.screen_photos(None, reference)[1])[1]

    def new_photos(self, source, reference, accepted: tuple | None, request: gr.Request = None) -> tuple:
        """An upload or a removed photo: a readable one clears the result and the clicks (outputs: the photos, the
        accepted photos' state, then ``fresh_views``'); an unreadable one is named in a warning, the photo boxes
        go back to the last accepted photos and nothing else changes."""
        try:
            views = self.fresh_views(source, reference, request)
        except ValueError as err:
            gr.Warning(str(err))
            previous = accepted or (None, None)
            return (*previous, gr.skip(), *(gr.skip(),) * FRESH_OUTPUTS)
        paths = (photo_path(source), photo_path(reference))
        return gr.skip(), gr.skip(), paths, *views

    @report_errors(warn=True)
    def use_example(self, evt: gr.SelectData, request: gr.Request = None) -> tuple:
        """A click on an example: its two photos, then as ``new_photos``."""
        if not isinstance(evt.index, int) or not 0 <= evt.index < len(EXAMPLES):
            raise ValueError(f"There is no example number {evt.index!r}.")
        source, reference = EXAMPLES[evt.index]
        return source, reference, (source, reference), *self.fresh_views(source, reference, request)

    @report_errors()
    def recolour(self, source, reference, strength: float, request: gr.Request = None):
        """Automatic correspondence -> (state, before/after, full-resolution PNG, status)."""
        strength = check_strength(strength)
        key, latents, note = self.encode(source, reference)
        return self.show(key, latents, strength, request, note)

    @report_errors()
    def set_strength(self, shown: Shown | None, strength: float, lut=None, request: gr.Request = None):
        """Re-render the result on screen at another strength from its cached latents (supp. eq. 3), no
        predictor run, and re-fit a LUT that was exported -> (before/after, full-resolution PNG, status, LUT box)."""
        strength = check_strength(strength)
        latents = self.on_screen(shown)
        if latents is None:
            return gr.skip(), gr.skip(), "Nothing to re-render yet: re-colour a photo first.", gr.skip()
        _, compare, download, status = self.show(shown.key, latents, strength, request)
        if lut is None:
            return compare, download, status, gr.skip()
        lut_box, _ = self.lut(latents, PIL.Image.open(download), strength, session_of(request))
        return compare, download, status, lut_box

    @report_errors(warn=True)
    def click_source(self, clicks: dict, mode: str, source, reference, evt: gr.SelectData,
                     request: gr.Request = None) -> tuple:
        """A click on the source view: starts a pair, or adds a keep point."""
        point = normalized(evt.index, self.preview(source, "source photo").size)
        return self.click_views(Clicks.from_json(clicks).click_source(point, mode), source, reference, request)

    @report_errors(warn=True)
    def click_reference(self, clicks: dict, source, reference, evt: gr.SelectData,
                        request: gr.Request = None) -> tuple:
        """A click on the reference view completes the pending pair."""
        point = normalized(evt.index, self.preview(reference, "reference photo").size)
        return self.click_views(Clicks.from_json(clicks).click_reference(point), source, reference, request)

    @report_errors(warn=True)
    def undo(self, clicks: dict, source, reference, request: gr.Request = None) -> tuple:
        return self.click_views(Clicks.from_json(clicks).undo(), source, reference, request)

    @report_errors(warn=True)
    def clear_clicks(self, source, reference, request: gr.Request = None) -> tuple:
        return self.click_views(Clicks(), source, reference, request)

    @report_errors()
    def guided(self, source, reference, clicks: dict, strength: float, request: gr.Request = None):
        """Re-colour with the clicked pairs and keep points (supp. eq. 2)."""
        strength = check_strength(strength)
        clicks = Clicks.from_json(clicks)
        if not clicks.actions and clicks.pending is None:
            raise ValueError("Click a region of the photo first (a pair or a keep point), then press the button.")
        key, latents, note = self.encode(source, reference, clicks.guidance())
        return self.show(key, latents, strength, request, note)

    @report_errors()
    def masks(self, source, reference, source_region: dict, reference_region: dict, clicks: dict, strength: float,
              request: gr.Request = None):
        """Re-colour with the painted regions (supp. eq. 1), plus any clicks."""
        strength = check_strength(strength)
        masks = (self.painted_mask(source_region, "painted source region"),
                 self.painted_mask(reference_region, "painted reference region"))
        if masks[0] is None and masks[1] is None:
            raise ValueError("Paint a region on the source photo and/or the reference first.")
        key, latents, note = self.encode(source, reference, Clicks.from_json(clicks).guidance(*masks))
        return self.show(key, latents, strength, request, note)

    def painted(self, accepted: tuple | None, source_region: dict, reference_region: dict, clicks: dict,
                strength: float, request: gr.Request = None):
        """The regions tab's button: ``masks`` on the session's accepted photos and the editors' preprocessed values
        (the browser sends a painted editor as blobs that only Gradio's preprocessing reads)."""
        return self.masks(*(accepted or (None, None)), source_region, reference_region, clicks, strength, request)

    @report_errors()
    def optimize(self, source, reference, mode: str, steps: int, strength: float, request: gr.Request = None):
        """Match the reference's overall look by optimisation (supp. C.7), a generator: yields the status and the
        curve after every step and the current result every PREVIEW_EVERY steps, then the result of the closest
        step with the curve. ``stop`` ends it early. ``mode``: "code" / "maps" or their labels (OPTIMIZE_MODES).

        Outputs: (state, before/after, full-resolution PNG, status, curve).
        """
        strength, session = check_strength(strength), session_of(request)
        steps, mode = check_steps(steps), check_mode(mode)
        self.stopping.discard(session)
        start = time.perf_counter()
        optimizer = LatentOptimizer(self.pipe, self.load(source, "source photo"),
                                    self.load(reference, "reference photo"), mode)
        losses = []
        for loss in optimizer.run(steps, should_stop=lambda: session in self.stopping):
            losses.append(loss)
            frame = pd.DataFrame({"step": range(1, len(losses) + 1), "difference": losses})
            curve = gr.update(value=frame, x_lim=(1, max(steps, MIN_AXIS_STEPS)))
            status = f"Step {len(losses)} of {steps}: difference to the reference's look {loss:.4f}."
            if len(losses) % PREVIEW_EVERY == 0:  # the current result, on screen only
                current = optimizer.latents(best=False)
                compare = self.preview_files(current, self.pipe.decode(current, strength)[0], session)
                yield gr.skip(), compare, gr.skip(), status, curve
            else:
                yield gr.skip(), gr.skip(), gr.skip(), status, curve
        self.stopping.discard(session)
        if not losses:
            raise ValueError("Stopped before the first step: nothing to show.")
        ran = f"Stopped at step {len(losses)} of {steps}" if len(losses) < steps else f"Ran {steps} steps"
        note = (f"{ran} in {time.perf_counter() - start:.1f} s; showing the closest, step {optimizer.best_step + 1} "
                f"(difference {optimizer.best_loss:.4f}). ")
        key = uuid.uuid4().hex  # an optimised result is never reused, only re-rendered
        self.encodings.put(key, optimizer.latents(best=True))
        yield *self.show(key, self.encodings.get(key), strength, request, note), frame  # the axis stays

    def stop(self, request: gr.Request = None) -> None:
        """Ask this session's running optimisation to stop after its current step."""
        self.stopping.add(session_of(request))

    @report_errors()
    def inspect(self, shown: Shown | None, reference, request: gr.Request = None) -> list:
        """The colour maps W1, W2, W3 (PCA, supp. C.9) and the correspondence, as (image file, caption) pairs."""
        latents = self.on_screen(shown)
        if latents is None:
            raise ValueError("Nothing to inspect yet: re-colour a photo first.")
        reference_low = self.pipe.to_working([self.load(reference, "reference photo")])[0]
        width, height = latents.contents[0].size
        scales = ("Coarse", "Medium", "Fine")
        views = [(image, f"{scale} colour map") for scale, image in zip(scales, pca_images(latents.maps,
                                                                                            width / height))]
        match = correspondence_image(latents.correspondence, latents.content_low[0], reference_low, width / height)
        views.append((match, "The reference colour each part of the photo takes"))
        return [(self.files.save(session_of(request), f"inspect_{number}.png", image), caption)
                for number, (image, caption) in enumerate(views)]


def example_thumbnails() -> list[tuple[PIL.Image.Image, str]]:
    """Each example pair as one square thumbnail, the photo above its reference, captioned with its name."""
    thumbnails = []
    for source, reference in EXAMPLES:
        sheet = PIL.Image.new("RGB", (THUMB_SIDE, THUMB_SIDE))
        for row, path in enumerate((source, reference)):
            half = PIL.ImageOps.fit(PIL.Image.open(path).convert("RGB"), (THUMB_SIDE, THUMB_SIDE // 2))
            sheet.paste(half, (0, row * THUMB_SIDE // 2))
        thumbnails.append((sheet, Path(source).stem.removesuffix("_source")))
    return thumbnails


def photo_inputs() -> SimpleNamespace:
    """The source and reference uploads and the examples row."""
    with gr.Row():
        source = gr.Image(type="filepath", image_mode=None, height=INPUT_HEIGHT, label="Source photo",
                          elem_id="source")
        reference = gr.Image(type="filepath", image_mode=None, height=INPUT_HEIGHT, label="Reference photo",
                             elem_id="reference")
    gr.Markdown("**Examples** (research use only): click one to load it.")
    examples = gr.Gallery(example_thumbnails(), columns=EXAMPLE_COLUMNS, height=EXAMPLES_HEIGHT, fit_columns=False,
                          allow_preview=False, object_fit="contain", elem_id="examples", show_label=False,
                          label="Examples", buttons=[])
    return SimpleNamespace(source=source, reference=reference, examples=examples)


def clicks_tab() -> SimpleNamespace:
    """Point and click: the two click views, pair / keep, undo, clear and the guided run."""
    gr.Markdown("**Pair**: click a region of the photo, then the reference region whose colour it should take. "
                "**Keep**: click regions that must keep their colour. Similar regions follow the clicked ones.")
    text = gr.Markdown(Clicks().summary(), elem_id="clicks_summary")
    with gr.Row():
        source_view = gr.Image(type="filepath", interactive=False, show_label=False, buttons=[], height=VIEW_HEIGHT,
                               elem_id="source_view")
        reference_view = gr.Image(type="filepath", interactive=False, show_label=False, buttons=[],
                                  height=VIEW_HEIGHT, elem_id="reference_view")
    with gr.Row(equal_height=True):
        mode = gr.Radio([("Pair", "pair"), ("Keep", "keep")], value="pair", show_label=False, scale=2,
                        container=False)
        undo = gr.Button("Undo", scale=1)
        clear = gr.Button("Clear", scale=1)
        run = gr.Button("Re-colour with clicks", variant="primary", scale=2)
    return SimpleNamespace(source_view=source_view, reference_view=reference_view, mode=mode, undo=undo,
                           clear=clear, run=run, text=text)


def regions_tab() -> SimpleNamespace:
    """Paint regions: one editor per photo and the masked run."""
    gr.Markdown("Paint a region of the photo and the region of the reference whose colours it should take: the "
                "painted part of the photo takes the painted part's colours as a whole, the rest is re-coloured as "
                "usual. Clicks from *Point and click* apply too. The bin icon clears the paint.")
    brush = gr.Brush(colors=["#ff3b30"], color_mode="fixed")
    editor = dict(type="pil", sources=(), transforms=(), layers=False, brush=brush, height=VIEW_HEIGHT)
    with gr.Row():
        source_region = gr.ImageEditor(label="Photo region", elem_id="source_region", **editor)
        reference_region = gr.ImageEditor(label="Reference region", elem_id="reference_region", **editor)
    run = gr.Button("Re-colour with regions", variant="primary")
    api = gr.Button(visible=False)  # the /masks endpoint: raw editor values, as API clients send them
    return SimpleNamespace(source_region=source_region, reference_region=reference_region, run=run, api=api)


def look_tab() -> SimpleNamespace:
    """Match the overall look: the optimisation's mode, steps, start / stop and its loss curve."""
    gr.Markdown("No matching of regions: the model adjusts the whole photo, step by step, until its overall look "
                "is as close as it gets to the reference's.")
    with gr.Row(equal_height=True):
        mode = gr.Radio(OPTIMIZE_MODES, value="code", label="Fine-tune", scale=2)
        steps = gr.Slider(1, MAX_STEPS, value=20, step=1, precision=0, label="Steps", elem_id="steps", scale=2)
        with gr.Column(scale=1, min_width=120):
            run = gr.Button("Match the look", variant="primary", size="sm")
            stop = gr.Button("Stop", variant="stop", size="sm")
    curve = gr.LinePlot(x="step", y="difference", height=CURVE_HEIGHT, elem_id="curve", x_axis_format="d",
                        label="Difference to the reference's look (lower is closer)")
    return SimpleNamespace(mode=mode, steps=steps, run=run, stop=stop, curve=curve)


def inspect_tab() -> SimpleNamespace:
    """Inspect: the colour maps and the correspondence of the result on screen."""
    gr.Markdown("What the model sees: its colour maps at three scales (similar colours = similar settings) and, "
                "for each part of the photo, the reference colour it takes.")
    run = gr.Button("Show what the model matched")
    gallery = gr.Gallery(columns=4, object_fit="contain", label="Colour maps and matches", elem_id="inspect")
    return SimpleNamespace(run=run, gallery=gallery)


def result_column() -> SimpleNamespace:
    """Before / after, the strength slider, the status line and the downloads."""
    compare = gr.ImageSlider(type="filepath", height=RESULT_HEIGHT, label="Before and after", elem_id="result")
    strength = gr.Slider(0, 2, value=1.0, step=0.05, label="Strength", elem_id="strength",
                         info="0 keeps the photo's colours, 1 is the full re-colouring, 2 exaggerates it")
    status = gr.Markdown(label="Status", elem_id="status")
    with gr.Row(elem_id="downloads"):
        download = gr.File(label="Full-resolution PNG")
        with gr.Column():
            export = gr.Button("Export the look as a 3D LUT (.cube)", size="sm")
            lut = gr.File(label=LUT_LABEL, elem_id="lut", height=LUT_BOX_HEIGHT, interactive=False)
    return SimpleNamespace(compare=compare, strength=strength, status=status, download=download, export=export,
                           lut=lut)


def wire(h: Handlers, shown: gr.State, accepted: gr.State, clicks: gr.JSON, photos: SimpleNamespace,
         tabs: SimpleNamespace, out: SimpleNamespace) -> None:
    """Connect the components to the handlers: model work queued one job at a time, with an ``api_name`` each."""
    raw = dict(preprocess=False)  # handlers read the uploads themselves (see the module docstring)
    model = dict(concurrency_limit=1, concurrency_id="model", show_progress_on=[out.status])
    heavy = dict(**model, **raw)
    private = dict(api_visibility="private", **raw)
    inputs, point = [photos.source, photos.reference], tabs.clicks
    result = [shown, out.compare, out.download, out.status]
    click_outputs = [clicks, point.source_view, point.reference_view, point.text]
    regions = [tabs.regions.source_region, tabs.regions.reference_region]
    cleared = result + click_outputs + regions + [out.lut, tabs.inspect.gallery]
    for photo in inputs:
        photo.upload(h.new_photos, inputs + [accepted], inputs + [accepted] + cleared, **private)
        photo.clear(h.new_photos, inputs + [accepted], inputs + [accepted] + cleared, **private)
    photos.examples.select(h.use_example, None, inputs + [accepted] + cleared, **private)
    for photo, region, restore in zip(inputs, regions, (h.clear_source_region, h.clear_reference_region)):
        region.clear(restore, [photo], region, **private)  # the editor's bin icon: the photo back, unpainted
    out.strength.change(h.set_strength, [shown, out.strength, out.lut], result[1:] + [out.lut], api_name="strength",
                        api_description="Re-render the result on screen at another strength (0 to 2), without "
                        "running the model again; a LUT exported before is fitted again.",
                        trigger_mode="always_last", **heavy)
    tabs.recolour.click(h.recolour, inputs + [out.strength], result, api_name="recolour", **heavy)
    point.source_view.select(h.click_source, [clicks, point.mode, *inputs], click_outputs, **private)
    point.reference_view.select(h.click_reference, [clicks, *inputs], click_outputs, **private)
    point.undo.click(h.undo, [clicks, *inputs], click_outputs, **private)
    point.clear.click(h.clear_clicks, inputs, click_outputs, **private)
    point.run.click(h.guided, inputs + [clicks, out.strength], result, api_name="guided",
                    api_description=f"Re-colour with clicked pairs and keep points. {CLICKS_HELP}", **heavy)
    tabs.regions.run.click(h.painted, [accepted] + regions + [clicks, out.strength], result, api_visibility="private",
                           **model)  # preprocessed: Gradio reads the editors' blobs
    tabs.regions.api.click(h.masks, inputs + regions + [clicks, out.strength], result, api_name="masks",
                           api_description="Re-colour with painted regions (image editor values: what is painted "
                           f"on any layer) and optional clicks. {CLICKS_HELP}", **heavy)
    look = tabs.look
    look.run.click(h.optimize, inputs + [look.mode, look.steps, out.strength], result + [look.curve],
                   api_name="optimize", **heavy)
    look.stop.click(h.stop, None, None, api_name="stop", concurrency_limit=None)
    tabs.inspect.run.click(h.inspect, [shown, photos.reference], tabs.inspect.gallery, api_name="inspect", **heavy)
    out.export.click(h.export_lut, [shown, out.strength], [out.lut, out.status], api_name="export_lut", **heavy)


def build_demo(pipe: RecolorPipeline, untrained: bool = False, handlers: Handlers | None = None,
               session_ttl: float = SESSION_TTL_S) -> gr.Blocks:
    """The Gradio app around ``pipe``: inputs and tabs on the left, the result on the right (queued, one model
    job at a time)."""
    h = handlers or Handlers(pipe)
    with gr.Blocks(title="recolor_hf — re-colour a photo like a reference", delete_cache=DELETE_CACHE) as demo:
        gr.Markdown(INTRO)
        if untrained:
            gr.Markdown(UNTRAINED)
        # a function, not the bound method: Gradio deep-copies the app's config (the pipeline with it) per page load
        shown = gr.State(None, time_to_live=session_ttl, delete_callback=lambda value: h.forget(value))
        accepted = gr.State(None)  # the paths of the last accepted (source, reference): a refused upload restores them
        clicks = gr.JSON(Clicks().to_json(), visible=False, label="Clicks")
        with gr.Row(equal_height=False):
            with gr.Column(scale=1):
                photos = photo_inputs()
                with gr.Tabs():
                    with gr.Tab("Re-colour"):
                        recolour = gr.Button("Re-colour", variant="primary")
                    with gr.Tab("Point and click"):
                        point = clicks_tab()
                    with gr.Tab("Paint regions", render_children=True):  # editors take new photos while hidden
                        regions = regions_tab()
                    with gr.Tab("Match the overall look"):
                        look = look_tab()
                    with gr.Tab("Inspect"):
                        inspector = inspect_tab()
            with gr.Column(scale=1):
                out = result_column()
        with gr.Accordion("About the method", open=False):
            gr.Markdown(ABOUT)
        tabs = SimpleNamespace(recolour=recolour, clicks=point, regions=regions, look=look, inspect=inspector)
        wire(h, shown, accepted, clicks, photos, tabs, out)
    return demo.queue(default_concurrency_limit=1)


def load_pipe(checkpoint: Path = DEFAULT_CHECKPOINT) -> tuple[RecolorPipeline, bool]:
    """The pipeline folder ``checkpoint``, or an untrained ``small`` one (second value True) when it is missing."""
    try:
        return RecolorPipeline.from_pretrained(checkpoint), False
    except ValueError as err:
        print(f"{err}\nFalling back to an untrained 'small' pipeline.")
        return RecolorPipeline.from_preset("small"), True


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Serve the recolor_hf Gradio demo.")
    parser.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT,
                        help="pipeline folder (default: %(default)s)")
    build_demo(*load_pipe(parser.parse_args().checkpoint)).launch(max_file_size="50mb")
