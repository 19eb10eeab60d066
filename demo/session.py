"""The demo's state. ``Demo`` is what every session shares: the pipeline, the photos, the predictions (an LRU cache
keyed by the inputs' hash, so that a session's ``gr.State`` holds only a key), the sessions' files and their running
optimisations. ``Session`` is one browser tab's side of it: it renders results and views into the tab's files."""

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import numpy as np
import PIL.Image
from gradio.utils import get_upload_folder

from recolor_hf import RecolorLatents, RecolorPipeline
from recolor_hf.guidance import Guidance
from recolor_hf.lut import LUT_SIZE, export_cube
from recolor_hf.visualize import correspondence_image, pca_images

from .clicks import Clicks, draw_clicks
from .photos import EXAMPLES_DIR, Photos, shrink
from .store import LRUCache, SessionFiles, content_key

MAX_ENCODINGS = 4  # predictions kept for the strength slider and Inspect (each holds its full-resolution photo)
MAX_SESSIONS = 32  # sessions whose result files are kept on disk
LOCAL_SESSION = "local"  # the session of direct calls (no Gradio request)
PREVIEW_OPTIONS = {"quality": 92}  # on-screen JPEGs
DOWNLOAD_NAME, DOWNLOAD_OPTIONS = "recoloured.png", {"compress_level": 1}
LUT_NAME, LUT_FILES = "look_strength_{:g}.cube", "look_strength_*.cube"
SCALES = ("Coarse", "Medium", "Fine")  # the Inspect captions of W1, W2, W3
OPTIMISED = "optimised-"  # the key prefix of optimised results, which are never reused, only re-rendered


@dataclass(frozen=True)
class Shown:
    """A session's ``gr.State``: its id and the cache key of the result on screen (None: no result)."""

    session: str
    key: str | None = None


def guidance_parts(guidance: Guidance | None) -> list[bytes | str]:
    """What makes a guidance different from another, for the predictions' cache key."""
    if guidance is None:
        return []
    masks = [b"" if m is None else repr(m.shape).encode() + np.packbits(m).tobytes()
             for m in (guidance.content_mask, guidance.reference_mask)]
    return [repr((guidance.pairs, guidance.keep)), *masks]


class Demo:
    """What all sessions share, around one pipeline (see the module docstring)."""

    def __init__(self, pipe: RecolorPipeline, files_root: Path | None = None, max_encodings: int = MAX_ENCODINGS,
                 input_roots: tuple[Path, ...] | None = None, max_sessions: int = MAX_SESSIONS):
        self.pipe = pipe
        self.photos = Photos(pipe, input_roots or (Path(get_upload_folder()), EXAMPLES_DIR))
        self.encodings = LRUCache(max_encodings)  # content key -> RecolorLatents
        self.files = SessionFiles(files_root or Path(get_upload_folder()) / "recolor_demo", max_sessions)
        self.running: dict[str, threading.Event] = {}  # session id -> the stop signal of its optimisation

    def session(self, request: gr.Request | None) -> "Session":
        """The session of an event's request (direct calls: LOCAL_SESSION)."""
        return Session(self, getattr(request, "session_hash", None) or LOCAL_SESSION)

    def encode(self, content, reference, guidance: Guidance | None = None,
               fallback: str = "global") -> tuple[str, RecolorLatents, str]:
        """(cache key, latents, note): the predictor's output for these photos, guidance and ``fallback`` (the
        pipeline's), from the cache when the same inputs were encoded before."""
        key = content_key(self.photos.key(content, "content photo"), self.photos.key(reference, "reference photo"),
                          fallback, *guidance_parts(guidance))
        latents = self.encodings.get(key)
        if latents is not None:
            return key, latents, "Same photos and settings as before: reused that prediction. "
        content, reference = self.photos.load(content, "content photo"), self.photos.load(reference, "reference photo")
        start = time.perf_counter()
        guide = None if guidance is None else guidance.as_guide(content.size, reference.size)
        latents = self.pipe.encode(content, reference, guide=guide, fallback=fallback)
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

    def forget(self, shown: Shown | None) -> None:
        """``gr.State`` delete callback (the session ended or expired): drop its files, and its prediction if it was
        an optimised one (a prediction from photos may be another session's too; the LRU cache bounds those)."""
        if shown is not None:
            if shown.key is not None and shown.key.startswith(OPTIMISED):
                self.encodings.pop(shown.key)
            self.files.close(shown.session)


@dataclass(frozen=True)
class Session:
    """One session of ``demo``: photos in are raw uploads, images out are paths of the session's files (fresh ones:
    Gradio re-writes a PIL output in place when shown again, which cuts short a download of it under way)."""

    demo: Demo
    id: str

    def save(self, name: str, image: PIL.Image.Image, **options) -> str:
        return self.demo.files.save(self.id, name, image, **options)

    def show(self, key: str, latents: RecolorLatents, strength: float, note: str = "") -> tuple:
        """Render at ``strength`` -> (state, (before, after) preview paths, full-resolution PNG path, status)."""
        start = time.perf_counter()
        result = self.demo.pipe.decode(latents, strength)[0]
        seconds = time.perf_counter() - start
        compare = self.previews(latents, result)
        download = self.save(DOWNLOAD_NAME, result, **DOWNLOAD_OPTIONS)
        status = f"{note}Rendered {result.width}x{result.height} at strength {strength:g} in {seconds:.2f} s."
        return Shown(self.id, key), compare, download, status

    def previews(self, latents: RecolorLatents, result: PIL.Image.Image) -> tuple[str, str]:
        """The before / after previews of a result."""
        return (self.save("before.jpg", shrink(latents.contents[0]), **PREVIEW_OPTIONS),
                self.save("after.jpg", shrink(result), **PREVIEW_OPTIONS))

    def lut(self, latents: RecolorLatents, result: PIL.Image.Image, strength: float) -> tuple:
        """The result as a 3D LUT file named with its strength (``recolor_hf.lut``) -> (its path, status)."""
        path = self.demo.files.new_path(self.id, LUT_NAME.format(strength), replaces=LUT_FILES)
        error = export_cube(latents.contents[0], result, path)
        status = (f"3D LUT ({LUT_SIZE}x{LUT_SIZE}x{LUT_SIZE}) of the result at strength {strength:g}: on average "
                  f"{error:.1f} colour-difference units (CIEDE2000; about 1 is just visible) from the result, which "
                  "varies across the photo where a LUT applies one mapping to every pixel.")
        return str(path), status

    def views(self, kind: str, content: PIL.Image.Image | None, reference: PIL.Image.Image | None) -> list:
        """The two view images as files ``<kind>_content.jpg`` / ``<kind>_reference.jpg`` (None for a missing one)."""
        return [None if image is None else self.save(f"{kind}_{side}.jpg", image, **PREVIEW_OPTIONS)
                for image, side in ((content, "content"), (reference, "reference"))]

    def editors(self, content: PIL.Image.Image | None, reference: PIL.Image.Image | None) -> list:
        """The region editors' values: each photo as the background of an unpainted editor (files of their own:
        the next click re-saves, and so deletes, the click views' files); a missing photo gives None."""
        return [None if v is None else {"background": v, "layers": [], "composite": v}
                for v in self.views("region", content, reference)]

    def fresh_views(self, content, reference) -> tuple:
        """New photos: no result (the session's state without a key, so that its end still deletes the views'
        files), clicks, LUT or Inspect views; the photos in the click views and region editors.
        The photos are checked before anything of the session is deleted. Outputs: see ``events.FRESH_OUTPUTS``."""
        photos = self.demo.photos.screen(content, reference)
        self.demo.files.close(self.id)
        status = "New photos: press **Re-colour** (or another tab's action)."
        return (Shown(self.id), None, None, status, Clicks().to_json(), *self.views("view", *photos),
                Clicks().summary(), *self.editors(*photos), None, None)

    def click_views(self, clicks: Clicks, content, reference) -> tuple:
        """(clicks as JSON, marked content view, marked reference view, summary)."""
        marked = draw_clicks(clicks, *self.demo.photos.screen(content, reference))
        return clicks.to_json(), *self.views("view", *marked), clicks.summary()

    def inspect(self, latents: RecolorLatents, reference) -> list[tuple[str, str]]:
        """The colour maps W1, W2, W3 (PCA, supp. C.9) and the correspondence, as (image file, caption) pairs."""
        photo = self.demo.photos.load(reference, "reference photo")
        reference_low = self.demo.pipe.prepare(photo, "reference").working[0]
        width, height = latents.contents[0].size
        views = [(image, f"{scale} colour map") for scale, image in zip(SCALES, pca_images(latents.maps,
                                                                                           width / height))]
        match = correspondence_image(latents.correspondence, latents.content_low[0], reference_low, width / height)
        views.append((match, "The reference colour each part of the photo takes"))
        return [(self.save(f"inspect_{number}.png", image), caption) for number, (image, caption) in enumerate(views)]
