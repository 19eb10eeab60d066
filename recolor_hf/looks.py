"""Seeded random photographic "looks": colour edits used both as training augmentation and by the benchmark.

Every function takes and returns float32 (H, W, 3) RGB images in [0, 1] and uses numpy only (no torch).

- colour_jitter            torchvision-style ColorJitter (the paper's global augmentation).
- Look                    a photographer's global edit: white balance, tone curves, saturation, HSL mixer, split toning.
- LocalLook               several Looks assigned to colour ranges (sky / foliage / warm tones / rest) with soft
                          membership; a pure per-pixel colour function, so the SAME local look can be applied to two
                          different photos (content A and reference B) consistently.
- segment_local_augment   different random Looks per superpixel region (SLIC / Felzenszwalb); training variety only,
                          not transferable between photos.
- strong_look             a DPST-strength grade (dusk, night, warm, cool, vivid, faded) over a random Look, and
                          half the time a strong LocalLook on top: the changes of real exemplar pairs.
- random_look             one seeded callable img -> img of any of the kinds above.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

import numpy as np
from PIL import Image
from scipy.interpolate import PchipInterpolator
from scipy.ndimage import gaussian_filter
from skimage.segmentation import felzenszwalb, slic

from .image_io import to_float, to_uint8

GRAY = np.array([0.2989, 0.587, 0.114], np.float32)  # luma weights of torchvision's rgb_to_grayscale
LUMA = np.array([0.299, 0.587, 0.114], np.float32)  # ITU-R 601 luma (sums to 1, so grays keep their value)
EPS = np.float32(1e-8)
LUT_SIZE = 1024  # resolution of the tone-curve and HSL-mixer lookup tables
CHUNK = 16384  # pixels per chunk of per-pixel ops (keeps temporaries in the CPU cache)
TONE_KNOTS = np.linspace(0.0, 1.0, 5)  # tone-curve control points: black, shadows, midtones, highlights, white
# HSL-mixer band centres (fraction of a turn): red, orange, yellow, green, aqua, blue, purple, magenta (as in Lightroom)
HUE_BANDS = np.array([0, 30, 60, 120, 180, 220, 270, 310]) / 360.0

# Spread of each Look parameter drawn by Look.random at strength 1 (std of a normal unless noted). Chosen by eye so a
# look is a clearly visible edit that still looks like a plausible photograph.
RANDOM_SPREAD = dict(
    black=0.06,  # black-point lift, uniform in [0, black]
    white=0.08,  # white-point drop, uniform in [0, white]
    contrast=0.05,  # S-curve: shadows down and highlights up by the same amount
    tone=0.04,  # independent shadow / midtone / highlight offsets
    channel=0.025,  # per-channel (R, G, B) curve offsets at the three inner knots
    temperature=0.15,  # log gain
    tint=0.07,  # log gain
    saturation=0.25,
    vibrance=0.25,
    band_prob=0.5,  # probability that an HSL-mixer band is edited at all
    band_hue=0.02,  # turns (about 7 degrees)
    band_sat=0.25,
    band_light=0.3,  # stops
    split_prob=0.5,  # probability of each split-toning colour (shadows, highlights)
    split=0.06,  # split-toning amount, uniform in [0, split]
)

# Colour ranges of LocalLook: name -> (hue centre, hue std), both in turns. Memberships are Gaussian in circular hue
# distance and fade in with chroma (see CHROMA_RAMP); what no range claims goes to a "rest" region.
COLOR_RANGES = {
    "warm": (0.06, 0.05),  # skin, wood, sunsets (red-orange)
    "foliage": (0.27, 0.08),  # vegetation (yellow-green to green)
    "sky": (0.58, 0.06),  # sky and water (cyan-blue)
}
CHROMA_RAMP = (0.03, 0.12)  # chroma (max - min of RGB) below lo is neutral; above hi has full hue membership


def _hsv_planes(r: np.ndarray, g: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """RGB planes (any shape) -> HSV planes, hue as a fraction of a turn (0 for grays).

    Branches are selected by multiplying with masks, several times faster than np.where / % here.
    """
    v = np.maximum(np.maximum(r, g), b)
    c = v - np.minimum(np.minimum(r, g), b)
    is_r = v == r
    is_g = (v == g) & ~is_r
    is_b = ~(is_r | is_g)
    num = is_r * (g - b) + is_g * (b - r) + is_b * (r - g)
    h = (num / np.maximum(c, EPS) + is_g * np.float32(2) + is_b * np.float32(4)) / 6
    h += h < 0
    return h, c / np.maximum(v, EPS), v


def _rgb_planes(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """HSV planes (any shape S) -> (3, *S) RGB: each channel drops by V*S with the hue's circular distance from it."""
    h6, vs = 6 * h, v * s
    out = np.empty((3, *h.shape), np.float32)
    for c, centre in enumerate((0, 2, 4)):  # hue of pure R, G, B in sixths of a turn
        d = np.abs(h6 - centre)
        out[c] = v - vs * np.clip(np.minimum(d, 6 - d) - 1, 0, 1)
    return out


def rgb_to_hsv(img: np.ndarray) -> np.ndarray:
    """(..., 3) RGB in [0, 1] -> (..., 3) HSV in [0, 1] (hue as a fraction of a turn, 0 for grays)."""
    return np.stack(_hsv_planes(*np.moveaxis(img.astype(np.float32), -1, 0)), -1)


def hsv_to_rgb(hsv: np.ndarray) -> np.ndarray:
    """(..., 3) HSV in [0, 1] -> (..., 3) RGB in [0, 1]."""
    return np.moveaxis(_rgb_planes(*np.moveaxis(hsv.astype(np.float32), -1, 0)), 0, -1)


def _table(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lookup table (values, slopes) of a function sampled at LUT_SIZE uniform points on [0, 1], for _lut."""
    values = values.astype(np.float32)
    return values, np.append(np.diff(values), np.float32(0))


def _lut(x: np.ndarray, table: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Linear interpolation of a _table at x in [0, 1] (float32 throughout; much faster than np.interp)."""
    values, slopes = table
    f = x * np.float32(len(values) - 1)
    fl = np.floor(f)
    i = fl.astype(np.intp)
    return values.take(i) + (f - fl) * slopes.take(i)


def _map_pixels(fn: Callable[..., np.ndarray], img: np.ndarray, planes: np.ndarray | None = None) -> np.ndarray:
    """Apply a per-pixel fn on planar (3, n) chunks of CHUNK pixels: (H, W, 3) -> (H, W, 3) float32 in [0, 1].

    With planes (K, H, W) of per-pixel data, fn(x, p) also gets the matching (K, n) chunk of them. Chunks keep the
    many temporaries in the CPU cache: several times faster than whole-image numpy ops.
    """
    flat = img.reshape(-1, 3).astype(np.float32, copy=False)
    out = np.empty_like(flat)
    for a in range(0, len(flat), CHUNK):
        x = np.ascontiguousarray(flat[a:a + CHUNK].T)
        y = fn(x) if planes is None else fn(x, planes.reshape(len(planes), -1)[:, a:a + CHUNK])
        out[a:a + CHUNK] = np.clip(y, 0, 1).T
    return out.reshape(img.shape)


def _jitter_range(value: float | tuple[float, float], center: float) -> tuple[float, float]:
    """torchvision's convention: a number v means [center - v, center + v] (clamped at 0 for factors)."""
    if isinstance(value, (int, float)):
        lo = center - value
        return (max(lo, 0.0) if center == 1 else lo, center + value)
    return value


def colour_jitter(img: np.ndarray, rng: np.random.Generator,
                 brightness: float | tuple[float, float] = (0.5, 2.0),
                 contrast: float | tuple[float, float] = (0.5, 2.0),
                 saturation: float | tuple[float, float] = (0.5, 2.0),
                 hue: float | tuple[float, float] = (-0.2, 0.2)) -> np.ndarray:
    """torchvision ColorJitter in numpy: the four ops in random order, factors uniform in their ranges.

    img: (H, W, 3) float32 in [0, 1]. Ranges are (lo, hi) or a number v meaning (1 - v, 1 + v), hue (-v, v).
    An op whose factor is its identity (1, or 0 for hue) is skipped, so identity ranges return the input.
    """
    ranges = [_jitter_range(x, 1.0) for x in (brightness, contrast, saturation)] + [_jitter_range(hue, 0.0)]
    order = rng.permutation(4)
    factors = [rng.uniform(*r) for r in ranges]
    out = img.astype(np.float32)
    for i in order:
        f = np.float32(factors[i])
        if i == 0 and f != 1:
            out = np.clip(out * f, 0, 1)
        elif i == 1 and f != 1:
            out = np.clip(f * out + (1 - f) * (out @ GRAY).mean(), 0, 1)
        elif i == 2 and f != 1:
            out = np.clip(f * out + (1 - f) * (out @ GRAY)[..., None], 0, 1)
        elif i == 3 and f != 0:
            hsv = rgb_to_hsv(out)
            hsv[..., 0] += f
            hsv[..., 0] -= np.floor(hsv[..., 0])
            out = hsv_to_rgb(hsv)
    return out


def _curve(offsets: tuple[float, ...], x: np.ndarray) -> np.ndarray:
    """Monotone (PCHIP) tone curve through TONE_KNOTS + offsets, evaluated at x."""
    y = np.maximum.accumulate(np.clip(TONE_KNOTS + np.asarray(offsets), 0, 1))
    return PchipInterpolator(TONE_KNOTS, y)(x)


def _tint_rgb(hue: float) -> np.ndarray:
    """(3, 1) fully saturated colour of `hue` minus its luma: adds colour without changing brightness."""
    rgb = hsv_to_rgb(np.array([hue, 1.0, 1.0], np.float32))
    return (rgb - rgb @ LUMA)[:, None]


@dataclass
class Look:
    """A global photographic edit. The default (all zeros) is the identity.

    Applied in this order: white balance -> global tone curve -> per-channel curves -> HSL-mixer hue / lightness (in
    HSV) -> saturation / vibrance / HSL-mixer saturation (luma-preserving) -> split toning.
    """
    tone: tuple[float, ...] = (0.0,) * 5  # offsets of the global curve at TONE_KNOTS
    channel_tone: tuple[tuple[float, ...], ...] = ((0.0,) * 5,) * 3  # R, G, B curve offsets at TONE_KNOTS
    temperature: float = 0.0  # log gain, + warmer (R up, B down); gray luminance is kept
    tint: float = 0.0  # log gain, + magenta (G down)
    saturation: float = 0.0  # colour (RGB minus luma) *= 1 + saturation
    vibrance: float = 0.0  # colour *= 1 + vibrance * (1 - S), S = HSV saturation: mostly boosts muted colours
    hue_shift: tuple[float, ...] = (0.0,) * 8  # per HUE_BANDS band, in turns
    sat_shift: tuple[float, ...] = (0.0,) * 8  # per band, colour *= 1 + sat_shift
    light_shift: tuple[float, ...] = (0.0,) * 8  # per band, V *= 2 ** (light_shift * S), in stops
    shadow_tint: tuple[float, float] = (0.0, 0.0)  # split toning (hue in turns, amount), weight (1 - luma)^2
    highlight_tint: tuple[float, float] = (0.0, 0.0)  # split toning (hue in turns, amount), weight luma^2

    @classmethod
    def random(cls, rng: np.random.Generator, strength: float = 1.0) -> "Look":
        """A plausible random look; spreads from RANDOM_SPREAD scaled by `strength` (0 gives the identity)."""
        sp = {k: v if k.endswith("prob") else v * strength for k, v in RANDOM_SPREAD.items()}
        contrast = rng.normal(0, sp["contrast"])
        mid = rng.normal(0, sp["tone"], 3) + np.array([-contrast, 0, contrast])
        tone = (rng.uniform(0, sp["black"]), *mid, -rng.uniform(0, sp["white"]))
        channel = np.pad(rng.normal(0, sp["channel"], (3, 3)), ((0, 0), (1, 1)))

        def bands(std: float) -> tuple[float, ...]:
            return tuple(float(b) for b in rng.normal(0, std, 8) * (rng.random(8) < sp["band_prob"]))

        def split() -> tuple[float, float]:
            return (float(rng.random()), float(rng.uniform(0, sp["split"]) * (rng.random() < sp["split_prob"])))

        return cls(
            tone=tuple(float(t) for t in tone),
            channel_tone=tuple(tuple(float(t) for t in c) for c in channel),
            temperature=float(rng.normal(0, sp["temperature"])),
            tint=float(rng.normal(0, sp["tint"])),
            saturation=float(np.clip(rng.normal(0, sp["saturation"]), -0.8, 1.0)),
            vibrance=float(np.clip(rng.normal(0, sp["vibrance"]), -0.8, 1.0)),
            hue_shift=bands(sp["band_hue"]), sat_shift=bands(sp["band_sat"]), light_shift=bands(sp["band_light"]),
            shadow_tint=split(), highlight_tint=split(),
        )

    def planar(self) -> Callable[[np.ndarray], np.ndarray]:
        """The edit as a per-pixel function of planar (3, N) float32 RGB -> (3, N) (tables built once)."""
        t, m = self.temperature, self.tint
        gains = np.exp([t + m / 2, -m, -t + m / 2])
        gains = (gains / (gains @ LUMA)).astype(np.float32)[:, None]  # gray luminance unchanged
        grid = np.linspace(0, 1, LUT_SIZE)
        base = _curve(self.tone, grid)
        curves = [_table(_curve(offsets, base)) for offsets in self.channel_tone]
        # HSL mixer: per-band values interpolated linearly in hue (a partition of unity over the bands)
        hue_shift, sat_shift, light_shift = (_table(np.interp(grid, HUE_BANDS, values, period=1.0))
                                             for values in (self.hue_shift, self.sat_shift, self.light_shift))
        shadow = self.shadow_tint[1] * _tint_rgb(self.shadow_tint[0])
        highlight = self.highlight_tint[1] * _tint_rgb(self.highlight_tint[0])

        def edit(x: np.ndarray) -> np.ndarray:  # planar (3, n) -> (3, n)
            x = np.clip(x * gains, 0, 1)
            h, s, v = _hsv_planes(*(_lut(x[c], curves[c]) for c in range(3)))
            h_new = h + _lut(h, hue_shift)
            h_new -= np.floor(h_new)
            x = _rgb_planes(h_new, s, np.clip(v * np.exp2(_lut(h, light_shift) * s), 0, 1))
            luma = LUMA @ x
            # saturation: scale the distance from the pixel's luma (keeps brightness, unlike scaling HSV's S)
            sat_gain = np.float32(1 + self.saturation) * (1 + np.float32(self.vibrance) * (1 - s))
            x = luma + (x - luma) * (sat_gain * (1 + _lut(h, sat_shift)))
            x += (1 - luma) ** 2 * shadow + luma ** 2 * highlight
            return np.clip(x, 0, 1)

        return edit

    def apply(self, img: np.ndarray) -> np.ndarray:
        """(H, W, 3) float32 in [0, 1] -> edited (H, W, 3) float32 in [0, 1]; deterministic."""
        return _map_pixels(self.planar(), img)


def _blend(x: np.ndarray, weights: np.ndarray, edits: list[Callable[[np.ndarray], np.ndarray]]) -> np.ndarray:
    """Planar (3, N) pixels, (K, N) weights summing to 1, K per-pixel edits -> sum_k weights[k] * edits[k](x)."""
    return sum(w * edit(x) for w, edit in zip(weights, edits))


@dataclass
class LocalLook:
    """Different Looks on different colour ranges, with soft membership: a pure per-pixel colour transform.

    Region k < len(regions) is the colour range COLOR_RANGES[regions[k]]; the last region is the rest (neutral and
    other colours), so len(looks) == len(regions) + 1. Membership depends only on the pixel's own colour, so the same
    LocalLook applied to two different photos edits matching content (sky, foliage, skin) the same way.
    """
    regions: tuple[str, ...]
    looks: tuple[Look, ...]

    @classmethod
    def random(cls, rng: np.random.Generator, n_ranges: tuple[int, int] = (1, 3),
               strength: float = 1.0) -> "LocalLook":
        """Random n_ranges[0]..n_ranges[1] of the COLOR_RANGES (+ the rest: 2-4 regions), each with a random Look."""
        names = sorted(COLOR_RANGES)
        k = int(rng.integers(n_ranges[0], min(n_ranges[1], len(names)) + 1))
        regions = tuple(names[i] for i in sorted(rng.choice(len(names), k, replace=False)))
        return cls(regions, tuple(Look.random(rng, strength) for _ in range(k + 1)))

    def _weights(self, x: np.ndarray) -> np.ndarray:
        """Planar (3, N) RGB -> (K + 1, N) memberships summing to 1 (last = rest)."""
        h, _, _ = _hsv_planes(*x)
        lo, hi = CHROMA_RAMP
        colourful = np.clip((x.max(0) - x.min(0) - lo) / (hi - lo), 0, 1)
        ws = []
        for name in self.regions:
            centre, std = COLOR_RANGES[name]
            d = np.abs(h - centre)
            d = np.minimum(d, 1 - d)  # circular hue distance in turns
            ws.append(np.exp(-0.5 * (d / std) ** 2) * colourful)
        ws.append(np.clip(1 - sum(ws), 0, 1))
        ws = np.stack(ws).astype(np.float32)
        return ws / np.maximum(ws.sum(0), EPS)

    def masks(self, img: np.ndarray) -> np.ndarray:
        """(H, W, 3) image -> (K + 1, H, W) float32 soft memberships summing to 1 per pixel (last = rest)."""
        return self._weights(np.moveaxis(img.reshape(-1, 3), 0, 1)).reshape(-1, *img.shape[:2])

    def apply(self, img: np.ndarray) -> np.ndarray:
        """(H, W, 3) float32 in [0, 1] -> edited (H, W, 3) float32 in [0, 1]; deterministic."""
        edits = [look.planar() for look in self.looks]
        return _map_pixels(lambda x: _blend(x, self._weights(x), edits), img)


def _kmeans(x: np.ndarray, k: int, rng: np.random.Generator, iters: int = 10) -> np.ndarray:
    """Plain Lloyd k-means of (N, D) points -> (N,) labels in [0, k)."""
    centres = x[rng.choice(len(x), k, replace=False)]
    for _ in range(iters):
        labels = ((x[:, None] - centres[None]) ** 2).sum(-1).argmin(1)
        centres = np.stack([x[labels == j].mean(0) if (labels == j).any() else centres[j] for j in range(k)])
    return labels


def segment_local_augment(img: np.ndarray, rng: np.random.Generator, n_regions: tuple[int, int] = (2, 4),
                          strength: float = 1.0, work_size: int = 96, n_segments: int = 64,
                          position_weight: float = 0.5, blur: float = 0.03) -> np.ndarray:
    """Different random Looks on 2-4 unsupervised regions of the image, with soft borders.

    Superpixels (SLIC or Felzenszwalb, chosen at random) on a copy downscaled to `work_size` px (long side) are merged
    into n_regions[0]..n_regions[1] regions by k-means on (mean RGB, position * position_weight); one-hot region masks
    are blurred (std `blur` x work_size) and upsampled. Training-only: the regions depend on this image's layout.

    img: (H, W, 3) float32 in [0, 1] -> (H, W, 3) float32 in [0, 1].
    """
    H, W = img.shape[:2]
    scale = work_size / max(H, W)
    w, h = max(1, round(W * scale)), max(1, round(H * scale))
    small = to_float(np.asarray(Image.fromarray(to_uint8(img)).resize((w, h), Image.BILINEAR)))
    if rng.random() < 0.5:
        seg = slic(small, n_segments=n_segments, start_label=0)
    else:  # scale = work_size gives 25-50 segments, comparable to SLIC's
        seg = felzenszwalb(small, scale=work_size, min_size=work_size // 4)
    n_seg = seg.max() + 1
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    feats = np.stack([np.bincount(seg.ravel(), f.ravel(), n_seg) for f in
                      (*np.moveaxis(small, -1, 0), yy * position_weight, xx * position_weight)], 1)
    feats /= np.bincount(seg.ravel(), minlength=n_seg)[:, None]
    k = min(int(rng.integers(n_regions[0], n_regions[1] + 1)), n_seg)
    region = _kmeans(feats, k, rng)[seg]
    masks = [gaussian_filter((region == j).astype(np.float32), blur * work_size) for j in range(k)]
    masks = np.stack([np.asarray(Image.fromarray(m).resize((W, H), Image.BILINEAR)) for m in masks])
    masks /= np.maximum(masks.sum(0), EPS)
    edits = [Look.random(rng, strength).planar() for _ in range(k)]
    return _map_pixels(lambda x, w: _blend(x, w, edits), img, masks)


# Strong grades: Look fields added to a random Look. tone = offsets at TONE_KNOTS; tints are (hue, amount).
GRADES = {
    "dusk": dict(tone=(0.0, -0.12, -0.2, -0.15, -0.05), temperature=0.35, saturation=0.3,
                 shadow_tint=(0.62, 0.18), highlight_tint=(0.07, 0.2)),
    "night": dict(tone=(0.0, -0.15, -0.3, -0.3, -0.15), temperature=-0.6, saturation=-0.2,
                  shadow_tint=(0.64, 0.15)),
    "warm": dict(tone=(0.0, 0.0, 0.03, 0.0, 0.0), temperature=0.6, tint=0.1, saturation=0.3),
    "cool": dict(tone=(0.0, -0.03, -0.05, 0.0, 0.0), temperature=-0.6, tint=-0.05, highlight_tint=(0.55, 0.1)),
    "vivid": dict(tone=(0.0, -0.06, 0.0, 0.06, 0.0), saturation=0.9, vibrance=0.4),
    "faded": dict(tone=(0.15, 0.05, 0.0, -0.03, -0.1), saturation=-0.7),
}
GRADE_JITTER = 0.3  # each grade's numbers are scaled by a factor uniform in [1 - j, 1 + j]


def strong_look(rng: np.random.Generator) -> Callable[[np.ndarray], np.ndarray]:
    """A DPST-strength edit: a random Look plus one of GRADES, then with chance 1/2 a stronger
    colour-range LocalLook (strength 1.25). A pure per-pixel colour function, so it transfers between photos."""
    name = str(rng.choice(sorted(GRADES)))
    base = Look.random(rng, 1.0)
    fields = {}
    for key, value in GRADES[name].items():
        scale = rng.uniform(1 - GRADE_JITTER, 1 + GRADE_JITTER)
        if key.endswith("_tint"):
            fields[key] = (value[0], value[1] * scale)
        elif key == "tone":
            fields[key] = tuple(b + v * scale for b, v in zip(base.tone, value))
        else:
            fields[key] = float(np.clip(getattr(base, key) + value * scale, -0.9, 1.5))
    grade = replace(base, **fields).apply
    if rng.random() < 0.5:
        return grade
    local = LocalLook.random(rng, strength=1.25).apply
    return lambda img: local(grade(img))


MONO_TINT = (0.0, 0.35)  # chroma of a monochrome look's tint (0: plain grey), as a share of the luma


def mono_look(rng: np.random.Generator) -> Callable[[np.ndarray], np.ndarray]:
    """A black-and-white or monochrome-tinted edit (sepia, blue-toned, ...) with a random tone curve: the
    reference that must take a photo's colour away."""
    amount = rng.uniform(*MONO_TINT) if rng.random() < 0.6 else 0.0
    tint = 1.0 + amount * _tint_rgb(rng.uniform())[:, 0]  # per-channel factors of the grey; luma kept
    tone = Look.random(rng, 1.0)

    def edit(img: np.ndarray) -> np.ndarray:
        grey = np.repeat((tone.apply(img) @ LUMA)[..., None], 3, -1)
        return (grey * tint).clip(0, 1).astype(np.float32)
    return edit


LOOK_KINDS = ("global", "local", "segment", "jitter", "strong", "mono", "none")


def random_look(rng: np.random.Generator, kind: str = "global",
                strength: float = 1.0) -> Callable[[np.ndarray], np.ndarray]:
    """A seeded random edit as a deterministic callable (H, W, 3) -> (H, W, 3), float32 in [0, 1].

    kind: "global" (Look), "local" (colour-range LocalLook, transferable between photos), "segment"
    (segment_local_augment, not transferable), "jitter" (colour_jitter with its ranges scaled by `strength`:
    brightness / contrast / saturation in [2^-strength, 2^strength], hue in +-0.2 strength), "none" (the photo
    as it is: teaches a model that a reference's own colours are not an edit), "strong" (``strong_look``, which
    ignores ``strength``), "mono" (``mono_look``: grey or monochrome-tinted, ignores ``strength``).
    """
    if kind == "none":
        return lambda img: img
    if kind == "global":
        return Look.random(rng, strength).apply
    if kind == "local":
        return LocalLook.random(rng, strength=strength).apply
    if kind == "strong":
        return strong_look(rng)
    if kind == "mono":
        return mono_look(rng)
    seed = int(rng.integers(2 ** 63))  # the callable replays the same random draws on every call
    if kind == "segment":
        return lambda img: segment_local_augment(img, np.random.default_rng(seed), strength=strength)
    if kind == "jitter":
        factor = (2.0 ** -strength, 2.0 ** strength)
        return lambda img: colour_jitter(img, np.random.default_rng(seed), factor, factor, factor,
                                        (-0.2 * strength, 0.2 * strength))
    raise ValueError(f"unknown look kind {kind!r}, expected one of {LOOK_KINDS}")
