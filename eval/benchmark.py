"""Benchmarks of DESIGN §6: pairs (with ground truth by construction where there is one), runs and contact sheets.

- preset_pairs, fivek_pairs, dpst_pairs: the no-harm checks and the DPST contact sheet;
- dpst_oracle_pairs (mask_oracle; grey=True: grey references), halves_pairs (strong_eval_look), halves_local_pairs
  (a segment-local look over the whole photo): ground truth for content-related references;
- reference_sensitivity: how much the output depends on the reference;
- click_benchmark (click_case, click_scores): how far a click moves a region toward the clicked colour;
- mask_benchmark (mask_case, mask_scores): how far painting a content class and a reference class moves the content
  class toward the reference class's colour, beside the click of click_benchmark on the same pair.
"""

from __future__ import annotations

import math
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw
from scipy.ndimage import distance_transform_edt
from skimage.color import deltaE_ciede2000, rgb2lab
from tqdm import tqdm

from eval.methods import PIPELINE_METHODS, Method
from eval.report import METRICS
from recolor_hf.data import FiveKPairs, frame_pair, time_lapse_scenes, to_gray
from recolor_hf.guidance import Guidance
from recolor_hf.image_io import load_array, to_float, to_uint8
from recolor_hf.looks import LocalLook, Look, random_look
from recolor_hf.metrics import ciede2000, evaluate_pair
from recolor_hf.oracle import MIN_AREA, large_classes, mask_oracle

SENSITIVITY_METRICS = ("reference_change", "content_change")
CLICK_METRICS = ("moved", "keep_change", "rest_change")
MASK_METRICS = ("moved", "rest_change")

CLICK_RADIUS = 0.1  # click / keep regions: their class's pixels within this share of the image diagonal
STRONG_KINDS = ("dusk", "warm", "cool", "saturated", "desaturated", "local")  # strong_eval_look kinds
MILD_KINDS = ("global", "local")  # random_look kinds, as in the preset benchmark


@dataclass
class Pair:
    """One test case: re-colour `content` after `reference`; `target` is the ground truth, if any."""

    name: str
    part: str
    content: np.ndarray
    reference: np.ndarray
    target: np.ndarray | None = None


def apply_look(look: Callable[[np.ndarray], np.ndarray], image: np.ndarray) -> np.ndarray:
    """Apply a float [0, 1] look to a uint8 image, returning uint8."""
    return to_uint8(look(to_float(image)))


def preset_pairs(
    paths: list[Path], num_pairs: int, seed: int, max_side: int | None = None
) -> Iterator[Pair]:
    """Seeded preset pairs: content A, reference P(B), target P(A) for two different photos A, B.

    Pairs alternate between global and local looks P; pair i depends only on (seed, i).
    """
    if len(paths) < 2:
        raise ValueError(f"need at least 2 photos, got {len(paths)}")
    for i in range(num_pairs):
        rng = np.random.default_rng([seed, i])
        kind = ("global", "local")[i % 2]
        a, b = rng.choice(len(paths), size=2, replace=False)
        look = random_look(rng, kind)
        photo_a, photo_b = load_array(paths[a], max_side), load_array(paths[b], max_side)
        yield Pair(
            name=f"{i:03d}_{paths[a].stem}_{paths[b].stem}",
            part=kind,
            content=photo_a,
            reference=apply_look(look, photo_b),
            target=apply_look(look, photo_a),
        )


def fivek_pairs(root: Path, seed: int, expert: str = "C", max_side: int | None = None) -> Iterator[Pair]:
    """FiveK pairs: content input X, reference the expert's retouch of another photo, target the
    expert's retouch of X (at X's size). The other photo is drawn with `seed`."""
    fivek = FiveKPairs(root, f"expert{expert}", max_side, cache=False)
    rng = np.random.default_rng(seed)
    for i in range(len(fivek)):
        j = (i + 1 + rng.integers(len(fivek) - 1)) % len(fivek)  # any index but i
        content, target = fivek.arrays(i)
        yield Pair(
            name=f"{fivek.names[i]}_{fivek.names[j]}",
            part="fivek",
            content=content,
            reference=load_array(fivek.experts[j], max_side),
            target=target,
        )


def dpst_pairs(root: Path, max_side: int | None = None) -> Iterator[Pair]:
    """DPST pairs content/inN.png + reference/tarN.png, by N; no ground truth."""
    contents = sorted((root / "content").glob("in*.png"), key=lambda path: int(path.stem[2:]))
    for path in contents:
        reference_path = root / "reference" / f"tar{path.stem[2:]}.png"
        if reference_path.exists():
            yield Pair(path.stem, "dpst", load_array(path, max_side), load_array(reference_path, max_side))


def mask_labels(path: Path, size: tuple[int, int]) -> np.ndarray:
    """A colour-coded DPST mask -> (H, W) int class map, resized to PIL `size` (W, H) with NEAREST.

    A class is a mask colour with each channel snapped to 0, 128 or 255: the masks hold thousands of distinct
    colours (anti-aliased edges, near-duplicates such as (1, 1, 1) beside black or a ramp of near-whites), and
    exact colours would split one painted class into many.
    """
    with Image.open(path) as mask:
        rgb = np.asarray(mask.convert("RGB").resize(size, Image.NEAREST))
    return np.rint(rgb / 127.5).astype(np.int64) @ np.array([9, 3, 1])


def dpst_labelled(root: Path, max_side: int | None = 512) -> Iterator[tuple[Pair, np.ndarray, np.ndarray]]:
    """DPST pairs with their class maps from masks/inN.png and masks/tarN.png (see mask_labels)."""
    for pair in dpst_pairs(root, max_side):
        number = pair.name[2:]
        content_mask, reference_mask = (mask_labels(root / "masks" / f"{stem}{number}.png", image.shape[1::-1])
                                        for stem, image in (("in", pair.content), ("tar", pair.reference)))
        yield pair, content_mask, reference_mask


def dpst_oracle_pairs(root: Path, max_side: int | None = 512, grey: bool = False) -> Iterator[Pair]:
    """DPST pairs with the mask-oracle target (mask_oracle). grey: each reference converted to grey (3 equal
    channels, recolor_hf.data.to_gray) first, so the target is the oracle with the grey reference; part "grey"."""
    for pair, content_mask, reference_mask in dpst_labelled(root, max_side):
        if grey:
            pair.reference, pair.part = to_uint8(to_gray(to_float(pair.reference))), "grey"
        pair.target = mask_oracle(pair.content, pair.reference, content_mask, reference_mask)
        yield pair


def strong_grade(rng: np.random.Generator, kind: str) -> Look:
    """A DPST-strength global grade of one kind (parameters drawn within the kind's ranges)."""
    u = rng.uniform
    if kind == "dusk":  # darker, blue shadows, orange highlights
        return Look(tone=(0.0, -u(0.1, 0.18), -u(0.15, 0.25), -u(0.12, 0.22), -u(0.05, 0.2)),
                    temperature=-u(0.1, 0.3), saturation=u(0, 0.3),
                    shadow_tint=(u(0.58, 0.7), u(0.1, 0.2)), highlight_tint=(u(0.02, 0.1), u(0.15, 0.3)))
    if kind in ("warm", "cool"):
        return Look(temperature=(1 if kind == "warm" else -1) * u(0.35, 0.6), tint=u(-0.1, 0.1), saturation=u(0, 0.3))
    if kind == "saturated":
        return Look(tone=(0.0, -u(0.02, 0.06), 0.0, u(0.02, 0.06), 0.0), saturation=u(0.6, 1.0), vibrance=u(0.2, 0.6))
    if kind == "desaturated":  # faded and muted, a faint highlight tint
        return Look(tone=(u(0.04, 0.1), 0.0, 0.0, 0.0, -u(0.03, 0.08)), saturation=-u(0.55, 0.8),
                    highlight_tint=(u(0, 1), u(0.02, 0.06)))
    raise ValueError(f"unknown strong grade {kind!r}, expected one of {STRONG_KINDS[:-1]}")


def strong_eval_look(rng: np.random.Generator, kind: str) -> Callable[[np.ndarray], np.ndarray]:
    """A seeded DPST-strength look (day -> dusk, warm / cool grades, strongly (de)saturated) as float [0, 1] -> [0, 1].

    A strong_grade of `kind`, or for "local" a LocalLook whose colour ranges (sky / foliage / warm tones / rest) get
    strong grades of random kinds; then a mild random Look (strength 0.5) for variety. Built here, apart from the
    training looks of recolor_hf.looks, so the benchmark does not test on the training distribution.
    """
    if kind == "local":
        regions = LocalLook.random(rng).regions
        kinds = rng.choice(STRONG_KINDS[:-1], len(regions) + 1)
        grade = LocalLook(regions, tuple(strong_grade(rng, str(kind)) for kind in kinds))
    else:
        grade = strong_grade(rng, kind)
    extra = Look.random(rng, 0.5)
    return lambda image: extra.apply(grade.apply(image))


Box = tuple[slice, slice]  # rows, columns of an image


def half_boxes(height: int, width: int, rng: np.random.Generator) -> tuple[Box, Box]:
    """The (A, B) halves of a height × width image: left / right (top / bottom if portrait), in random order."""
    if width >= height:
        halves = (slice(None), slice(None, width // 2)), (slice(None), slice(width // 2, None))
    else:
        halves = (slice(None, height // 2), slice(None)), (slice(height // 2, None), slice(None))
    return halves if rng.random() < 0.5 else halves[::-1]


def halves_pairs(
    paths: list[Path], seed: int, strength: str = "strong", max_side: int | None = None
) -> Iterator[Pair]:
    """Seeded halves pairs: photo i cut into halves A and B (half_boxes); content A, reference P(B), target P(A) for
    one look P: strong_eval_look (strength "strong") or random_look ("mild"), its kind cycling through STRONG_KINDS or
    MILD_KINDS. Pair i depends only on (seed, i)."""
    kinds = STRONG_KINDS if strength == "strong" else MILD_KINDS
    for i, path in enumerate(paths):
        rng = np.random.default_rng([seed, i])
        kind = kinds[i % len(kinds)]
        look = strong_eval_look(rng, kind) if strength == "strong" else random_look(rng, kind)
        photo = load_array(path, max_side)
        a, b = half_boxes(*photo.shape[:2], rng)
        yield Pair(f"{i:03d}_{path.stem}", kind, photo[a], apply_look(look, photo[b]), apply_look(look, photo[a]))


def halves_local_pairs(paths: list[Path], seed: int, max_side: int | None = None) -> Iterator[Pair]:
    """Seeded segment-local halves pairs: one random_look of kind "segment" (recolor_hf.looks.segment_local_augment:
    different looks on unsupervised regions) applied to the whole photo i, so a region gets the same look in both
    halves; then halves A and B (half_boxes): content A of the photo, reference B of the edited photo, target A of the
    edited photo. Pair i depends only on (seed, i); part "segment"."""
    for i, path in enumerate(paths):
        rng = np.random.default_rng([seed, i])
        look = random_look(rng, "segment")
        photo = load_array(path, max_side)
        edited = apply_look(look, photo)
        a, b = half_boxes(*photo.shape[:2], rng)
        yield Pair(f"{i:03d}_{path.stem}", "segment", photo[a], edited[b], edited[a])


def timelapse_pairs(root: Path, scenes: list[str] | None, per_scene: int, seed: int,
                    max_side: int | None = None) -> Iterator[Pair]:
    """Halves of one fixed-camera scene at two times of day (``recolor_hf.data.TimeLapsePairs``' folders: one per
    scene of aligned frames): content half A of frame a, reference half B of frame b, target half A of frame b, so
    the ground truth is the scene's real change of light region by region. ``per_scene`` pairs per scene; pair
    (scene, i) depends only on (seed, the scene's name, i); part: the scene."""
    for name, frames in time_lapse_scenes(root, scenes).items():
        if len(frames) < 2:
            raise ValueError(f"{root / name}: a scene needs two or more frames, found {len(frames)}")
        for i in range(per_scene):
            rng = np.random.default_rng([seed, zlib.crc32(name.encode()), i])
            before, after = frame_pair(frames, rng, max_side)
            a, b = half_boxes(*before.shape[:2], rng)
            yield Pair(f"{name}_{i:02d}", name, before[a], after[b], after[a])


def run_benchmark(
    pairs: Iterable[Pair],
    methods: dict[str, Method],
    total: int | None = None,
    on_pair: Callable[[Pair, dict[str, np.ndarray]], None] | None = None,
) -> pd.DataFrame:
    """Run every method on every pair: one row per pair × method with metrics and seconds.

    Metrics are NaN where a pair has no target or LPIPS is unavailable. `on_pair(pair, outputs)`
    is called after each pair with the methods' outputs.
    """
    rows = []
    for pair in tqdm(pairs, total=total, desc="pairs", unit="pair"):
        outputs = {}
        for name, method in methods.items():
            start = time.perf_counter()
            output = method(pair.content, pair.reference)
            seconds = time.perf_counter() - start
            if output.shape != pair.content.shape or output.dtype != np.uint8:
                raise ValueError(
                    f"method {name!r} returned {output.dtype} {output.shape}, expected uint8 {pair.content.shape}"
                )
            outputs[name] = output
            scores = evaluate_pair(output, pair.target) if pair.target is not None else {}
            rows.append(
                {"pair": pair.name, "part": pair.part, "method": name}
                | {metric: scores.get(metric) for metric in METRICS}
                | {"seconds": seconds}
            )
        if on_pair is not None:
            on_pair(pair, outputs)
    return pd.DataFrame(rows, columns=["pair", "part", "method", *METRICS, "seconds"]).astype(
        {metric: float for metric in (*METRICS, "seconds")}
    )


def swapped_references(pairs: list[Pair], seed: int) -> Iterator[tuple[Pair, Pair]]:
    """Each pair with another pair whose reference is not pixel-identical to its own (drawn with (seed, i))."""
    for i, pair in enumerate(pairs):
        others = [other for other in pairs if not np.array_equal(other.reference, pair.reference)]
        yield pair, others[np.random.default_rng([seed, i]).integers(len(others))]


def reference_sensitivity(
    cases: Iterable[tuple[Pair, Pair]],
    methods: dict[str, Method],
    total: int | None = None,
    on_pair: Callable[[Pair, Pair, dict[str, tuple[np.ndarray, np.ndarray]]], None] | None = None,
) -> pd.DataFrame:
    """For each (pair, other) and method: mean ΔE00 between out(S, R) and out(S, R'), R' = other's reference
    ("reference_change": ~0 for a method that ignores the reference) and between out(S, R) and S ("content_change").
    `on_pair(pair, other, {method: (out(S, R), out(S, R'))})` is called after each case."""
    rows = []
    for pair, other in tqdm(cases, total=total, desc="pairs", unit="pair"):
        outputs = {name: (method(pair.content, pair.reference), method(pair.content, other.reference))
                   for name, method in methods.items()}
        rows += [{"pair": f"{pair.name}_{other.name}", "part": pair.part, "method": name,
                  "reference_change": ciede2000(own, swapped), "content_change": ciede2000(own, pair.content)}
                 for name, (own, swapped) in outputs.items()]
        if on_pair is not None:
            on_pair(pair, other, outputs)
    return pd.DataFrame(rows, columns=["pair", "part", "method", *SENSITIVITY_METRICS])


def delta_e(lab_a: np.ndarray, lab_b: np.ndarray) -> float:
    """ΔE00 between two Lab colours."""
    return float(deltaE_ciede2000(lab_a, lab_b))


def inner_point(region: np.ndarray) -> tuple[int, int]:
    """(row, col) of the region's pixel farthest from its border (the image border counts as one)."""
    distance = distance_transform_edt(np.pad(region, 1))[1:-1, 1:-1]
    row, col = np.unravel_index(distance.argmax(), region.shape)
    return int(row), int(col)


def near(labels: np.ndarray, label: int, point: tuple[int, int]) -> np.ndarray:
    """Pixels of class `label` within CLICK_RADIUS of the image diagonal from `point` (row, col)."""
    rows, cols = np.ogrid[: labels.shape[0], : labels.shape[1]]
    radius = CLICK_RADIUS * np.hypot(*labels.shape)
    return (labels == label) & ((rows - point[0]) ** 2 + (cols - point[1]) ** 2 <= radius**2)


def normalized(point: tuple[int, int], shape: tuple[int, ...]) -> tuple[float, float]:
    """(row, col) pixel of an image of `shape` -> normalised (x, y) of its centre."""
    return (point[1] + 0.5) / shape[1], (point[0] + 0.5) / shape[0]


@dataclass
class ClickCase:
    """One click test (click_case): the clicks and what click_scores measures."""

    guidance: Guidance  # one pair (click -> target) and at most one keep point, normalised (x, y)
    content_lab: np.ndarray  # the content in CIELAB
    region: np.ndarray  # (H, W) bool: the clicked class's pixels near the click
    colour: np.ndarray  # the clicked Lab colour
    keep_region: np.ndarray  # (H, W) bool: the kept class's pixels near the keep point (empty without one)


def click_case(pair: Pair, content_mask: np.ndarray, reference_mask: np.ndarray) -> ClickCase:
    """Clicks on a DPST pair: from a point well inside the largest content class (inner_point) to a point well inside
    the reference class (>= MIN_AREA) whose mean Lab colour is farthest (ΔE00) from the clicked region's; the clicked
    colour is that class's mean near that point; a keep point well inside the largest other content class, if any.
    Regions are a class's pixels near its point (near)."""
    content_lab, reference_lab = rgb2lab(pair.content), rgb2lab(pair.reference)
    classes = large_classes(content_mask)
    click = inner_point(content_mask == classes[0])
    region = near(content_mask, classes[0], click)
    mean = content_lab[region].mean(0)
    label = max(large_classes(reference_mask), key=lambda c: delta_e(reference_lab[reference_mask == c].mean(0), mean))
    target = inner_point(reference_mask == label)
    keep = inner_point(content_mask == classes[1]) if len(classes) > 1 else None
    guidance = Guidance(pairs=[(normalized(click, content_mask.shape), normalized(target, reference_mask.shape))],
                        keep=[] if keep is None else [normalized(keep, content_mask.shape)])
    return ClickCase(
        guidance, content_lab, region,
        colour=reference_lab[near(reference_mask, label, target)].mean(0),
        keep_region=np.zeros_like(region) if keep is None else near(content_mask, classes[1], keep),
    )


def click_scores(case: ClickCase, output: np.ndarray) -> dict[str, float]:
    """"moved": share of the way the clicked region's mean Lab colour moves toward the clicked colour,
    1 - ΔE00(output mean, colour) / ΔE00(content mean, colour); "keep_change" / "rest_change": mean per-pixel ΔE00
    between output and content over the keep region (NaN without one) / over the rest of the image."""
    lab = rgb2lab(output)
    change = deltaE_ciede2000(case.content_lab, lab)
    before = delta_e(case.content_lab[case.region].mean(0), case.colour)
    after = delta_e(lab[case.region].mean(0), case.colour)
    return {
        "moved": 1 - after / max(before, 1e-9),
        "keep_change": float(change[case.keep_region].mean()) if case.keep_region.any() else math.nan,
        "rest_change": float(change[~(case.region | case.keep_region)].mean()),
    }


def guided_methods(methods: dict[str, Method]) -> list[str]:
    """The methods that take clicks (PIPELINE_METHODS), in order; a ValueError if there is none."""
    guided = [name for name in methods if name in PIPELINE_METHODS]
    if not guided:
        raise ValueError("clicks measures the model's guidance: give --pretrained_model_name_or_path DIR "
                         f"(and {' or '.join(map(repr, PIPELINE_METHODS))} in --methods)")
    return guided


def click_benchmark(
    labelled: Iterable[tuple[Pair, np.ndarray, np.ndarray]],
    methods: dict[str, Method],
    total: int | None = None,
    on_pair: Callable[[Pair, ClickCase, dict[str, np.ndarray]], None] | None = None,
) -> pd.DataFrame:
    """Click effect on labelled DPST pairs (dpst_labelled): one row per pair × output with CLICK_METRICS: each
    method's automatic output, then "NAME+click" for each pipeline method (PIPELINE_METHODS: ours, base-only)
    called with the click_case guidance. `on_pair(pair, case, outputs)` is called after each pair."""
    guided = guided_methods(methods)
    rows = []
    for pair, content_mask, reference_mask in tqdm(labelled, total=total, desc="pairs", unit="pair"):
        case = click_case(pair, content_mask, reference_mask)
        outputs = {name: method(pair.content, pair.reference) for name, method in methods.items()}
        outputs |= {f"{name}+click": methods[name](pair.content, pair.reference, guidance=case.guidance)
                    for name in guided}
        rows += [{"pair": pair.name, "part": pair.part, "method": name} | click_scores(case, output)
                 for name, output in outputs.items()]
        if on_pair is not None:
            on_pair(pair, case, outputs)
    return pd.DataFrame(rows, columns=["pair", "part", "method", *CLICK_METRICS])


def fit_cell(image: np.ndarray, height: int = 160) -> np.ndarray:
    """Downscale an image to fit a contact-sheet cell of height × 1.5·height (never upscales)."""
    cell = Image.fromarray(image)
    cell.thumbnail((round(height * 1.5), height), Image.LANCZOS)
    return np.asarray(cell)


def contact_sheet(rows: list[list[np.ndarray]], labels: list[str], height: int = 160) -> Image.Image:
    """Grid image under a header of column labels: one row per list of images, each image
    centred in a height × 1.5·height cell."""
    width, header = round(height * 1.5), 20
    sheet = Image.new("RGB", (width * len(labels), header + height * len(rows)), (32, 32, 32))
    draw = ImageDraw.Draw(sheet)
    for column, label in enumerate(labels):
        draw.text((column * width + 4, 4), label, fill=(235, 235, 235))
    for r, images in enumerate(rows):
        for column, image in enumerate(images):
            cell = fit_cell(image, height)
            x = column * width + (width - cell.shape[1]) // 2
            y = header + r * height + (height - cell.shape[0]) // 2
            sheet.paste(Image.fromarray(cell), (x, y))
    return sheet


def mark_points(image: np.ndarray, points: list[tuple[float, float]], colour: tuple[int, int, int]) -> np.ndarray:
    """A copy of the image with a ring at each normalised (x, y) point (contact sheets of the clicks benchmark)."""
    marked = Image.fromarray(image)
    draw, radius = ImageDraw.Draw(marked), max(4, max(marked.size) // 40)
    for x, y in points:
        centre = (x * marked.width, y * marked.height)
        draw.ellipse([centre[0] - radius, centre[1] - radius, centre[0] + radius, centre[1] + radius],
                     outline=colour, width=max(2, radius // 3))
    return np.asarray(marked)


@dataclass
class MaskCase:
    """One painted-region test (mask_case): the painted masks and what mask_scores measures."""

    guidance: Guidance  # the painted content class and reference class
    content_lab: np.ndarray  # the content in CIELAB
    region: np.ndarray  # (H, W) bool: the painted content class
    colour: np.ndarray  # the painted reference class's mean Lab colour


def mask_case(pair: Pair, content_mask: np.ndarray, reference_mask: np.ndarray) -> MaskCase:
    """Painted regions on a DPST pair: the largest content class, and the reference class (>= MIN_AREA) whose mean Lab
    colour is farthest (ΔE00) from that class's, as click_case chooses its click."""
    content_lab, reference_lab = rgb2lab(pair.content), rgb2lab(pair.reference)
    region = content_mask == large_classes(content_mask)[0]
    mean = content_lab[region].mean(0)
    label = max(large_classes(reference_mask), key=lambda c: delta_e(reference_lab[reference_mask == c].mean(0), mean))
    painted = reference_mask == label
    return MaskCase(Guidance(content_mask=region, reference_mask=painted), content_lab, region,
                    reference_lab[painted].mean(0))


def mask_scores(case: MaskCase, output: np.ndarray) -> dict[str, float]:
    """"moved": share of the way the painted content region's mean Lab colour moves toward the painted reference
    region's, 1 - ΔE00(output mean, colour) / ΔE00(content mean, colour); "rest_change": mean per-pixel ΔE00 between
    output and content outside the painted region."""
    lab = rgb2lab(output)
    before = delta_e(case.content_lab[case.region].mean(0), case.colour)
    after = delta_e(lab[case.region].mean(0), case.colour)
    return {"moved": 1 - after / max(before, 1e-9),
            "rest_change": float(deltaE_ciede2000(case.content_lab, lab)[~case.region].mean())}


def mask_benchmark(
    labelled: Iterable[tuple[Pair, np.ndarray, np.ndarray]],
    methods: dict[str, Method],
    total: int | None = None,
    on_pair: Callable[[Pair, MaskCase, ClickCase, dict[str, np.ndarray]], None] | None = None,
) -> pd.DataFrame:
    """Painted-region effect on labelled DPST pairs (dpst_labelled): one row per pair × output with MASK_METRICS: each
    method's automatic output and "NAME+masks" for each pipeline method called with the mask_case guidance, scored by
    mask_scores; then "NAME+click" with the click_case guidance of the same pair, scored by click_scores (its "moved"
    toward the clicked colour, its "rest_change" outside the click and keep regions). `on_pair(pair, case, click,
    outputs)` is called after each pair."""
    guided = guided_methods(methods)
    rows = []
    for pair, content_mask, reference_mask in tqdm(labelled, total=total, desc="pairs", unit="pair"):
        case, click = mask_case(pair, content_mask, reference_mask), click_case(pair, content_mask, reference_mask)
        outputs = {name: method(pair.content, pair.reference) for name, method in methods.items()}
        outputs |= {f"{name}+masks": methods[name](pair.content, pair.reference, guidance=case.guidance)
                    for name in guided}
        rows += [{"pair": pair.name, "part": pair.part, "method": name} | mask_scores(case, output)
                 for name, output in outputs.items()]
        clicked = {f"{name}+click": methods[name](pair.content, pair.reference, guidance=click.guidance)
                   for name in guided}
        rows += [{"pair": pair.name, "part": pair.part, "method": name}
                 | {metric: click_scores(click, output)[metric] for metric in MASK_METRICS}
                 for name, output in clicked.items()]
        if on_pair is not None:
            on_pair(pair, case, click, outputs | clicked)
    return pd.DataFrame(rows, columns=["pair", "part", "method", *MASK_METRICS])
