"""`python -m eval` speed / memory commands, figures, halves-local, grey-refs, ablation and headroom, each end to end on tiny
inputs (the tiny pipeline, a few requests, frames or pairs, small sizes): what they write in --output_dir."""

import copy

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from conftest import randomize_zero_init, textured_image
from eval.ablation import ROWS, zeroed_heads
from eval.benchmark import (apply_look, dpst_labelled, dpst_oracle_pairs, half_boxes, halves_local_pairs, mask_oracle,
                            timelapse_pairs)
from eval.cli import main
from eval.headroom import PARTS as HEADROOM_PARTS
from eval.methods import PIPELINE_METHODS
from eval.shipped import passes
from recolor_hf.baselines import BASELINES
from recolor_hf.image_io import load_array
from recolor_hf.looks import random_look
from recolor_hf.loading import COMPONENTS

IMAGE_METHODS = [*BASELINES, *PIPELINE_METHODS]  # the default methods with a checkpoint: ours and base-only included


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory, tiny_pipe) -> Path:
    """The tiny pipeline saved as a pipeline folder."""
    folder = tmp_path_factory.mktemp("tiny")
    tiny_pipe.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def live_dir(tmp_path_factory, tiny_pipe) -> Path:
    """The tiny pipeline with random weights in its zero-initialised layers (ToRGB, P_W's statistics and map
    heads), saved: every learned part shows in its output."""
    pipe = copy.deepcopy(tiny_pipe)
    randomize_zero_init(pipe.generator, pipe.predictor, std=0.2)
    torch.nn.init.normal_(pipe.predictor.statistics_head.weight, std=0.2)
    folder = tmp_path_factory.mktemp("live")
    pipe.save_pretrained(folder)
    return folder


def write_dpst_pairs(root: Path, count: int = 3) -> Path:
    """Tiny DPST-like pairs under root/dpst: content/inN.png, reference/tarN.png, masks/{in,tar}N.png."""
    for i in range(1, count + 1):
        for folder, stem, seed in (("content", "in", i), ("reference", "tar", 10 + i), ("masks", "in", 20),
                                   ("masks", "tar", 20)):
            (root / "dpst" / folder).mkdir(parents=True, exist_ok=True)
            textured_image(40, 56, seed).save(root / "dpst" / folder / f"{stem}{i}.png")
    return root / "dpst"


def write_photos(root: Path, count: int = 3) -> Path:
    """Tiny photos under root/photos/a (landscape and one portrait)."""
    for i in range(count):
        (root / "photos" / "a").mkdir(parents=True, exist_ok=True)
        textured_image(48, 64, i).save(root / "photos" / "a" / f"p{i}.png")
    textured_image(64, 40, count).save(root / "photos" / "a" / "portrait.png")
    return root / "photos"


def run(command: str, out: Path, *options: str) -> pd.DataFrame:
    """Run `python -m eval COMMAND --output_dir OUT OPTIONS`; its results.csv."""
    main([command, "--output_dir", str(out), *options])
    assert (out / "summary.md").read_text().startswith("# ")
    return pd.read_csv(out / "results.csv")


def test_speed(tmp_path, tiny_dir):
    results = run("speed", tmp_path, "--pretrained_model_name_or_path", str(tiny_dir), "--methods", "identity,ours",
                  "--megapixels", "0.01", "--repeats", "1", "--startup_repeats", "0", "--force")
    assert list(results["method"]) == ["identity", "ours", "ours: networks", "ours: render + full-res transfer"]
    assert (results["size"] == "122x81").all()
    assert (results["seconds"] > 0).all() and results["peak_rss_mib"].notna().all()
    assert "| ours: networks | 122x81 |" in (tmp_path / "summary.md").read_text()


def test_speed_refuses_a_busy_machine(tmp_path, monkeypatch, capsys):
    """Above a load average of 1.0 the speed benchmark prints the load and writes no table, unless --force."""
    monkeypatch.setattr("eval.speed.os.getloadavg", lambda: (3.5, 2.0, 1.0))
    with pytest.raises(SystemExit) as exit_info:
        main(["speed", "--output_dir", str(tmp_path), "--methods", "identity", "--megapixels", "0.01"])
    assert exit_info.value.code == 1 and not (tmp_path / "summary.md").exists()
    err = capsys.readouterr().err
    assert "load average 3.50 / 2.00 / 1.00" in err and "--force" in err
    run("speed", tmp_path, "--methods", "identity", "--megapixels", "0.01", "--repeats", "1", "--force")
    assert "load average 3.50 / 2.00 / 1.00 (1 / 5 / 15 min)" in (tmp_path / "summary.md").read_text()
    assert "a busy machine, timed with --force" in (tmp_path / "summary.md").read_text()


def test_shipped_scores_each_bar_and_exits_1_below_one(tmp_path, tiny_dir):
    """`python -m eval shipped` writes ours and each baseline of a check; a model below a bar exits with status 1."""
    write_dpst_pairs(tmp_path)
    options = ["--pretrained_model_name_or_path", str(tiny_dir), "--checks", "dpst", "--data_dir", str(tmp_path),
               "--num_pairs", "2"]
    try:
        results = run("shipped", tmp_path / "out", *options)
    except SystemExit as failed:
        assert str(failed) == "failed: dpst"
        results = pd.read_csv(tmp_path / "out" / "results.csv")
    assert list(results["method"]) == ["ours", "identity", "reinhard", "mkl"] and (results["check"] == "dpst").all()
    assert passes({"ours": np.array([1.0, 2.0]), "mkl": np.array([1.5, 2.5])}, 1.0)
    assert not passes({"ours": np.array([1.0, 2.0]), "identity": np.array([1.1, 2.1])}, 0.8)


def test_soak(tmp_path, tiny_dir, monkeypatch):
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))  # restored afterwards (soak sets its own)
    results = run("soak", tmp_path / "out", "--pretrained_model_name_or_path", str(tiny_dir), "--requests", "4",
                  "--megapixels", "0.02", "--num_photos", "2", "--sessions", "2", "--every", "2")
    assert list(results["request"]) == [2, 4] and (results["rss_mib"] > 0).all()
    assert (results["encodings"] >= 1).all() and (results["result_files"] >= 1).all()
    assert "RSS median over the first 1 requests" in (tmp_path / "out" / "summary.md").read_text()


def test_model_size(tmp_path, tiny_pipe):
    results = run("model-size", tmp_path, "--presets", "tiny", "--repeats", "1", "--size", "32")
    (row,) = results.to_dict("records")
    assert row["preset"] == "tiny" and row["seconds"] > 0
    expected = {c: sum(p.numel() for p in getattr(tiny_pipe, c).parameters()) / 1e6 for c in COMPONENTS}
    assert [row[c] for c in COMPONENTS] == pytest.approx(list(expected.values()))
    assert row["total"] == pytest.approx(sum(expected.values()))


def test_train_speed_every_stage(tmp_path):
    results = run("train-speed", tmp_path, "--presets", "tiny", "--train_batch_size", "1", "--steps", "1",
                  "--warmup", "0")
    assert list(results["stage"]) == ["generator", "map_encoder", "predictor", "predictor_cached"]
    assert (results["images / s"] > 0).all()


def test_upsample_speed(tmp_path):
    results = run("upsample", tmp_path, "--sizes", "96x64,64x64")
    assert list(results["size"]) == ["96x64", "64x64"] and list(results["low"]) == ["256x171", "256x256"]
    assert (results[["fit s", "apply s"]] > 0).all().all()
    assert (results["apply peak RSS MiB"] >= results["input RSS MiB"]).all()


def test_upsample_quality(tmp_path):
    for i, name in enumerate(["a0001", "a0002"]):
        for expert, seed in (("input", i), ("expertC", 10 + i)):
            (tmp_path / "fivek" / expert).mkdir(parents=True, exist_ok=True)
            textured_image(60, 90, seed).save(tmp_path / "fivek" / expert / f"{name}.jpg", quality=95)
    results = run("upsample-quality", tmp_path / "out", "--data_dir", str(tmp_path))
    assert len(results) == 2 * (1 + 4 * 3) and results["PSNR"].between(5, 60).all()
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert "## chroma-blurred result: True; bicubic " in summary and "| grid | eps 0.0001 |" in summary


def test_video(tmp_path, tiny_dir):
    data = tmp_path / "data"
    for path, seed in (("photos/kodak24/kodim23.jpg", 0), ("photos/kodak24/kodim05.jpg", 1),
                       ("dpst/reference/tar1.png", 2)):
        (data / path).parent.mkdir(parents=True, exist_ok=True)
        textured_image(96, 144, seed).save(data / path)
    results = run("video", tmp_path / "out", "--data_dir", str(data), "--pretrained_model_name_or_path",
                  str(tiny_dir), "--frames", "10", "--width", "48", "--height", "36", "--speed_frames", "2",
                  "--speed_size", "96x64")
    assert list(results["clip"].unique()) == ["pan-zoom", "two-shots"] and (results["frames"] == 10).all()
    assert len(results) == 6 and results[["flicker", "raw flicker"]].notna().all().all()
    speed = pd.read_csv(tmp_path / "out" / "speed.csv")
    assert (speed.filter(like="frames/s") > 0).all().all()
    assert "| pan-zoom | 10 |" in (tmp_path / "out" / "summary.md").read_text()


def test_video_names_missing_data(tmp_path, capsys):
    """Without the clip photos in the data folder, `python -m eval video` says which files it needs, no traceback."""
    (tmp_path / "photos").mkdir()
    with pytest.raises(SystemExit) as exit_info:
        main(["video", "--data_dir", str(tmp_path), "--output_dir", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert exit_info.value.code == 1 and "photos/kodak24/kodim23.jpg" in err and "--data_dir" in err
    assert "Traceback" not in err and "FileNotFoundError" not in err


def test_figures(tmp_path, tiny_dir):
    write_dpst_pairs(tmp_path)
    main(["dpst-oracle", "--data_dir", str(tmp_path), "--output_dir", str(tmp_path / "oracle"),
          "--pretrained_model_name_or_path", str(tiny_dir), "--methods", "reinhard,ours"])
    main(["figures", "--data_dir", str(tmp_path), "--oracle_dir", str(tmp_path / "oracle"), "--output_dir",
          str(tmp_path), "--pretrained_model_name_or_path", str(tiny_dir), "--num_results", "2"])
    assert Image.open(tmp_path / "result.jpg").size == (3 * 300, 20 + 2 * 200)
    assert Image.open(tmp_path / "failure_cases.jpg").size == (4 * 240, 20 + 3 * 160)


def test_missing_data_folder_is_a_clear_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["halves", "--data_dir", str(tmp_path / "nowhere"), "--output_dir", str(tmp_path)])
    assert exit_info.value.code == 1
    assert f"data folder {tmp_path / 'nowhere'} not found: pass --data_dir or set RECOLOR_DATA" in capsys.readouterr().err
    assert not np.any([path.is_file() for path in tmp_path.iterdir()])


def test_a_benchmark_folder_given_alone_needs_no_data_root(tmp_path):
    for i in range(2):
        Image.fromarray(np.full((40, 60, 3), 60 * i, np.uint8)).save(tmp_path / f"p{i}.png")
    main(["presets", "--data_dir", str(tmp_path / "nowhere"), "--photos_dir", str(tmp_path), "--methods", "identity",
          "--num_pairs", "2", "--output_dir", str(tmp_path / "out")])
    assert (tmp_path / "out" / "summary.md").is_file()


def test_halves_local(tmp_path, tiny_dir):
    photos = write_photos(tmp_path)
    results = run("halves-local", tmp_path / "out", "--photos_dir", str(photos), "--split", "all",
                  "--pretrained_model_name_or_path", str(tiny_dir))
    assert list(results["method"].unique()) == IMAGE_METHODS and len(results) == 4 * len(IMAGE_METHODS)
    assert set(results["part"]) == {"segment"} and results[["mae", "ciede2000"]].notna().all().all()
    assert (results[results["method"] == "identity"]["mae"] > 0).all()  # the look changed the target
    paths = sorted(photos.rglob("*.png"))
    for i, (path, pair) in enumerate(zip(paths, halves_local_pairs(paths, 0))):
        rng = np.random.default_rng([0, i])
        photo = load_array(path)
        edited = apply_look(random_look(rng, "segment"), photo)  # one look over the whole photo, then the halves
        a, b = half_boxes(*photo.shape[:2], rng)
        assert np.array_equal(pair.content, photo[a]) and np.array_equal(pair.reference, edited[b])
        assert np.array_equal(pair.target, edited[a])


def test_grey_refs(tmp_path, tiny_dir):
    dpst = write_dpst_pairs(tmp_path)
    results = run("grey-refs", tmp_path / "out", "--dpst_dir", str(dpst), "--pretrained_model_name_or_path",
                  str(tiny_dir))
    assert list(results["method"].unique()) == IMAGE_METHODS and len(results) == 3 * len(IMAGE_METHODS)
    assert set(results["part"]) == {"grey"} and results[["mae", "ciede2000"]].notna().all().all()
    for pair, (colour, content_mask, reference_mask) in zip(dpst_oracle_pairs(dpst, grey=True), dpst_labelled(dpst)):
        assert (pair.reference == pair.reference[..., :1]).all()  # three equal channels
        assert not np.array_equal(pair.reference, colour.reference)
        assert np.array_equal(pair.target, mask_oracle(pair.content, pair.reference, content_mask, reference_mask))


def run_ablation(tmp_path: Path, checkpoint: Path, *options: str) -> pd.DataFrame:
    """`python -m eval ablation` on 3 tiny DPST pairs and 4 tiny photos."""
    dpst, photos = write_dpst_pairs(tmp_path), write_photos(tmp_path)
    return run("ablation", tmp_path / "out", "--dpst_dir", str(dpst), "--photos_dir", str(photos), "--split", "all",
               "--pretrained_model_name_or_path", str(checkpoint), *options)


def test_ablation(tmp_path, live_dir, capsys):
    results = run_ablation(tmp_path, live_dir)
    assert list(results["method"]) == list(ROWS) * 7
    assert list(results["part"].unique()) == ["dpst-oracle", "halves-local"]
    assert results[["mae", "ciede2000"]].notna().all().all()
    change = results.groupby("method")["full_change"]
    assert change.apply(lambda values: values.isna().all())["full"]
    assert (results[results["method"] != "full"]["full_change"] > 0).all()  # every learned part is live here
    seconds = results.groupby("method")["seconds"].apply(lambda values: values.notna().all())
    assert seconds[["full", "base-only"]].all() and not seconds[["w swap", "W~0R swap", "heads zeroed"]].any()
    summary = (tmp_path / "out" / "summary.md").read_text()
    for text in ("## dpst-oracle (3 pairs)", "## halves-local (4 pairs)", "ΔE00 vs full",
                 "w swap changes the output by", "full / base-only = "):
        assert text in summary
    assert summary in capsys.readouterr().out


def test_headroom(tmp_path, live_dir):
    """Every candidate and oracle row on every part; an oracle choice is never worse than its members, and the
    untrained tiny model's T' differs from T only through its random statistics head."""
    dpst, photos = write_dpst_pairs(tmp_path), write_photos(tmp_path)
    results = run("headroom", tmp_path / "out", "--dpst_dir", str(dpst), "--photos_dir", str(photos), "--split", "all",
                  "--pretrained_model_name_or_path", str(live_dir), "--num_pairs", "2")
    assert list(results["part"].unique()) == list(HEADROOM_PARTS) and results["grid_error"].notna().all()
    table = results.pivot_table(index=["part", "pair"], columns="method", values="grid_error")
    assert (table["oracle per patch: base-only or global"] <= table[["base-only", "global"]].min(axis=1) + 1e-6).all()
    assert (table["oracle per patch: model, fit or identity"]
            <= table[["model", "fit", "identity"]].min(axis=1) + 1e-6).all()
    assert (table["oracle per pair: model or fit"] == table[["model", "fit"]].min(axis=1)).all()
    assert (table["identity"] > 0).all() and (table["model"] != table["base-only"]).any()
    for fallback in ("look", "keep"):  # another fallback changes base-only where a match is distrusted
        assert (table[f"base-only, fallback {fallback}"] != table["base-only"]).any()
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert "## halves-local (2 pairs)" in summary and "## all" not in summary


def test_ablation_of_zero_heads_changes_nothing(tmp_path, tiny_dir):
    """The tiny pipeline's P_W heads are zero: zeroing them, or swapping w or W~0R (P_W's inputs), gives exactly the
    full output, so the variants' tensor-level path is the pipeline's own."""
    results = run_ablation(tmp_path, tiny_dir, "--num_pairs", "2")
    assert len(results) == 4 * len(ROWS)
    variants = results[results["method"].isin(["w swap", "W~0R swap", "heads zeroed"])]
    assert (variants["full_change"] == 0).all()


def test_zeroed_heads_switch_off_the_learned_affinity(tiny_pipe):
    """A P_W with a trained (here random) affinity head moves T'; inside ``zeroed_heads`` T' is T again."""
    pipe = copy.deepcopy(tiny_pipe)
    predictor = pipe.predictor.with_affinity(4)
    torch.nn.init.normal_(predictor.affinity_head.weight, std=1.0)
    pipe.register_modules(predictor=predictor)
    r = pipe.config.resolution
    with torch.no_grad():
        features = pipe.features(torch.rand(1, 3, r, r), torch.rand(1, 3, r, r))
        match = pipe.match(features)
        base = pipe.colour_targets(features, match, learned=False)[0]
        assert not torch.allclose(pipe.colour_targets(features, match)[0], base, atol=1e-3)
        with zeroed_heads(predictor):
            torch.testing.assert_close(pipe.colour_targets(features, match)[0], base)


def test_ablation_needs_two_pairs_per_part(tmp_path, tiny_dir, capsys):
    with pytest.raises(SystemExit):
        run_ablation(tmp_path, tiny_dir, "--num_pairs", "1")
    assert "each part needs at least 2 pairs, got 1" in capsys.readouterr().err


def test_timelapse_pairs_are_halves_of_one_scene_at_two_times(tmp_path):
    for scene, shift in (("harbour", 0), ("square", 100)):
        (tmp_path / scene).mkdir()
        for t in range(3):  # frame t: a flat grey of level 40 t + shift, left and right halves alike
            Image.fromarray(np.full((30, 40, 3), 40 * t + shift, np.uint8)).save(tmp_path / scene / f"t{t}.png")
    pairs = list(timelapse_pairs(tmp_path, None, per_scene=3, seed=0))
    assert [p.part for p in pairs] == ["harbour"] * 3 + ["square"] * 3
    for p in pairs:
        assert p.content.shape == p.target.shape == p.reference.shape == (30, 20, 3)
        assert p.reference[0, 0, 0] == p.target[0, 0, 0] != p.content[0, 0, 0]  # target: the reference's time
    assert [p.target[0, 0, 0] for p in timelapse_pairs(tmp_path, ["square"], 3, 0)] == \
        [p.target[0, 0, 0] for p in pairs[3:]]
    with pytest.raises(ValueError, match="no scene folder"):
        list(timelapse_pairs(tmp_path, ["harbour", "beach"], 1, 0))
    with pytest.raises(ValueError, match="not found"):
        list(timelapse_pairs(tmp_path / "missing", None, 1, 0))
