"""Evaluation harness: the image benchmarks end to end on tiny synthetic photos (a fake `ours` plugged in, or the tiny
pipeline), the data root, the tables, and the command line's errors."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from skimage.color import rgb2lab

import eval as eval_package
from eval import methods as eval_methods
from eval.benchmark import MILD_KINDS, STRONG_KINDS, Pair, mask_labels, mask_oracle, run_benchmark
from eval.cli import main
from eval.report import markdown_table, method_table
from recolor_hf.baselines import BASELINES
from recolor_hf.data import SPLIT_SEED, VAL_FRACTION, list_images, split_train_val

METHODS = [*BASELINES, "ours", "base-only"]
COLUMNS = ["pair", "part", "method", "mae", "psnr", "ciede2000", "lpips", "seconds"]
REAL_PIPELINE_METHOD = eval_methods.pipeline_method


def fake_ours(content: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Stand-in for the pipeline: the content shifted to the reference's mean colour."""
    shifted = content.astype(np.float64) - content.mean(axis=(0, 1)) + reference.mean(axis=(0, 1))
    return np.clip(shifted, 0, 255).astype(np.uint8)


def fake_base_only(content: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Stand-in for the base-only path: fake_ours half way."""
    return ((content.astype(np.uint16) + fake_ours(content, reference)) // 2).astype(np.uint8)


def write_photo(path: Path, seed: int, size: tuple[int, int] = (56, 40)) -> None:
    """A tiny smooth random colour photo."""
    path.parent.mkdir(parents=True, exist_ok=True)
    coarse = np.random.default_rng(seed).integers(0, 256, (3, 4, 3), dtype=np.uint8)
    Image.fromarray(coarse).resize(size, Image.BILINEAR).save(path)


def write_dpst(root: Path, count: int = 3) -> None:
    """Tiny DPST-like pairs with colour-coded masks: blue top / white bottom, the white drawn as (254, 254, 254) in
    the reference masks (near-duplicate colours as in the real masks); masks/in1.png is a pixel short (as in7)."""
    for i in range(1, count + 1):
        write_photo(root / "content" / f"in{i}.png", seed=20 + i)
        write_photo(root / "reference" / f"tar{i}.png", seed=30 + i, size=(30, 44))
        for stem, (width, height), white in (("in", (56, 39 if i == 1 else 40), 255), ("tar", (30, 44), 254)):
            mask = np.full((height, width, 3), white, np.uint8)
            mask[: height // 2] = (0, 0, 255)
            (root / "masks").mkdir(parents=True, exist_ok=True)
            Image.fromarray(mask).save(root / "masks" / f"{stem}{i}.png")


@pytest.fixture(autouse=True)
def plug_fake_ours(monkeypatch):
    monkeypatch.setattr(eval_methods, "pipeline_method",
                        lambda checkpoint, device=None, learned=True, fallback="global":
                        fake_ours if learned else fake_base_only)


@pytest.fixture
def photos(tmp_path) -> Path:
    for i in range(4):
        write_photo(tmp_path / "photos" / ("a" if i < 2 else "b") / f"p{i}.jpg", seed=i)
    return tmp_path / "photos"


def run_presets(photos: Path, out: Path, *extra: str) -> pd.DataFrame:
    main(["presets", "--photos_dir", str(photos), "--split", "all", "--num_pairs", "3", "--output_dir", str(out),
          "--pretrained_model_name_or_path", "fake", *extra])
    return pd.read_csv(out / "results.csv")


def test_presets_end_to_end(photos, tmp_path, capsys):
    out = tmp_path / "out"
    results = run_presets(photos, out, "--save_images")
    assert list(results.columns) == COLUMNS
    assert len(results) == 3 * len(METHODS)
    assert list(results["method"].unique()) == METHODS
    assert set(results["part"]) == {"global", "local"}
    assert results[["mae", "psnr", "ciede2000", "seconds"]].notna().all().all()
    identity = results[results["method"] == "identity"]
    assert (identity["mae"] > 0).all()  # the look changed the target

    summary = (out / "summary.md").read_text()
    for heading in ["## all (3 pairs)", "## global (2 pairs)", "## local (1 pairs)", "LPIPS:"]:
        assert heading in summary
    for header in ["MAE", "PSNR", "ΔE00", "LPIPS", "s/img", *METHODS]:
        assert header in summary
    assert "**" in summary
    assert summary in capsys.readouterr().out
    assert (out / "contact_sheet.jpg").is_file()
    assert len(list((out / "images").glob("*.jpg"))) == 3


def test_presets_deterministic(photos, tmp_path):
    first = run_presets(photos, tmp_path / "one", "--methods", "identity,reinhard,ours")
    second = run_presets(photos, tmp_path / "two", "--methods", "identity,reinhard,ours")
    metrics = ["pair", "part", "method", "mae", "psnr", "ciede2000"]
    pd.testing.assert_frame_equal(first[metrics], second[metrics])


def test_fallback_reaches_ours_and_base_only(photos, tmp_path, monkeypatch):
    """--fallback is given to both pipeline methods and named in the summary; a value outside the choices is a
    usage error."""
    seen = []

    def method(checkpoint, device=None, learned=True, fallback="global"):
        seen.append((learned, fallback))
        return fake_ours if learned else fake_base_only

    monkeypatch.setattr(eval_methods, "pipeline_method", method)
    run_presets(photos, tmp_path / "out", "--methods", "identity,ours,base-only", "--fallback", "keep")
    assert seen == [(True, "keep"), (False, "keep")]
    assert "fallback of ours and base-only for content the reference lacks: keep" in (
        tmp_path / "out" / "summary.md").read_text()
    with pytest.raises(SystemExit):
        run_presets(photos, tmp_path / "bad", "--fallback", "nearest")


def test_fivek_and_dpst(tmp_path):
    fivek, dpst = tmp_path / "fivek", tmp_path / "dpst"
    for i, name in enumerate(["a0001", "a0002", "a0003"]):
        write_photo(fivek / "input" / f"{name}.jpg", seed=i)
        write_photo(fivek / "expertC" / f"{name}.jpg", seed=10 + i, size=(55, 40))  # labels may be off by a pixel
        write_photo(dpst / "content" / f"in{i + 1}.png", seed=20 + i)
        write_photo(dpst / "reference" / f"tar{i + 1}.png", seed=30 + i, size=(30, 44))

    main(["fivek", "--data_dir", str(tmp_path), "--output_dir", str(tmp_path / "f"), "--methods", "identity,mkl"])
    results = pd.read_csv(tmp_path / "f" / "results.csv")
    assert len(results) == 6 and results["mae"].notna().all()
    assert all(pair.split("_")[0] != pair.split("_")[1] for pair in results["pair"])

    main(["dpst", "--data_dir", str(tmp_path), "--output_dir", str(tmp_path / "d"),
          "--pretrained_model_name_or_path", "fake"])
    results = pd.read_csv(tmp_path / "d" / "results.csv")
    assert len(results) == 3 * len(METHODS) and results["mae"].isna().all() and results["seconds"].notna().all()
    sheet = Image.open(tmp_path / "d" / "contact_sheet.jpg")
    assert sheet.size == (240 * (2 + len(METHODS)), 20 + 3 * 160)


def test_markdown_table_bolds_best():
    results = pd.DataFrame({
        "pair": ["x", "x"], "part": ["global"] * 2, "method": ["a", "b"],
        "mae": [1.0, 2.0], "psnr": [30.0, 40.0], "ciede2000": [3.0, 1.0], "lpips": [np.nan, np.nan], "seconds": [0.1, 0.2],
    })
    table = method_table(results)
    assert "| a | **1.00** | 30.00 | 3.00 | n/a | 0.100 |" in table
    assert "| b | 2.00 | **40.00** | **1.00** | n/a | 0.200 |" in table


def test_markdown_table_formats_aligns_and_bolds():
    frame = pd.DataFrame({"size": ["8x8", "16x16"], "count": [3, 12], "seconds": [0.1234, np.nan], "ratio": [0.5, 2.0]})
    bold = pd.DataFrame(False, index=frame.index, columns=frame.columns)
    bold.loc[1, "ratio"] = True
    lines = markdown_table(frame, {"count": "{:d}"}, bold).splitlines()
    assert lines[:2] == ["| size | count | s/img | ratio |", "|---|---:|---:|---:|"]
    assert lines[2:] == ["| 8x8 | 3 | 0.123 | 0.50 |", "| 16x16 | 12 | n/a | **2.00** |"]


def test_val_split_is_the_training_split(tmp_path):
    for i in range(10):
        write_photo(tmp_path / "photos" / "a" / f"p{i}.jpg", seed=i)
    main(["halves", "--data_dir", str(tmp_path), "--output_dir", str(tmp_path / "h"), "--methods", "identity"])
    (held_out,) = split_train_val(list_images(tmp_path / "photos"), VAL_FRACTION, SPLIT_SEED)[1]
    assert list(pd.read_csv(tmp_path / "h" / "results.csv")["pair"]) == [f"000_{held_out.stem}"]


def test_data_root_is_beside_the_repository_or_from_the_environment(tmp_path):
    def data_root(**env: str) -> Path:
        environ = {k: v for k, v in os.environ.items() if k != eval_package.DATA_ENV} | env
        done = subprocess.run([sys.executable, "-c", "import eval; print(eval.DATA_ROOT)"], env=environ,
                              cwd=eval_package.REPO_ROOT, capture_output=True, text=True, check=True)
        return Path(done.stdout.strip())

    assert data_root() == eval_package.REPO_ROOT.parent / "shared" / "data"
    assert data_root(**{eval_package.DATA_ENV: str(tmp_path)}) == tmp_path


def test_run_benchmark_rejects_wrong_output():
    image = np.zeros((8, 8, 3), np.uint8)
    pair = Pair("p", "global", image, image, image)
    with pytest.raises(ValueError, match="'bad'"):
        run_benchmark([pair], {"bad": lambda content, reference: content[:4]})


def test_build_methods():
    assert list(eval_methods.build_methods()) == list(BASELINES)
    assert list(eval_methods.build_methods(checkpoint="fake")) == METHODS
    assert eval_methods.build_methods(["base-only", "ours"], "fake") == {"base-only": fake_base_only, "ours": fake_ours}
    for name in ("ours", "base-only"):
        with pytest.raises(ValueError, match=f"method '{name}' needs --pretrained_model_name_or_path"):
            eval_methods.build_methods([name])
    with pytest.raises(ValueError, match="unknown"):
        eval_methods.build_methods(["nope"])


def test_figures_rank_pairs_by_error_or_loss_against_a_baseline():
    from eval.figures import ranked_pairs

    rows = [("in1", "reinhard", 5.0), ("in1", "ours", 4.0), ("in2", "reinhard", 5.0),
            ("in2", "ours", 9.0), ("in3", "reinhard", 1.0), ("in3", "ours", 6.5)]
    results = pd.DataFrame(rows, columns=["pair", "method", "ciede2000"])
    assert ranked_pairs(results) == ["in2", "in3", "in1"]
    assert ranked_pairs(results, "reinhard") == ["in3", "in2", "in1"]


def test_mask_oracle_transfers_each_region_mean():
    """Two classes swap places between content and reference, a third (absent from the reference) takes the global
    transfer: each region of the output gets its matched region's mean Lab colour."""
    rng = np.random.default_rng(0)
    content = np.empty((40, 60, 3))
    content[:, :30], content[:, 30:], content[30:, 50:] = (200, 90, 70), (70, 120, 190), (120, 110, 110)
    reference = np.empty((30, 50, 3))
    reference[:15], reference[15:] = (220, 190, 100), (50, 150, 80)
    content, reference = (np.clip(x + rng.normal(0, 8, x.shape), 0, 255).astype(np.uint8) for x in (content, reference))
    content_mask = np.where(np.arange(60) < 30, 1, 2)[None].repeat(40, 0)
    content_mask[30:, 50:] = 3
    reference_mask = np.where(np.arange(30) < 15, 2, 1)[:, None].repeat(50, 1)

    output = mask_oracle(content, reference, content_mask, reference_mask)
    lab_s, lab_r, lab_out = rgb2lab(content), rgb2lab(reference), rgb2lab(output)
    np.testing.assert_allclose(lab_out[:, :27].mean((0, 1)), lab_r[15:].mean((0, 1)), atol=1.0)  # class 1
    np.testing.assert_allclose(lab_out[:27, 33:].mean((0, 1)), lab_r[:15].mean((0, 1)), atol=1.0)  # class 2
    flat_s, flat_r = lab_s.reshape(-1, 3), lab_r.reshape(-1, 3)
    global_transfer = (lab_s[32:, 52:].mean((0, 1)) - flat_s.mean(0)) * flat_r.std(0) / flat_s.std(0) + flat_r.mean(0)
    np.testing.assert_allclose(lab_out[32:, 52:].mean((0, 1)), global_transfer, atol=1.0)  # class 3


def test_mask_labels_merge_near_duplicate_colours(tmp_path):
    colours = np.array([[(255, 255, 255), (254, 254, 254), (0, 0, 0), (1, 1, 1), (0, 0, 255), (2, 1, 250)]], np.uint8)
    Image.fromarray(colours).save(tmp_path / "mask.png")
    labels = mask_labels(tmp_path / "mask.png", (12, 2))  # resized with NEAREST to 12 x 2
    assert labels.shape == (2, 12) and len(np.unique(labels)) == 3
    assert (labels[:, 0] == labels[:, 3]).all() and (labels[:, 4] == labels[:, 7]).all()  # whites, blacks
    assert (labels[:, 8] == labels[:, 11]).all()  # blues


def test_dpst_oracle_and_sensitivity(tmp_path):
    write_dpst(tmp_path / "dpst")
    main(["dpst-oracle", "--dpst_dir", str(tmp_path / "dpst"), "--output_dir", str(tmp_path / "o"),
          "--pretrained_model_name_or_path", "fake"])
    results = pd.read_csv(tmp_path / "o" / "results.csv")
    assert list(results["method"].unique()) == METHODS and len(results) == 3 * len(METHODS)
    assert results[["mae", "psnr", "ciede2000"]].notna().all().all()
    assert (results[results["method"] == "identity"]["mae"] > 0).all()

    main(["sensitivity", "--dpst_dir", str(tmp_path / "dpst"), "--output_dir", str(tmp_path / "s"),
          "--pretrained_model_name_or_path", "fake", "--methods", "identity,reinhard,ours"])
    results = pd.read_csv(tmp_path / "s" / "results.csv").set_index("method")
    assert len(results) == 9 and all(pair.split("_")[0] != "in" + pair.split("_")[1][2:] for pair in results["pair"])
    assert (results.loc["identity", ["reference_change", "content_change"]] == 0).all().all()
    assert (results.loc["reinhard", "reference_change"] > 1).all()
    assert "ΔE00 out(S, R) vs out(S, R')" in (tmp_path / "s" / "summary.md").read_text()


@pytest.mark.parametrize("strength, kinds", [("strong", STRONG_KINDS[:4]), ("mild", MILD_KINDS)])
def test_halves(photos, tmp_path, strength, kinds):
    main(["halves", "--photos_dir", str(photos), "--split", "all", "--strength", strength, "--output_dir",
          str(tmp_path / "h"), "--methods", "identity,mkl,ours", "--pretrained_model_name_or_path", "fake"])
    results = pd.read_csv(tmp_path / "h" / "results.csv")
    assert len(results) == 4 * 3 and set(results["part"]) == set(kinds)
    assert (results[results["method"] == "identity"]["mae"] > 0).all()  # the look changed the target
    image = Image.open(tmp_path / "h" / "contact_sheet.jpg")
    assert image.size == (240 * 6, 20 + 4 * 160)


def test_clicks_with_tiny_pipeline(tmp_path, monkeypatch, capsys, tiny_pipe):
    monkeypatch.setattr(eval_methods, "pipeline_method", REAL_PIPELINE_METHOD)
    tiny_pipe.save_pretrained(tmp_path / "tiny")
    write_dpst(tmp_path / "dpst", count=2)
    with pytest.raises(SystemExit, match="1"):
        main(["clicks", "--dpst_dir", str(tmp_path / "dpst"), "--output_dir", str(tmp_path / "c")])
    assert "give --pretrained_model_name_or_path DIR" in capsys.readouterr().err
    main(["clicks", "--dpst_dir", str(tmp_path / "dpst"), "--output_dir", str(tmp_path / "c"),
          "--pretrained_model_name_or_path", str(tmp_path / "tiny"), "--methods", "identity,ours,base-only"])
    results = pd.read_csv(tmp_path / "c" / "results.csv")
    assert list(results["method"]) == ["identity", "ours", "base-only", "ours+click", "base-only+click"] * 2
    assert results[["moved", "keep_change", "rest_change"]].notna().all().all()
    assert (results[results["method"] == "identity"][["moved", "keep_change", "rest_change"]] == 0).all().all()
    moved = results.set_index(["pair", "method"])["moved"].unstack()
    assert (moved["base-only+click"] > moved["base-only"]).all()  # the clicks reach the base-only path too
    assert "share moved to clicked colour" in (tmp_path / "c" / "summary.md").read_text()


def test_masks_with_tiny_pipeline(tmp_path, monkeypatch, tiny_pipe):
    monkeypatch.setattr(eval_methods, "pipeline_method", REAL_PIPELINE_METHOD)
    tiny_pipe.save_pretrained(tmp_path / "tiny")
    write_dpst(tmp_path / "dpst", count=2)
    main(["masks", "--dpst_dir", str(tmp_path / "dpst"), "--output_dir", str(tmp_path / "m"),
          "--pretrained_model_name_or_path", str(tmp_path / "tiny"), "--methods", "identity,ours"])
    results = pd.read_csv(tmp_path / "m" / "results.csv")
    assert list(results["method"]) == ["identity", "ours", "ours+masks", "ours+click"] * 2
    assert results[["moved", "rest_change"]].notna().all().all()
    assert (results[results["method"] == "identity"][["moved", "rest_change"]] == 0).all().all()
    moved = results.set_index(["pair", "method"])["moved"].unstack()
    assert (moved["ours+masks"] >= 0.5).all() and (moved["ours+masks"] > moved["ours"]).all()
    assert "Painted-region effect (DPST)" in (tmp_path / "m" / "summary.md").read_text()
