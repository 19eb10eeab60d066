"""Evaluation harness end to end on tiny synthetic photos, with a fake `ours` plugged in."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from eval import methods as eval_methods
from eval.__main__ import main
from eval.benchmark import Pair, markdown_table, run_benchmark
from recolor_hf.baselines import BASELINES

METHODS = [*BASELINES, "ours"]
COLUMNS = ["pair", "part", "method", "mae", "psnr", "ciede2000", "lpips", "seconds"]


def fake_ours(content: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Stand-in for the pipeline: the content shifted to the reference's mean colour."""
    shifted = content.astype(np.float64) - content.mean(axis=(0, 1)) + reference.mean(axis=(0, 1))
    return np.clip(shifted, 0, 255).astype(np.uint8)


def write_photo(path: Path, seed: int, size: tuple[int, int] = (56, 40)) -> None:
    """A tiny smooth random colour photo."""
    path.parent.mkdir(parents=True, exist_ok=True)
    coarse = np.random.default_rng(seed).integers(0, 256, (3, 4, 3), dtype=np.uint8)
    Image.fromarray(coarse).resize(size, Image.BILINEAR).save(path)


@pytest.fixture(autouse=True)
def plug_fake_ours(monkeypatch):
    monkeypatch.setattr(eval_methods, "pipeline_method", lambda checkpoint, device=None: fake_ours)


@pytest.fixture
def photos(tmp_path) -> Path:
    for i in range(4):
        write_photo(tmp_path / "photos" / ("a" if i < 2 else "b") / f"p{i}.jpg", seed=i)
    return tmp_path / "photos"


def run_presets(photos: Path, out: Path, *extra: str) -> pd.DataFrame:
    main(["presets", "--photos", str(photos), "--split", "all", "--num-pairs", "3", "--out", str(out),
          "--checkpoint", "fake", *extra])
    return pd.read_csv(out / "results.csv")


def test_presets_end_to_end(photos, tmp_path, capsys):
    out = tmp_path / "out"
    results = run_presets(photos, out, "--save-images")
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


def test_fivek_and_dpst(tmp_path):
    fivek, dpst = tmp_path / "fivek", tmp_path / "dpst"
    for i, name in enumerate(["a0001", "a0002", "a0003"]):
        write_photo(fivek / "input" / f"{name}.jpg", seed=i)
        write_photo(fivek / "expertC" / f"{name}.jpg", seed=10 + i, size=(55, 40))  # labels may be off by a pixel
        write_photo(dpst / "content" / f"in{i + 1}.png", seed=20 + i)
        write_photo(dpst / "reference" / f"tar{i + 1}.png", seed=30 + i, size=(30, 44))

    main(["fivek", "--fivek", str(fivek), "--out", str(tmp_path / "f"), "--methods", "identity,mkl"])
    results = pd.read_csv(tmp_path / "f" / "results.csv")
    assert len(results) == 6 and results["mae"].notna().all()
    assert all(pair.split("_")[0] != pair.split("_")[1] for pair in results["pair"])

    main(["dpst", "--dpst", str(dpst), "--out", str(tmp_path / "d"), "--checkpoint", "fake"])
    results = pd.read_csv(tmp_path / "d" / "results.csv")
    assert len(results) == 3 * len(METHODS) and results["mae"].isna().all() and results["seconds"].notna().all()
    sheet = Image.open(tmp_path / "d" / "contact_sheet.jpg")
    assert sheet.size == (240 * (2 + len(METHODS)), 20 + 3 * 160)


def test_markdown_table_bolds_best():
    results = pd.DataFrame({
        "pair": ["x", "x"], "part": ["global"] * 2, "method": ["a", "b"],
        "mae": [1.0, 2.0], "psnr": [30.0, 40.0], "ciede2000": [3.0, 1.0], "lpips": [np.nan, np.nan], "seconds": [0.1, 0.2],
    })
    table = markdown_table(results)
    assert "| a | **1.00** | 30.00 | 3.00 | n/a | 0.100 |" in table
    assert "| b | 2.00 | **40.00** | **1.00** | n/a | 0.200 |" in table


def test_run_benchmark_rejects_wrong_output():
    image = np.zeros((8, 8, 3), np.uint8)
    pair = Pair("p", "global", image, image, image)
    with pytest.raises(ValueError, match="'bad'"):
        run_benchmark([pair], {"bad": lambda content, reference: content[:4]})


def test_build_methods():
    assert list(eval_methods.build_methods()) == list(BASELINES)
    assert list(eval_methods.build_methods(checkpoint="fake")) == METHODS
    with pytest.raises(ValueError, match="checkpoint"):
        eval_methods.build_methods(["ours"])
    with pytest.raises(ValueError, match="unknown"):
        eval_methods.build_methods(["nope"])


def test_figures_rank_pairs_by_loss_against_identity():
    from eval.figures import ranked_pairs

    rows = [("000_a_b", "identity", 5.0), ("000_a_b", "ours", 4.0), ("001_c_d", "identity", 5.0),
            ("001_c_d", "ours", 9.0), ("002_e_f", "identity", 3.0), ("002_e_f", "ours", 3.5)]
    results = pd.DataFrame(rows, columns=["pair", "method", "ciede2000"])
    assert ranked_pairs(results) == [1, 2, 0]
