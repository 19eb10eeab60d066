"""Training data: image listing / split, the three training stages' datasets and FiveK retouching pairs.

Every sample is deterministic: sample `index` of epoch `epoch` draws all its randomness from
np.random.default_rng([seed, epoch, index]). Images are float32 tensors (3, R, R) in [0, 1].

- mode "jitter"     (stages 1 and 2) {"input", "target"}: two colour variants of the same crop.
- mode "reference"  (stage 3) {"content", "reference", "target"}: target = look(content); reference = target under a
                    random crop / scale / flip / perspective warp, so it is not pixel-aligned with the target, or
                    (with chance `cross_prob`) the same look applied to a crop of ANOTHER photo, so the model must
                    transfer the look rather than copy the reference's content colours, or (with chance
                    `pair_prob`) the look applied to a second, low-overlap crop of the SAME photo: content-related
                    but not aligned, as in exemplar pairs of similar scenes.
"""
from __future__ import annotations

import hashlib
import logging
import math
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import Dataset

from .image_io import DEFAULT_MAX_PIXELS, decode, image_to_tensor, load_array, load_image, open_image, to_float
from .looks import GRAY, Look, random_look

logger = logging.getLogger(__name__)

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp")
MODES = ("jitter", "reference")
# Default probabilities of the look kinds (see looks.random_look) that turn the input / content into the target.
JITTER_MIX = {"jitter": 0.5, "global": 0.25, "segment": 0.15, "local": 0.1}  # stage 1
REFERENCE_MIX = {"strong": 0.45, "global": 0.25, "local": 0.2, "segment": 0.1}  # stage 3
CROSS_KINDS = ("global", "local", "jitter", "strong", "mono", "none")  # looks that are the same edit on any photo (not "segment")
FAST_CHECK_DRAFT = (1, 1)  # scan_images decodes JPEGs at their smallest scale (1/8): still a full read of the file
DATA_ENV = "RECOLOR_DATA"  # environment variable naming the data root
# The data root of training and evaluation: $RECOLOR_DATA, else the `shared/data` folder beside a source checkout.
DATA_ROOT = Path(os.environ.get(DATA_ENV, Path(__file__).resolve().parents[2] / "shared" / "data"))
VAL_FRACTION = 0.1  # share of each photo source held out of training (validation, and the evaluation's "val" split)
SPLIT_SEED = 0  # seed of that split: fixed, so training and evaluation hold out the same photos
SPLITS = ("all", "train", "val")
CROP_SCALE = (0.25, 1.0)  # random crops: area fraction before resizing
RELATED_SCALE = (0.2, 0.5)  # the two low-overlap crops of a related pair: area fraction each
CROP_RATIO = (3 / 4, 4 / 3)  # random crops and reference warps: aspect range
CONTENT_LOOK_STRENGTH = 0.5  # strength of the mild global Look sometimes put on the input / content
FLIP_PROB = 0.5  # chance that a stage 3 reference is mirrored
MAX_SIDE = 512  # photos are decoded downscaled to this long side


def unreadable(path: Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> str | None:
    """Why an image file cannot be used for training, or None when it decodes and is at most ``max_pixels``."""
    try:
        with open_image(path, "photo") as im:
            decode(im, "photo", max_pixels, draft=FAST_CHECK_DRAFT)
    except ValueError as err:
        return str(err)
    return None


def scan_images(root: str | os.PathLike,
                max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[list[Path], dict[Path, str]]:
    """Image files under root (recursive), sorted by path -> (usable ones, {skipped file: why}).

    Corrupt, truncated and over-``max_pixels`` files are skipped (see ``unreadable``), each logged once.
    """
    paths, skipped = [], {}
    for p in sorted(Path(root).rglob("*")):
        if p.suffix.lower() not in IMAGE_EXTS or not p.is_file():
            continue
        reason = unreadable(p, max_pixels)
        if reason is None:
            paths.append(p)
        else:
            skipped[p] = reason
            logger.warning(f"skipped {p}: {reason}")
    return paths, skipped


def list_images(root: str | os.PathLike) -> list[Path]:
    """All readable images under root (recursive), sorted by path; the others are skipped (see ``scan_images``)."""
    return scan_images(root)[0]


def split_train_val(paths: list[Path], val_fraction: float = VAL_FRACTION, seed: int = SPLIT_SEED,
                    root: str | os.PathLike | None = None) -> tuple[list[Path], list[Path]]:
    """Deterministic (train, val) split holding out val_fraction of EACH top-level subfolder (n_val rounded half up).

    Subfolders are taken relative to root (default: the common parent of all paths); within each, the images with
    the smallest md5(seed, relative path) go to val, so the split does not depend on the order of paths.
    Both lists keep the order of paths.
    """
    paths = [Path(p) for p in paths]
    if not paths:
        return [], []
    root = Path(root) if root is not None else Path(os.path.commonpath([p.parent for p in paths]))
    groups: dict[str, list[tuple[str, Path]]] = {}
    for p in paths:
        rel = p.relative_to(root).as_posix()
        key = hashlib.md5(f"{seed}:{rel}".encode()).hexdigest()
        groups.setdefault(rel.split("/")[0] if "/" in rel else "", []).append((key, p))
    val = set()
    for group in groups.values():
        val.update(p for _, p in sorted(group)[:math.floor(val_fraction * len(group) + 0.5)])
    return [p for p in paths if p not in val], [p for p in paths if p in val]


def photo_split(root: str | os.PathLike, split: str = "all", val_fraction: float = VAL_FRACTION) -> list[Path]:
    """The usable photos under root (list_images) of one split: "all", or the "train" / "val" part of
    split_train_val(photos, val_fraction, SPLIT_SEED), the split the training scripts hold out."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}, expected one of {SPLITS}")
    paths = list_images(root)
    if split == "all":
        return paths
    train, val = split_train_val(paths, val_fraction, SPLIT_SEED)
    return val if split == "val" else train


def to_gray(img: np.ndarray) -> np.ndarray:
    """(H, W, 3) -> (H, W, 3) with the luma in all three channels."""
    return np.repeat((img @ GRAY)[..., None], 3, -1).clip(0, 1)


def random_box(h: int, w: int, rng: np.random.Generator, scale: tuple[float, float] = CROP_SCALE,
               ratio: tuple[float, float] = CROP_RATIO) -> tuple[int, int, int, int]:
    """RandomResizedCrop-style box (top, left, height, width): area fraction uniform in scale, log-uniform aspect."""
    area = h * w * rng.uniform(*scale)
    aspect = math.exp(rng.uniform(math.log(ratio[0]), math.log(ratio[1])))
    bw = min(w, max(1, round(math.sqrt(area * aspect))))
    bh = min(h, max(1, round(math.sqrt(area / aspect))))
    return int(rng.integers(h - bh + 1)), int(rng.integers(w - bw + 1)), bh, bw


def box_iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Intersection over union of two (top, left, height, width) boxes."""
    dy = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    dx = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = dy * dx
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def low_overlap_boxes(h: int, w: int, rng: np.random.Generator, max_iou: float = 0.2,
                      scale: tuple[float, float] = RELATED_SCALE, ratio: tuple[float, float] = CROP_RATIO,
                      tries: int = 20) -> tuple[tuple[int, int, int, int], tuple[int, int, int, int]]:
    """Two random boxes of one image with IoU <= max_iou; after ``tries`` misses, its two halves (long side)."""
    for _ in range(tries):
        a, b = random_box(h, w, rng, scale, ratio), random_box(h, w, rng, scale, ratio)
        if box_iou(a, b) <= max_iou:
            return a, b
    if w >= h:
        return (0, 0, h, w // 2), (0, w // 2, h, w - w // 2)
    return (0, 0, h // 2, w), (h // 2, 0, h - h // 2, w)


def crop_resize(img: np.ndarray, box: tuple[int, int, int, int], size: int) -> np.ndarray:
    """(H, W, 3) float32, box (top, left, height, width) -> (size, size, 3) float32 (antialiased bilinear)."""
    top, left, bh, bw = box
    x = image_to_tensor(img[top:top + bh, left:left + bw])[None]
    x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return x[0].permute(1, 2, 0).clamp(0, 1).numpy()


def _homography(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """3x3 projective map taking the 4 points src (4, 2) to dst (4, 2)."""
    a, b = [], []
    for (x, y), (u, v) in zip(src, dst):
        a += [[x, y, 1, 0, 0, 0, -u * x, -u * y], [0, 0, 0, x, y, 1, -v * x, -v * y]]
        b += [u, v]
    return np.append(np.linalg.solve(np.array(a), np.array(b)), 1.0).reshape(3, 3)


def random_warp(img: np.ndarray, rng: np.random.Generator, area: tuple[float, float] = (0.5, 1.0),
                ratio: tuple[float, float] = CROP_RATIO, perspective: float = 0.1,
                flip_prob: float = FLIP_PROB) -> np.ndarray:
    """Pixel-unaligned view of img (H, W, 3) float32 -> (H, W, 3) float32.

    A random crop (area fraction uniform in `area`, log-uniform aspect in `ratio`) whose corners are each moved by
    up to `perspective` x the crop size (a small perspective warp), mirrored with flip_prob, resampled to (H, W).
    """
    H, W = img.shape[:2]
    a = rng.uniform(*area)
    aspect = math.exp(rng.uniform(math.log(ratio[0]), math.log(ratio[1])))
    sw, sh = min(1.0, math.sqrt(a * aspect)), min(1.0, math.sqrt(a / aspect))  # half-sizes in [-1, 1] coordinates
    cx, cy = rng.uniform(sw - 1, 1 - sw), rng.uniform(sh - 1, 1 - sh)
    out_corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], np.float64)
    src = np.array([cx, cy]) + out_corners * [sw, sh]
    src = np.clip(src + rng.uniform(-perspective, perspective, (4, 2)) * [2 * sw, 2 * sh], -1, 1)
    if rng.random() < flip_prob:
        src = src[[1, 0, 3, 2]]
    hom = _homography(out_corners, src)
    ys, xs = np.meshgrid((2 * np.arange(H) + 1) / H - 1, (2 * np.arange(W) + 1) / W - 1, indexing="ij")
    pts = np.stack([xs, ys, np.ones_like(xs)], -1) @ hom.T
    grid = torch.from_numpy((pts[..., :2] / pts[..., 2:]).astype(np.float32))[None]
    out = F.grid_sample(image_to_tensor(img)[None], grid, mode="bilinear", padding_mode="border", align_corners=False)
    return out[0].permute(1, 2, 0).clamp(0, 1).numpy()


class FiveKPairs:
    """MIT-Adobe FiveK (input, expert) pairs from root/input/NAME.jpg and root/<expert>/NAME.jpg.

    pairs[i] -> (input, expert): (H, W, 3) float32 in [0, 1] (``arrays(i)``: uint8), expert resized to the input's size (some pairs differ
    by 1-2 px). Decoded images are cached in memory when cache=True.
    """

    def __init__(self, root: str | os.PathLike, expert: str = "expertC", max_side: int | None = MAX_SIDE,
                 cache: bool = True):
        root = Path(root)
        self.inputs = [p for p in list_images(root / "input") if (root / expert / p.name).is_file()]
        self.experts = [root / expert / p.name for p in self.inputs]
        self.names = [p.stem for p in self.inputs]
        self.max_side, self.cache = max_side, cache
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def __len__(self) -> int:
        return len(self.inputs)

    def _load(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        a = load_array(self.inputs[i], self.max_side)
        b = load_image(self.experts[i]).resize((a.shape[1], a.shape[0]), Image.LANCZOS)
        return a, np.asarray(b)

    def arrays(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """pairs[i] as decoded: (input, expert) (H, W, 3) uint8."""
        pair = self._cache[i] if i in self._cache else self._load(i)
        if self.cache:
            self._cache[i] = pair
        return pair

    def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        content, expert = self.arrays(i)
        return to_float(content), to_float(expert)


RELATED_MIX = {"segment": 0.35, "strong": 0.25, "mono": 0.15, "global": 0.15, "none": 0.1}  # related pairs


class SeededDataset(Dataset):
    """A dataset whose sample i of epoch e draws from ``rng(i)`` = np.random.default_rng([seed, e, i]): the same
    sample for the same (seed, epoch, index), new crops and looks each epoch (``set_epoch``)."""

    def __init__(self, seed: int = 0):
        self.seed, self.epoch = seed, 0

    def set_epoch(self, epoch: int) -> None:
        """Draw new random crops / looks for every index (call once per epoch)."""
        self.epoch = epoch

    def rng(self, i: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch, i])


class RelatedPairDataset(SeededDataset):
    """Content-related pairs with exact ground truth: one look over a whole photo, then two low-overlap crops.

    content = crop A of the photo, reference = crop B of the edited photo (flipped with ``flip_prob``), target =
    crop A of the edited photo. A "segment" look gives each unsupervised region of the whole photo its own edit, so
    the same region has the same look in both crops and the right colour depends on which region matches; the
    crops cover different parts, so each side has content the other lacks; "mono" references are grey or
    monochrome-tinted. Sample ``i`` of epoch ``e`` draws from np.random.default_rng([seed, e, i]); images are
    float32 tensors (3, R, R) in [0, 1].

    With chance ``cross_prob`` and a look that is the same edit on any photo (CROSS_KINDS but "none"), the
    reference is instead a crop of ANOTHER photo under the look: similar looks over different scenes, as in
    exemplar pairs of different photos.

    Args: paths: image files; resolution: output side R; seed; mix: {look kind: weight} [RELATED_MIX];
    max_iou: largest IoU of the two crops [0.2]; scale: crop area range [(0.2, 0.5)]; flip_prob [0.5];
    cross_prob [0.0]; max_side: photos decoded downscaled to this long side [512].
    """

    def __init__(self, paths: list[Path], resolution: int = 256, seed: int = 0, mix: dict[str, float] | None = None,
                 max_iou: float = 0.2, scale: tuple[float, float] = RELATED_SCALE, flip_prob: float = FLIP_PROB,
                 cross_prob: float = 0.0, max_side: int | None = MAX_SIDE):
        mix = mix or RELATED_MIX
        super().__init__(seed)
        self.paths, self.resolution = list(paths), resolution
        self.kinds, self.kind_probs = list(mix), np.array(list(mix.values())) / sum(mix.values())
        self.max_iou, self.scale, self.flip_prob, self.max_side = max_iou, scale, flip_prob, max_side
        self.cross_prob = cross_prob

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        rng = self.rng(i)
        photo = to_float(load_array(self.paths[i], self.max_side))
        kind = self.kinds[rng.choice(len(self.kinds), p=self.kind_probs)]
        look = random_look(rng, kind)
        edited = look(photo)
        box, other = low_overlap_boxes(*photo.shape[:2], rng, self.max_iou, self.scale)
        reference = crop_resize(edited, other, self.resolution)
        if kind in CROSS_KINDS and kind != "none" and len(self) > 1 and rng.random() < self.cross_prob:
            second = to_float(load_array(self.paths[(i + 1 + int(rng.integers(len(self) - 1))) % len(self)],
                                         self.max_side))
            reference = look(crop_resize(second, random_box(*second.shape[:2], rng, self.scale), self.resolution))
        if rng.random() < self.flip_prob:
            reference = np.ascontiguousarray(reference[:, ::-1])
        return {"content": image_to_tensor(crop_resize(photo, box, self.resolution)),
                "reference": image_to_tensor(reference), "target": image_to_tensor(crop_resize(edited, box,
                                                                                               self.resolution))}


def time_lapse_scenes(root: str | os.PathLike, scenes: list[str] | None = None) -> dict[str, list[Path]]:
    """A time-lapse folder (one sub-folder of aligned frames per scene) -> {scene name: its frames} for the scenes
    named in ``scenes`` (default all); a ValueError names a missing folder or scene."""
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"time-lapse folder {root} not found (one folder of frames per scene)")
    folders = {p.name: p for p in sorted(root.iterdir()) if p.is_dir() and (scenes is None or p.name in scenes)}
    missing = sorted(set(scenes or ()) - set(folders))
    if missing:
        raise ValueError(f"{root}: no scene folder {missing}")
    return {name: list_images(folder) for name, folder in folders.items()}


def frame_pair(frames: list[Path], rng: np.random.Generator,
               max_side: int | None = MAX_SIDE) -> tuple[np.ndarray, np.ndarray]:
    """Two different frames of one scene, drawn by ``rng``, as (H, W, 3) uint8 arrays (a ValueError when their sizes
    differ: a scene's frames are aligned)."""
    first, second = rng.choice(len(frames), 2, replace=False)
    before, after = load_array(frames[first], max_side), load_array(frames[second], max_side)
    if before.shape != after.shape:
        raise ValueError(f"{frames[first]} and {frames[second]}: frames of one scene must have one size")
    return before, after


class TimeLapsePairs(SeededDataset):
    """Exemplar pairs with natural ground truth from fixed-camera time-lapses (a city by day and at dusk).

    ``root`` holds one folder per scene of aligned frames of one size. Sample i takes scene i mod n_scenes and two
    of its frames a != b: the content is a crop of frame a, the reference a low-overlap crop (IoU <= ``max_iou``)
    of frame b, mirrored with chance ``flip_prob``, and the target the content's crop of frame b, so the right
    colour is the scene's other time of day region by region, as in DPST pairs, with exact ground truth. Sample i
    of epoch e draws from np.random.default_rng([seed, e, i]); images are float32 tensors (3, R, R) in [0, 1].

    Args: root; resolution R [256]; seed; scenes: folder names to use [all]; max_iou [0.3]; scale: crop area
    range [(0.25, 0.6)]; flip_prob [0.5]; max_side: frames decoded downscaled to this long side [512]; grey_prob:
    chance that frame b is seen in black and white (reference and target grey) [0].
    """

    def __init__(self, root: str | os.PathLike, resolution: int = 256, seed: int = 0,
                 scenes: list[str] | None = None, max_iou: float = 0.3, scale: tuple[float, float] = (0.25, 0.6),
                 flip_prob: float = FLIP_PROB, max_side: int | None = MAX_SIDE, grey_prob: float = 0.0):
        self.scenes = [frames for frames in time_lapse_scenes(root, scenes).values() if len(frames) >= 2]
        if not self.scenes:
            raise ValueError(f"{root}: no scene folder with two or more frames")
        super().__init__(seed)
        self.resolution = resolution
        self.max_iou, self.scale, self.flip_prob, self.max_side = max_iou, scale, flip_prob, max_side
        self.grey_prob = grey_prob

    def __len__(self) -> int:
        return sum(len(frames) for frames in self.scenes)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        rng = self.rng(i)
        frames = self.scenes[i % len(self.scenes)]
        before, after = (to_float(frame) for frame in frame_pair(frames, rng, self.max_side))
        box, other = low_overlap_boxes(*before.shape[:2], rng, self.max_iou, self.scale)
        reference, target = crop_resize(after, other, self.resolution), crop_resize(after, box, self.resolution)
        if rng.random() < self.flip_prob:
            reference = np.ascontiguousarray(reference[:, ::-1])
        if self.grey_prob and rng.random() < self.grey_prob:  # frame b in black and white
            reference, target = to_gray(reference), to_gray(target)
        return {"content": image_to_tensor(crop_resize(before, box, self.resolution)),
                "reference": image_to_tensor(reference), "target": image_to_tensor(target)}


class ColourPairDataset(SeededDataset):
    """Photos -> training samples for one stage (`mode`), float32 tensors (3, resolution, resolution) in [0, 1].

    Args (defaults in brackets):
        paths: image files; resolution: output side [256]; seed: base seed [0]; mode: "jitter" | "reference".
        content_look_prob: chance of a mild global Look (CONTENT_LOOK_STRENGTH) on the input / content [0.3].
        target_mix: {look kind: probability} turning input/content into target [JITTER_MIX / REFERENCE_MIX].
        cross_prob: stage 3, chance that the reference is another photo under the same look, for looks of
            CROSS_KINDS [0.0].
        pair_prob, pair_iou: stage 3, chance that content and reference are two crops of one photo with IoU <=
            pair_iou (reference flipped with FLIP_PROB), for looks of CROSS_KINDS [0.0, 0.2].
        gray_prob: stage 3, chance the content is grayscale (3 equal channels) [0.05].
        fivek, fivek_prob: optional FiveKPairs used instead of a photo with this chance in stages 1 and 3 [None, 0.1]:
            input/content = FiveK input, target = expert retouch (reference = warped expert).
        cache: keep decoded images (MAX_SIDE) in memory [True] (each DataLoader worker keeps its own cache).
    Crops follow ``random_box`` and stage 3 reference warps ``random_warp``, with their defaults.
    """

    def __init__(self, paths: list[Path], resolution: int = 256, seed: int = 0, mode: str = "jitter", *,
                 content_look_prob: float = 0.3, target_mix: dict[str, float] | None = None, cross_prob: float = 0.0,
                 pair_prob: float = 0.0, pair_iou: float = 0.2, gray_prob: float = 0.05,
                 fivek: FiveKPairs | None = None, fivek_prob: float = 0.1, cache: bool = True):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        super().__init__(seed)
        self.paths, self.resolution, self.mode = list(paths), resolution, mode
        self.content_look_prob = content_look_prob
        mix = target_mix or (JITTER_MIX if mode == "jitter" else REFERENCE_MIX)
        self.kinds, self.kind_probs = list(mix), np.array(list(mix.values())) / sum(mix.values())
        self.cross_prob, self.gray_prob, self.fivek, self.fivek_prob = cross_prob, gray_prob, fivek, fivek_prob
        self.pair_prob, self.pair_iou = pair_prob, pair_iou
        self.cache = cache
        self._cache: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.paths)

    def _photo(self, i: int) -> np.ndarray:
        """Photo i as (H, W, 3) float32 in [0, 1]."""
        img = self._cache[i] if i in self._cache else load_array(self.paths[i], MAX_SIDE)
        if self.cache:
            self._cache[i] = img
        return to_float(img)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        rng = self.rng(i)
        look = None  # the target's look, kept when it is the same edit on any photo (CROSS_KINDS)
        pair = False  # content and reference are two crops of one photo
        if self.fivek is not None and rng.random() < self.fivek_prob:
            a, b = self.fivek[int(rng.integers(len(self.fivek)))]
            box = random_box(*a.shape[:2], rng)
            content, target = crop_resize(a, box, self.resolution), crop_resize(b, box, self.resolution)
        else:
            pair = self.mode == "reference" and rng.random() < self.pair_prob
            if pair:
                photo = self._photo(i)
                box, other_box = low_overlap_boxes(*photo.shape[:2], rng, self.pair_iou)
                content, other = (crop_resize(photo, b, self.resolution) for b in (box, other_box))
            else:
                content = self._crop(i, rng)
            if rng.random() < self.content_look_prob and not pair:
                content = Look.random(rng, CONTENT_LOOK_STRENGTH).apply(content)
            kind = self.kinds[rng.choice(len(self.kinds), p=self.kind_probs)]
            edit = random_look(rng, kind)
            target = edit(content)
            look = edit if kind in CROSS_KINDS else None
        if self.mode == "jitter":
            return {"input": image_to_tensor(content), "target": image_to_tensor(target)}
        if look is not None and pair:
            reference = look(np.ascontiguousarray(other[:, ::-1]) if rng.random() < FLIP_PROB else other)
        elif look is not None and len(self) > 1 and rng.random() < self.cross_prob:
            other = (i + 1 + int(rng.integers(len(self) - 1))) % len(self)  # any photo but i
            reference = look(self._crop(other, rng))
        else:
            reference = random_warp(target, rng)
        if rng.random() < self.gray_prob:
            content = to_gray(content)
        return {"content": image_to_tensor(content), "reference": image_to_tensor(reference),
                "target": image_to_tensor(target)}

    def _crop(self, i: int, rng: np.random.Generator) -> np.ndarray:
        """A random crop of photo i, resized to (R, R, 3) float32 in [0, 1]."""
        img = self._photo(i)
        return crop_resize(img, random_box(*img.shape[:2], rng), self.resolution)
