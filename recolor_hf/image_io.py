"""Reading and checking user images, and the uint8 <-> float conversions: every problem becomes a ValueError that
names it.

Accepted: a path, a PIL image (opened lazily or not), an HWC / HW numpy array (uint8, uint16 or float in
[0, 1]) and a (3, H, W) or (1, 3, H, W) tensor in [0, 1]. Modes are converted to RGB: RGBA / LA and palette
images with transparency are composited on white, 16-bit and float images are scaled, CMYK / grayscale /
bilevel are converted; the EXIF orientation is applied. Float RGB(A) TIFFs, which Pillow cannot open, are read with
tifffile. Float images holding NaN or infinity are refused.

The pixel limit ``max_pixels`` (the CLI's ``--max-pixels``) is checked on the size a file's header declares,
before anything is decoded. Decoded images keep the input's ICC profile (RGB profiles only) and its EXIF
(orientation removed, since it is applied) in ``image.info`` under the keys ``KEPT_METADATA``, so that a writer
can pass them on to the output.

Arrays: ``load_array`` gives (H, W, 3) uint8 (optionally downscaled); ``to_float`` / ``to_uint8`` are the one pair
of converters between uint8 [0, 255] and float [0, 1] pixels, ``image_to_tensor`` / ``tensor_to_uint8`` the same
for (3, H, W) tensors.

Masks follow one rule (``mask_from_image``): the alpha channel when the image has one (alpha > 0 = painted),
else every pixel that is not black.

torch is imported only by the functions that make tensors, so that reading images (the CLI, LUTs) does not load it.
"""

from __future__ import annotations

import os
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

if TYPE_CHECKING:
    import torch

DEFAULT_MAX_PIXELS = 64_000_000
BACKGROUND = (255, 255, 255)  # transparent pixels are composited on white
KEPT_METADATA = ("icc_profile", "exif")  # ``image.info`` keys that outputs inherit from their input
ICC_COLOUR_SPACE = slice(16, 20)  # bytes of an ICC profile's header naming its colour space
ICC_RGB = b"RGB "
UINT8_PEAK = 255.0  # a uint8 pixel value of 255 is 1.0 as a float
UINT16_PEAK = 65535.0
TIFF_SUFFIXES = (".tif", ".tiff")


def to_float(image: np.ndarray, dtype: np.dtype = np.float32) -> np.ndarray:
    """uint8 [0, 255] -> float in [0, 1] of ``dtype``; float arrays are only cast to ``dtype``. Any shape."""
    image = np.asarray(image)
    if image.dtype == np.uint8:
        return image.astype(dtype) / UINT8_PEAK
    return image.astype(dtype, copy=False)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """float in [0, 1] -> uint8 [0, 255], clipped and rounded (half up). Any shape."""
    return np.clip(np.asarray(image, dtype=np.float64) * UINT8_PEAK + 0.5, 0, UINT8_PEAK).astype(np.uint8)


def check_rgb_array(image: np.ndarray, name: str) -> np.ndarray:
    """An (H, W, 3) uint8 or float array, else a ValueError naming ``name``; returns it as a numpy array."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"{name} must be an (H, W, 3) RGB image, got shape {image.shape}")
    if image.dtype != np.uint8 and not np.issubdtype(image.dtype, np.floating):
        raise ValueError(f"{name} must be uint8 or float, got dtype {image.dtype}")
    return image


def check_size(width: int, height: int, max_pixels: int, name: str) -> None:
    """Refuse empty images and images over ``max_pixels`` pixels (the CLI's ``--max-pixels``)."""
    if width <= 0 or height <= 0:
        raise ValueError(f"{name} is empty ({width}x{height} pixels)")
    if width * height > max_pixels:
        raise ValueError(
            f"{name} is {width}x{height} = {width * height:,} pixels, over the pixel limit of {max_pixels:,} "
            f"(max_pixels; --max-pixels on the command line raises it)"
        )


def to_rgb(image: Image.Image, name: str = "image") -> Image.Image:
    """Convert any PIL mode to 8-bit RGB (see module docstring); ``name`` is used in errors."""
    if image.mode == "RGB":
        return image
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        data = np.asarray(image, dtype=np.float64)
        check_finite(data, name)
        # 16-bit modes are always scaled from their full range, dark images included
        peak = UINT16_PEAK if image.mode.startswith("I;16") else white_level(data, image.mode == "F")
        image = Image.fromarray(to_uint8(data / peak), "L")
    if image.mode in ("RGBa", "La"):  # premultiplied alpha: PIL converts these to their plain forms only
        image = image.convert(image.mode.upper())
    if image.mode in ("RGBA", "LA", "PA"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, BACKGROUND + (255,))
        image = Image.alpha_composite(background, rgba)
    return image.convert("RGB")


def check_finite(data: np.ndarray, name: str) -> None:
    """Refuse pixel data holding NaN or infinity (it would come out black)."""
    if not np.isfinite(data).all():
        raise ValueError(f"{name} holds NaN or infinite pixel values; it cannot be shown as a photo")


def white_level(data: np.ndarray, is_float: bool) -> float:
    """The value of white in pixel data whose format does not fix it (float, 32-bit integer): 1.0 for float data
    within [0, 1], else 65535 when values pass 255, else 255."""
    if is_float and data.max() <= 1.0:
        return 1.0
    return UINT16_PEAK if data.max() > UINT8_PEAK else UINT8_PEAK


def array_to_image(array: np.ndarray, name: str) -> Image.Image:
    """HWC / HW numpy array (uint8, uint16 or float in [0, 1]) -> PIL RGB image."""
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise ValueError(f"{name} must be an (H, W, 3) or (H, W) array, got shape {array.shape}")
    check_size(array.shape[1], array.shape[0], np.iinfo(np.int64).max, name)
    if array.dtype == np.uint8:
        data = array
    elif array.dtype == np.uint16:
        data = to_uint8(array / UINT16_PEAK)
    elif np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all() or array.min() < 0 or array.max() > 1:
            raise ValueError(f"{name}: float arrays must be finite and in [0, 1]")
        data = to_uint8(array)
    else:
        raise ValueError(f"{name}: unsupported array dtype {array.dtype} (use uint8, uint16 or float in [0, 1])")
    return to_rgb(Image.fromarray(data), name)


def tensor_to_image(tensor: torch.Tensor, name: str) -> Image.Image:
    """(3, H, W) or (1, 3, H, W) tensor in [0, 1] -> PIL RGB image."""
    if tensor.dim() == 4 and tensor.shape[0] == 1:
        tensor = tensor[0]
    if tensor.dim() != 3 or tensor.shape[0] not in (1, 3):
        raise ValueError(f"{name} must be a (3, H, W) tensor, got shape {tuple(tensor.shape)}")
    return array_to_image(tensor.detach().float().cpu().permute(1, 2, 0).numpy(), name)


def open_image(path: str | os.PathLike, name: str = "image", max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Open a file lazily (header only) -> PIL image, or a ValueError naming the problem. A float RGB(A) TIFF,
    which Pillow cannot open, is read whole by ``read_float_tiff`` (its size checked against ``max_pixels``)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{name}: no such file {path}")
    try:
        return Image.open(path)
    except (UnidentifiedImageError, OSError) as err:
        problem = err
    except Image.DecompressionBombError as err:
        raise ValueError(f"{name}: {path} is refused as a decompression bomb by Pillow's own limit, "
                         f"whatever max_pixels says ({err})") from None
    image = read_float_tiff(path, name, max_pixels) if path.suffix.lower() in TIFF_SUFFIXES else None
    if image is None:
        raise ValueError(f"{name}: {path} is not a readable image ({problem})")
    return image


def read_float_tiff(path: Path, name: str, max_pixels: int) -> Image.Image | None:
    """A float RGB or RGBA TIFF read with tifffile as an 8-bit PIL image: the size its header declares checked
    against ``max_pixels`` before decoding, NaN and infinity refused, values scaled like a float grayscale image's
    (``white_level``). None when the file is not such a TIFF."""
    import tifffile

    try:
        tiff = tifffile.TiffFile(path)
    except (ValueError, OSError):  # not a TIFF that tifffile can parse either
        return None
    with tiff:
        page = tiff.pages.first
        if page.dtype is None or page.dtype.kind != "f" or page.samplesperpixel not in (3, 4):
            return None
        check_size(page.imagewidth, page.imagelength, max_pixels, name)
        try:
            data = np.moveaxis(page.asarray(), page.axes.index("S"), -1)  # samples last, whatever the layout
        except (ValueError, OSError, zlib.error) as err:
            raise ValueError(f"{name} could not be decoded, the file may be truncated or corrupt ({err})") from None
    check_finite(data, name)
    return Image.fromarray(to_uint8(data / white_level(data, True)), "RGBA" if data.shape[2] == 4 else "RGB")


def decode(image: Image.Image, name: str, max_pixels: int, draft: tuple[int, int] | None = None) -> Image.Image:
    """Check the declared size against ``max_pixels``, then decode and apply the EXIF orientation.

    ``draft`` (W, H): decode a JPEG at the smallest scale still covering that size (a fast full read of the file
    that checks it, as ``data.scan_images`` does). Returns the image in its own mode; the EXIF kept in ``info`` has
    no orientation tag any more.
    """
    check_size(image.width, image.height, max_pixels, name)
    try:
        if draft is not None:
            image.draft("RGB", draft)
        image.load()
        return ImageOps.exif_transpose(image)
    except (OSError, SyntaxError, ValueError) as err:
        raise ValueError(f"{name} could not be decoded, the file may be truncated or corrupt ({err})") from None


def kept_metadata(image: Image.Image) -> dict:
    """The ``KEPT_METADATA`` entries of a decoded image's ``info`` that stay valid for its RGB conversion."""
    kept = {key: image.info[key] for key in KEPT_METADATA if image.info.get(key)}
    if "icc_profile" in kept and kept["icc_profile"][ICC_COLOUR_SPACE] != ICC_RGB:
        del kept["icc_profile"]  # a grayscale or CMYK profile does not describe the RGB output
    return kept


def is_tensor(value) -> bool:
    """Whether ``value`` is a torch tensor; a tensor exists only once torch is imported, so this never imports it."""
    torch = sys.modules.get("torch")
    return torch is not None and torch.is_tensor(value)


def load_image(image, name: str = "image", max_pixels: int = DEFAULT_MAX_PIXELS,
               max_side: int | None = None) -> Image.Image:
    """Any accepted input -> a fully decoded 8-bit RGB PIL image, or a ValueError naming the problem.

    From a file or PIL image, ``info`` holds only the input's ICC profile and EXIF (see ``kept_metadata``).
    ``max_side``: downscale (LANCZOS, aspect kept) so that the long side is at most this many pixels.
    """
    if isinstance(image, (str, os.PathLike)):
        image = open_image(image, name, max_pixels)
    if isinstance(image, np.ndarray):
        rgb = array_to_image(image, name)
    elif is_tensor(image):
        rgb = tensor_to_image(image, name)
    elif isinstance(image, Image.Image):
        decoded = decode(image, name, max_pixels)
        rgb = to_rgb(decoded, name)
        rgb.info = kept_metadata(decoded)
    else:
        raise ValueError(f"{name} must be a path, PIL image, numpy array or tensor, got {type(image).__name__}")
    check_size(rgb.width, rgb.height, max_pixels, name)
    if max_side is not None and max(rgb.size) > max_side:
        rgb.thumbnail((max_side, max_side), Image.LANCZOS)
    return rgb


@dataclass
class ImageBatch:
    """Decoded user images and the same at the networks' working size: ``images``, RGB PIL images at their own
    size; ``working``, (B, 3, r, r) float32 in [0, 1] (bicubic, aspect ratio not kept)."""

    images: list[Image.Image]
    working: torch.Tensor


def load_batch(images, name: str, resolution: int, max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageBatch:
    """One image, a list of them or a (B, 3, H, W) tensor -> ``ImageBatch`` at the square ``resolution``, each
    image checked by ``load_image`` (errors name ``name`` or ``name[i]``)."""
    import torch

    if is_tensor(images) and images.dim() == 4:
        images = list(images)
    if not isinstance(images, (list, tuple)):
        images = [images]
    if len(images) == 0:
        raise ValueError(f"{name}: got an empty list")
    decoded = [load_image(im, f"{name}[{i}]" if len(images) > 1 else name, max_pixels) for i, im in enumerate(images)]
    size = (resolution, resolution)
    working = [image_to_tensor(im.resize(size, Image.BICUBIC, reducing_gap=3.0)) for im in decoded]
    return ImageBatch(decoded, torch.stack(working))


def load_array(image, max_side: int | None = None, name: str = "image",
               max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """``load_image`` as an (H, W, 3) uint8 array, downscaled so that the long side is at most ``max_side``."""
    return np.asarray(load_image(image, name, max_pixels, max_side))


def mask_from_image(image: Image.Image) -> np.ndarray:
    """The one mask rule, PIL image -> (H, W) bool: alpha > 0 when the image has an alpha channel (or a palette
    transparency), else every pixel that is not black."""
    if "A" in image.getbands():
        return np.asarray(image.getchannel("A")) > 0
    if "transparency" in image.info:
        return np.asarray(image.convert("RGBA").getchannel("A")) > 0
    return np.asarray(to_rgb(image, "mask")).any(axis=2)


def load_mask(mask: str | os.PathLike | Image.Image, name: str = "mask",
              max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """A mask file or PIL image -> (H, W) bool by ``mask_from_image``, with ``load_image``'s checks."""
    image = open_image(mask, name, max_pixels) if isinstance(mask, (str, os.PathLike)) else mask
    return mask_from_image(decode(image, name, max_pixels))


def image_to_tensor(image: Image.Image | np.ndarray) -> torch.Tensor:
    """PIL RGB image or (H, W, 3) array (uint8, or float in [0, 1]) -> (3, H, W) float32 tensor in [0, 1]."""
    import torch

    return torch.from_numpy(to_float(np.asarray(image))).permute(2, 0, 1).contiguous()


def tensor_to_uint8(tensor: torch.Tensor) -> np.ndarray:
    """(3, H, W) tensor in [0, 1] -> (H, W, 3) uint8 array (``to_uint8``: clipped, rounded)."""
    return to_uint8(tensor.detach().float().permute(1, 2, 0).cpu().numpy())
