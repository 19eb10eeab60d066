"""Datasets: listing, split, determinism, shapes / ranges of every stage, reference misalignment, FiveK pairs."""
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from conftest import SHARED_DATA, bomb_png
from recolor_hf.data import (MODES, SPLIT_SEED, VAL_FRACTION, ColourPairDataset, FiveKPairs, RelatedPairDataset,
                             TimeLapsePairs, box_iou, list_images, low_overlap_boxes, photo_split, random_warp,
                             scan_images, split_train_val)

KEYS = {"jitter": {"input", "target"}, "reference": {"content", "reference", "target"}}


def blocks(seed: int, size: tuple[int, int] = (72, 48)) -> Image.Image:
    """Random colour blocks (sharp structure, so misalignment is measurable) with some noise."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    img = np.asarray(Image.fromarray(coarse).resize(size, Image.NEAREST)).astype(np.float32)
    return Image.fromarray((img + rng.normal(0, 8, img.shape)).clip(0, 255).astype(np.uint8))


@pytest.fixture(scope="module")
def photo_dir(tmp_path_factory) -> Path:
    """Two sources: a/ with 20 photos (some in a nested folder), b/ with 10; plus corrupt, truncated and text files."""
    root = tmp_path_factory.mktemp("photos")
    for i in range(30):
        path = root / ("a" if i < 20 else "b") / ("deep" if i % 7 == 0 else "") / f"{i:02d}.{'png' if i % 3 else 'jpg'}"
        path.parent.mkdir(parents=True, exist_ok=True)
        blocks(i, (72 + i, 48 + 2 * i)).save(path)
    (root / "a" / "broken.jpg").write_bytes(b"not an image")
    jpeg = (root / "a" / "deep" / "00.jpg").read_bytes()
    (root / "a" / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    (root / "b" / "notes.txt").write_text("hello")
    return root


@pytest.fixture(scope="module")
def fivek_dir(tmp_path_factory) -> Path:
    """3 input/expertC pairs (one differing by 1 px in size) plus an expert without input."""
    root = tmp_path_factory.mktemp("fivek")
    (root / "input").mkdir()
    (root / "expertC").mkdir()
    for i in range(3):
        blocks(100 + i).save(root / "input" / f"a{i:04d}.jpg")
        blocks(100 + i).resize((73 if i == 1 else 72, 48)).save(root / "expertC" / f"a{i:04d}.jpg")
    blocks(200).save(root / "expertC" / "a9999.jpg")
    return root


def test_list_images(photo_dir):
    paths = list_images(photo_dir)
    assert len(paths) == 30 and paths == sorted(paths)
    assert not any(p.name in ("broken.jpg", "truncated.jpg", "notes.txt") for p in paths)


def test_scan_images_skips_bombs_and_logs_each_bad_file_once(photo_dir, tmp_path, caplog):
    (tmp_path / "bomb.png").write_bytes(bomb_png(15000, 15000))  # Pillow refuses it when opening
    (tmp_path / "big.png").write_bytes(bomb_png(9000, 8000))  # 72 MP: over the default pixel limit
    blocks(1).save(tmp_path / "fine.png")
    (tmp_path / "cut.jpg").write_bytes((photo_dir / "a" / "truncated.jpg").read_bytes())
    with caplog.at_level("WARNING", logger="recolor_hf.data"):
        paths, skipped = scan_images(tmp_path)
    assert paths == [tmp_path / "fine.png"]
    assert "decompression bomb" in skipped[tmp_path / "bomb.png"]
    assert "9000x8000 = 72,000,000 pixels, over the pixel limit" in skipped[tmp_path / "big.png"]
    assert "truncated" in skipped[tmp_path / "cut.jpg"]
    for path in skipped:
        assert sum(f"skipped {path}: " in record.message for record in caplog.records) == 1


def test_split_per_source_and_deterministic(photo_dir):
    paths = list_images(photo_dir)
    train, val = split_train_val(paths, 0.1, seed=0)
    assert sorted(train + val) == paths and not set(train) & set(val)
    assert Counter(p.relative_to(photo_dir).parts[0] for p in val) == {"a": 2, "b": 1}
    assert split_train_val(list(reversed(paths)), 0.1, seed=0)[1] == sorted(val, reverse=True)
    assert split_train_val(paths, 0.1, seed=0) == (train, val)
    assert split_train_val(paths, 0.1, seed=1)[1] != val
    assert split_train_val(paths, 0.1, seed=0, root=photo_dir) == (train, val)


def test_photo_split_is_the_training_split(photo_dir):
    train, val = split_train_val(list_images(photo_dir), VAL_FRACTION, SPLIT_SEED)
    assert (photo_split(photo_dir, "train"), photo_split(photo_dir, "val")) == (train, val) and val
    assert photo_split(photo_dir) == list_images(photo_dir)
    assert photo_split(photo_dir, "val", val_fraction=0.5) != val
    with pytest.raises(ValueError, match="unknown split 'test'"):
        photo_split(photo_dir, "test")


@pytest.mark.parametrize("mode", MODES)
def test_samples_shapes_ranges_determinism(photo_dir, mode):
    paths = list_images(photo_dir)[:6]
    ds = ColourPairDataset(paths, 32, seed=0, mode=mode)
    other = ColourPairDataset(paths, 32, seed=1, mode=mode, cache=False)
    for i in range(len(ds)):
        sample = ds[i]
        assert set(sample) == KEYS[mode]
        for x in sample.values():
            assert x.shape == (3, 32, 32) and x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1
        again = ColourPairDataset(paths, 32, seed=0, mode=mode)[i]
        assert all(torch.equal(sample[k], again[k]) for k in sample)
        assert not torch.equal(sample[min(sample)], other[i][min(sample)])
    ds.set_epoch(1)
    assert not torch.equal(ds[0][min(KEYS[mode])], ColourPairDataset(paths, 32, seed=0, mode=mode)[0][min(KEYS[mode])])


def test_targets_differ_from_inputs(photo_dir):
    paths = list_images(photo_dir)[:6]
    ds = ColourPairDataset(paths, 32, mode="jitter")
    assert all((ds[i]["target"] - ds[i]["input"]).abs().mean() > 1e-3 for i in range(len(ds)))


def test_reference_unaligned_with_similar_colours(photo_dir):
    paths = list_images(photo_dir)
    ds = ColourPairDataset(paths, 48, mode="reference", gray_prob=0.0)
    pixel, stats = [], []
    for i in range(len(ds)):
        s = ds[i]
        pixel.append((s["reference"] - s["target"]).abs().mean().item())
        stats.append((s["reference"].mean((1, 2)) - s["target"].mean((1, 2))).abs().max().item())
    assert np.median(pixel) > 3 * np.median(stats)
    assert np.median(pixel) > 0.08 and np.median(stats) < 0.05


@pytest.mark.parametrize("kind", ["global", "local", "jitter", "none", "segment"])
def test_cross_photo_reference(tmp_path, kind):
    """cross_prob=1: the reference is the OTHER photo under the target's look (only for looks that are the same edit
    on any photo); cross_prob=0: the reference is a view of the target."""
    colours = np.array([[200, 120, 60], [50, 90, 210]], np.uint8)  # orange, blue: uniform photos
    for k, colour in enumerate(colours):
        Image.fromarray(np.broadcast_to(colour, (40, 60, 3)).copy()).save(tmp_path / f"{k}.png")
    options = dict(mode="reference", target_mix={kind: 1.0}, content_look_prob=0.0, gray_prob=0.0)
    for i in range(2):
        for seed in range(3):
            same = ColourPairDataset(list_images(tmp_path), 16, seed=seed, cross_prob=0.0, **options)[i]
            cross = ColourPairDataset(list_images(tmp_path), 16, seed=seed, cross_prob=1.0, **options)[i]
            assert torch.equal(same["content"], cross["content"]) and torch.equal(same["target"], cross["target"])
            def colour_gap(sample):  # largest per-channel difference of mean colours, reference vs target
                return (sample["reference"].mean((1, 2)) - sample["target"].mean((1, 2))).abs().max()
            assert colour_gap(same) < 0.1
            assert colour_gap(cross) < 0.1 if kind == "segment" else colour_gap(cross) > 0.3


def test_low_overlap_boxes():
    assert box_iou((0, 0, 10, 10), (0, 5, 10, 10)) == 50 / 150
    rng = np.random.default_rng(0)
    for _ in range(20):
        a, b = low_overlap_boxes(48, 72, rng, max_iou=0.2)
        assert box_iou(a, b) <= 0.2 and all(x >= 0 for x in a + b)
    assert low_overlap_boxes(48, 72, rng, max_iou=-1.0) == ((0, 0, 48, 36), (0, 36, 48, 36))  # halves fallback
    for _ in range(20):  # feature_cache --crop_scale 0.45 0.5: near halves of the photo, still apart
        a, b = low_overlap_boxes(48, 72, rng, max_iou=0.2, scale=(0.45, 0.5))
        assert box_iou(a, b) <= 0.2 and all(0.4 <= h * w / (48 * 72) <= 0.55 for _, _, h, w in (a, b))


def test_pair_reference_is_another_crop_under_the_same_look(tmp_path):
    """pair_prob=1: content and reference are two crops of one photo, the reference under the target's look."""
    blocks(0, (80, 40)).save(tmp_path / "0.png")
    options = dict(mode="reference", content_look_prob=0.0, gray_prob=0.0, pair_prob=1.0, pair_iou=0.0)
    for seed in range(4):
        same = ColourPairDataset(list_images(tmp_path), 16, seed=seed, target_mix={"none": 1.0}, **options)[0]
        assert torch.equal(same["content"], same["target"])
        assert not torch.equal(same["content"], same["reference"])  # a different crop
        strong = ColourPairDataset(list_images(tmp_path), 16, seed=seed, target_mix={"strong": 1.0}, **options)[0]
        assert torch.equal(strong["content"], same["content"]) and not torch.equal(strong["target"], same["target"])


def test_related_pairs_share_one_look_over_the_whole_photo(tmp_path):
    """One look edits the whole photo: with "none" the target is the content; under a per-pixel look a flat photo
    has the same colour in the reference and the target; segment-local looks re-colour, seeded."""
    blocks(0, (80, 40)).save(tmp_path / "0.png")
    Image.new("RGB", (64, 48), (120, 160, 90)).save(tmp_path / "1.png")
    paths = list_images(tmp_path)
    none = RelatedPairDataset(paths, 16, seed=0, mix={"none": 1.0})
    assert torch.equal(none[0]["content"], none[0]["target"]) and not torch.equal(none[0]["content"],
                                                                                  none[0]["reference"])
    for seed in range(3):
        flat = RelatedPairDataset(paths, 16, seed=seed, mix={"strong": 1.0})[1]
        assert (flat["target"] - flat["content"]).abs().max() > 0.02  # re-coloured
        torch.testing.assert_close(flat["reference"].mean((1, 2)), flat["target"].mean((1, 2)), atol=0.01, rtol=0)
        segment = RelatedPairDataset(paths, 16, seed=seed, mix={"segment": 1.0})
        assert (segment[0]["target"] - segment[0]["content"]).abs().max() > 0.02
        assert torch.equal(segment[0]["target"], segment[0]["target"])  # seeded
    mono = RelatedPairDataset(paths, 16, seed=0, mix={"mono": 1.0})[1]["reference"]
    chroma = mono.max(0).values - mono.min(0).values
    assert chroma.max() < 0.35  # grey or monochrome-tinted


def test_random_warp_identity_and_flip():
    img = np.asarray(blocks(0, (40, 40))).astype(np.float32) / 255
    same = random_warp(img, np.random.default_rng(0), area=(1, 1), ratio=(1, 1), perspective=0, flip_prob=0)
    assert np.abs(same - img).max() < 1e-5
    flipped = random_warp(img, np.random.default_rng(0), area=(1, 1), ratio=(1, 1), perspective=0, flip_prob=1)
    assert np.abs(flipped - img[:, ::-1]).max() < 1e-5


def test_gray_content(photo_dir):
    ds = ColourPairDataset(list_images(photo_dir)[:4], 32, mode="reference", gray_prob=1.0)
    for i in range(len(ds)):
        s = ds[i]
        assert torch.allclose(s["content"][0], s["content"][1]) and torch.allclose(s["content"][1], s["content"][2])
        assert (s["target"][0] - s["target"][1]).abs().mean() > 0.01  # the target keeps its colours


def test_fivek_pairs(fivek_dir, photo_dir):
    pairs = FiveKPairs(fivek_dir)
    assert pairs.names == ["a0000", "a0001", "a0002"]
    for i in range(len(pairs)):
        a, b = pairs[i]
        assert a.shape == b.shape == (48, 72, 3) and a.dtype == b.dtype == np.float32
        assert np.abs(a - b).mean() < 0.05  # same photo
        as_decoded = pairs.arrays(i)
        assert all(x.dtype == np.uint8 and np.array_equal(x, np.rint(y * 255)) for x, y in zip(as_decoded, (a, b)))
    for mode in ("jitter", "reference"):
        ds = ColourPairDataset(list_images(photo_dir)[:3], 32, mode=mode, fivek=pairs, fivek_prob=1.0, gray_prob=0)
        s = ds[0]
        first, second = ("input", "target") if mode == "jitter" else ("content", "target")
        assert (s[first] - s[second]).abs().mean() < 0.05  # FiveK input vs expert of the same crop


def test_dataloader_batches(photo_dir):
    ds = ColourPairDataset(list_images(photo_dir)[:4], 32, mode="reference")
    batch = next(iter(DataLoader(ds, batch_size=4)))
    assert {k: tuple(v.shape) for k, v in batch.items()} == {k: (4, 3, 32, 32) for k in KEYS["reference"]}


@pytest.mark.skipif(not (SHARED_DATA / "photos").is_dir(), reason=f"shared photos not found at {SHARED_DATA}")
def test_shared_data():
    paths = list_images(SHARED_DATA / "photos")
    sources = Counter(p.relative_to(SHARED_DATA / "photos").parts[0] for p in paths)
    _, val = split_train_val(paths)
    held = Counter(p.relative_to(SHARED_DATA / "photos").parts[0] for p in val)
    assert set(held) == set(sources)
    assert all(abs(held[s] - 0.1 * n) <= 1 for s, n in sources.items())
    pairs = FiveKPairs(SHARED_DATA / "fivek")
    assert len(pairs) >= 1
    for i in range(len(pairs)):
        a, b = pairs[i]
        assert a.shape == b.shape and max(a.shape) <= 512


def test_time_lapse_pairs_take_the_target_from_the_reference_frame(tmp_path):
    # each frame: a left half and a right half of two colours that change with the time of day
    times = {"a_day": ((200, 180, 90), (60, 120, 200)), "b_dusk": ((230, 110, 40), (20, 30, 90)),
             "c_night": ((40, 40, 60), (10, 10, 30))}
    for scene in ("city", "hill"):
        (tmp_path / scene).mkdir()
        for name, (left, right) in times.items():
            frame = np.zeros((48, 96, 3), np.uint8)
            frame[:, :48], frame[:, 48:] = left, right
            Image.fromarray(frame).save(tmp_path / scene / f"{name}.png")
    (tmp_path / "lonely").mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "lonely" / "only.png")
    pairs = TimeLapsePairs(tmp_path, resolution=16, seed=3, scenes=["city", "hill", "lonely"])
    assert len(pairs.scenes) == 2 and len(pairs) == 6
    palette = np.array([c for pair in times.values() for c in pair], np.float32) / 255  # (6, 3), 2 per time

    def time_of(image: torch.Tensor) -> int:
        """The time of day most of the image's pixels show (index into ``times``)."""
        pixels = image.permute(1, 2, 0).reshape(-1, 1, 3).numpy()
        nearest = np.abs(pixels - palette[None]).sum(2).argmin(1) // 2
        return int(np.bincount(nearest).argmax())

    for i in range(len(pairs)):
        sample = pairs[i]
        assert sample["content"].shape == sample["reference"].shape == sample["target"].shape == (3, 16, 16)
        content, reference, target = (time_of(sample[k]) for k in ("content", "reference", "target"))
        assert reference == target != content  # the target is the content's crop at the reference's time
        assert torch.equal(pairs[i]["target"], sample["target"])  # one draw per (seed, epoch, index)
    grey = TimeLapsePairs(tmp_path, resolution=16, seed=3, scenes=["city"], grey_prob=1.0)[0]
    assert all(torch.allclose(grey[k][0], grey[k][1]) and torch.allclose(grey[k][1], grey[k][2])
               for k in ("reference", "target"))  # frame b in black and white
    assert not torch.allclose(grey["content"][0], grey["content"][2])
    with pytest.raises(ValueError, match="two or more frames"):
        TimeLapsePairs(tmp_path, scenes=["lonely"])
