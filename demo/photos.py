"""The photos a client names: only files uploaded to this demo (or its examples), checked by the pipeline's rules,
their content hashes, their downscaled previews and the masks painted on them."""

import io
import re
from pathlib import Path

import gradio as gr
import numpy as np
import PIL.Image

from recolor_hf import RecolorPipeline
from recolor_hf.image_io import check_size, load_mask

from .inputs import display_name, photo_path
from .store import LRUCache, content_key

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"
EXAMPLES = [[str(EXAMPLES_DIR / f"{name}_content.jpg"), str(EXAMPLES_DIR / f"{name}_reference.jpg")]
            for name in ("city", "mountain", "bedroom")]
PREVIEW_SIDE = 1024  # long side of on-screen images; the download keeps the full resolution
MIN_SIDE = 16  # px: smaller photos are refused (a patch grid of 1/16 of the side needs at least one patch)
MAX_PREVIEWS = 8  # downscaled photos kept for the click views
MAX_LAYERS = 8  # layers of a painted region read (an editor sends one; a client may send any list)


def shrink(image: PIL.Image.Image) -> PIL.Image.Image:
    """A copy with long side <= PREVIEW_SIDE."""
    small = image.copy()
    small.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE), PIL.Image.LANCZOS)
    return small


class Photos:
    """Photos in are raw uploads (FileData dicts or paths) read only from ``roots`` (Gradio's upload folder and the
    examples): a client controls every field it sends, so a path anywhere else is refused whether or not it
    exists."""

    def __init__(self, pipe: RecolorPipeline, roots: tuple[Path, ...]):
        self.pipe = pipe
        self.roots = tuple(Path(root).resolve() for root in roots)
        self.previews = LRUCache(MAX_PREVIEWS)  # content key -> downscaled photo

    def uploaded(self, photo, name: str) -> Path:
        """The file of an uploaded photo: only a file inside ``roots``, with the same message for a path outside
        them whether or not it exists on the server."""
        path = photo_path(photo)
        if not path:
            raise ValueError(f"Upload a {name} first.")
        resolved = Path(path).resolve()
        if not any(resolved.is_relative_to(root) for root in self.roots) or not resolved.is_file():
            raise ValueError(f"The {name} is not a file uploaded to this demo: upload it again.")
        return resolved

    def load(self, photo, name: str) -> PIL.Image.Image:
        """An uploaded photo, checked by the pipeline's rules and at least MIN_SIDE px on each side; the ValueError
        names the problem and the file in the user's words."""
        path = self.uploaded(photo, name)
        shown = display_name(photo, path)
        try:
            image = self.pipe.prepare(path, name).images[0]
        except ValueError as err:
            message = str(err).replace(str(path), shown)
            message = re.sub(r" \(max_pixels;.*\)$", ": make it smaller and upload it again.", message)
            raise ValueError(message) from None
        if min(image.size) < MIN_SIDE:
            raise ValueError(f"The {name} {shown} is {image.width}x{image.height} pixels: photos need at least "
                             f"{MIN_SIDE} pixels on each side.")
        return image

    def key(self, photo, name: str) -> str:
        """The content hash of an uploaded photo's file (a missing or unreadable one raises ``load``'s error)."""
        try:
            return content_key(self.uploaded(photo, name).read_bytes())
        except OSError:
            self.load(photo, name)
            raise

    def preview(self, photo, name: str) -> PIL.Image.Image:
        """The photo downscaled for the screen (cached by content)."""
        key = self.key(photo, name)
        image = self.previews.get(key)
        if image is None:
            image = shrink(self.load(photo, name))
            self.previews.put(key, image)
        return image

    def screen(self, content, reference) -> list[PIL.Image.Image | None]:
        """Both photos downscaled for the screen (a missing one is None); a ValueError names an unreadable one."""
        return [None if photo is None else self.preview(photo, name)
                for photo, name in ((content, "content photo"), (reference, "reference photo"))]

    def painted_mask(self, editor: dict | None, name: str) -> np.ndarray | None:
        """A region editor's value -> (H, W) bool mask of what is painted on any layer (the library's one mask
        rule), or None if nothing is. Layers are uploads (FileData dicts or paths, checked as photos are) or PIL
        images, decoded by the library's checked loader: the pixel limit holds before anything is decoded."""
        if editor is not None and not isinstance(editor, dict):
            raise ValueError(f"The {name} must be an image editor's value, got {type(editor).__name__}.")
        layers = (editor or {}).get("layers") or []
        if not isinstance(layers, list) or len(layers) > MAX_LAYERS:
            raise ValueError(f"The {name} must have a list of at most {MAX_LAYERS} layers.")
        mask = None
        for layer in layers:
            image = layer if isinstance(layer, PIL.Image.Image) else self.uploaded(layer, name)
            painted = load_mask(image, name, self.pipe.config.max_pixels)
            if mask is not None and painted.shape != mask.shape:
                raise ValueError(f"The layers of the {name} must all have the size of its photo.")
            mask = painted if mask is None else mask | painted
        return mask if mask is not None and mask.any() else None


def guard_editor(editor: gr.ImageEditor, max_pixels: int) -> gr.ImageEditor:
    """``editor`` with a preprocessing that first refuses, from the files' headers, more than MAX_LAYERS layers and
    any image over ``max_pixels``: Gradio's own preprocessing decodes every layer a client sends (the regions
    button needs it, the browser sends a painted editor as blobs only it reads)."""
    preprocess = editor.preprocess

    def checked(payload):
        value = editor.blob_storage.get(payload.id) if payload is not None and payload.id is not None else payload
        if value is not None:
            if len(value.layers or []) > MAX_LAYERS:
                raise gr.Error(f"A painted region may have at most {MAX_LAYERS} layers.")
            for image in (value.background, *(value.layers or []), value.composite):
                if image is not None:
                    check_header(image, max_pixels)
        return preprocess(payload)

    editor.preprocess = checked
    return editor


def check_header(image, max_pixels: int) -> None:
    """Refuse an editor image (an upload or a blob's bytes) over the pixel limit, reading its header only."""
    source = io.BytesIO(image) if isinstance(image, bytes) else getattr(image, "path", None)
    try:
        with PIL.Image.open(source) as opened:
            check_size(*opened.size, max_pixels, "A painted region")
    except (ValueError, OSError, TypeError, PIL.Image.DecompressionBombError) as error:
        raise gr.Error(str(error)) from None
