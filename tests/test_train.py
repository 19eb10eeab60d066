"""Smoke tests of the three training stages: a few steps each with the tiny preset on tiny generated photos."""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from common import (CHECKPOINT_MARKER, bool_flag, checkpoint_problem, look_mix, parse_args, prune_checkpoints,
                    resumable_checkpoints, train)
from conftest import ROOT, bomb_png, textured_image
from export import export
from recolor_hf import RecolorPipeline
from train_generator import GeneratorStage

COMMON = ["--train_batch_size", "2", "--checkpointing_steps", "2", "--validation_steps", "2", "--report_to",
          "tensorboard", "--seed", "0"]


def launch(script: str, *args: str, processes: int = 1) -> subprocess.CompletedProcess:
    """``accelerate launch`` on CPU; several processes go through torchrun with the gloo backend."""
    mode = ["--multi_gpu"] if processes > 1 else ["--cpu"]
    cmd = [sys.executable, "-m", "accelerate.commands.launch", *mode, "--num_processes", str(processes),
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
           str(ROOT / "train" / script), *COMMON, *args]
    # PYTHONPATH: the scripts import this checkout's recolor_hf, as the tests do, whichever copy is installed
    env = {**os.environ, "OMP_NUM_THREADS": "1", "ACCELERATE_USE_CPU": "true", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def tiny_args(photos: Path, output_dir: Path, *extra: str) -> argparse.Namespace:
    """Arguments of an in-process stage-1 run of the tiny preset, without trackers."""
    return parse_args("", {}, ["--preset", "tiny", "--train_data_dir", str(photos), "--output_dir", str(output_dir),
                               *COMMON, "--report_to", "none", *extra])


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("photos")
    for folder in ("a", "b"):
        (root / folder).mkdir()
        for i in range(4):
            textured_image(72, 96, seed=hash((folder, i)) % 1000).save(root / folder / f"{i}.jpg")
    (root / "a" / "bomb.png").write_bytes(bomb_png(15000, 15000))  # a tiny file declaring 225 MP
    (root / "b" / "cut.jpg").write_bytes((root / "b" / "0.jpg").read_bytes()[:300])  # truncated
    return root


def logged_losses(output_dir: Path) -> dict[int, float]:
    """step -> training loss in the tensorboard logs; a step logged by several runs keeps the latest run's value."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    losses = {}
    for events in sorted((output_dir / "logs").rglob("events.out.tfevents*"), key=lambda p: p.stat().st_mtime_ns):
        accumulator = EventAccumulator(str(events))
        accumulator.Reload()
        if "loss" in accumulator.Tags()["scalars"]:
            losses.update({event.step: event.value for event in accumulator.Scalars("loss")})
    return losses


def test_three_stages_chain_and_resume(photos, tmp_path):
    data = ["--train_data_dir", str(photos)]
    s1, s2, s3 = tmp_path / "s1", tmp_path / "s2", tmp_path / "s3"
    launch("train_generator.py", "--preset", "tiny", "--output_dir", str(s1), "--max_train_steps", "2", *data)
    assert (s1 / "checkpoint-2").is_dir() and (s1 / "validation" / "step-000002.png").is_file()
    # each trained component and its EMA as a diffusers folder; no pickled EMA, no state dict of the whole stage
    held = {p.name for p in (s1 / "checkpoint-2").iterdir()}
    assert {"generator", "generator_ema", "latent_encoder", "latent_encoder_ema"} <= held
    assert not held & {"model.safetensors", "custom_checkpoint_0.pkl", "map_encoder", "predictor", "backbone"}
    ema_config = json.loads((s1 / "checkpoint-2" / "generator_ema" / "config.json").read_text())
    assert ema_config["optimization_step"] == 2 and ema_config["decay"] == 0.995
    assert list((s1 / "logs").rglob("events.out.tfevents*")), "no tensorboard log"
    # resume continues counting from the checkpoint
    out = launch("train_generator.py", "--preset", "tiny", "--output_dir", str(s1), "--max_train_steps", "3",
                 "--resume_from_checkpoint", "latest", *data)
    assert "resumed from" in out.stderr and "at step 2" in out.stderr
    # one thread (accelerate's default, OMP_NUM_THREADS=1) on a machine with more cores: the log says how to use them
    assert ("training on 1 of" in out.stderr) == ((os.cpu_count() or 1) > 1)
    assert (s1 / "checkpoint-3").is_dir()
    launch("train_map_encoder.py", "--pretrained_model_name_or_path", str(s1), "--output_dir", str(s2),
           "--max_train_steps", "2", *data)
    out = launch("train_predictor.py", "--pretrained_model_name_or_path", str(s2), "--output_dir", str(s3),
                 "--max_train_steps", "2", "--cross_reference_prob", "1", "--target_mix", "global=1,local=1",
                 "--lambda_w0", "0", "--lambda_lab", "0.01", *data)
    assert "perceptual loss: " in out.stderr
    assert "l1=" in out.stderr and "lab=" in out.stderr and "w0=" not in out.stderr  # zero weight: skipped
    stage1, final = RecolorPipeline.from_pretrained(s1), RecolorPipeline.from_pretrained(s3)
    # stage 3 trained only the predictor: the generator is stage 1's, the predictor moved
    assert all((a == b).all() for a, b in zip(stage1.generator.parameters(), final.generator.parameters()))
    assert any((a != b).any() for a, b in zip(stage1.predictor.parameters(), final.predictor.parameters()))
    image = final(content=textured_image(50, 70, seed=5), reference=textured_image(40, 40, seed=6)).images[0]
    assert image.size == (70, 50)
    # export.py rebuilds the same pipeline from stage 2's folder + the last checkpoint's EMA weights
    exported = export(s2, s3 / "checkpoint-2", tmp_path / "exported", use_ema=True)
    assert all(torch.equal(a, b) for a, b in zip(exported.predictor.parameters(), final.predictor.parameters()))
    reloaded = RecolorPipeline.from_pretrained(tmp_path / "exported")
    assert all(torch.equal(a, b) for a, b in zip(reloaded.predictor.parameters(), final.predictor.parameters()))
    assert "optimization_step" not in json.loads((tmp_path / "exported" / "predictor" / "config.json").read_text())
    # without --use_ema: the trained weights of step 2, not their average
    raw = export(s2, s3 / "checkpoint-2", tmp_path / "raw")
    assert any((a != b).any() for a, b in zip(raw.predictor.parameters(), final.predictor.parameters()))
    assert all(torch.equal(a, b) for a, b in zip(raw.generator.parameters(), final.generator.parameters()))


def test_feature_cache_round_trip_then_cached_predictor_training(photos, tmp_path):
    """The cache holds each related pair's frozen features and images (float16 / uint8); stage 3 trains on it with
    the statistics losses alone, which move only P_W's statistics path."""
    from feature_cache import FeatureCache, build_cache, unpack

    from recolor_hf.data import RelatedPairDataset, list_images

    pipe = RecolorPipeline.from_preset("tiny", seed=0)
    pipe.save_pretrained(tmp_path / "tiny")
    pairs = RelatedPairDataset(list_images(photos), resolution=64, seed=0)
    build_cache(pipe, pairs, tmp_path / "cache", num_pairs=10, batch_size=4)  # more pairs than photos: 2 epochs
    cache = FeatureCache(tmp_path / "cache")
    assert len(cache) == 10 and cache.resolution == 64
    features, images = unpack(torch.utils.data.default_collate([cache[i] for i in range(3)]))
    with torch.no_grad():
        fresh = pipe.features(images["content"], images["reference"])
    torch.testing.assert_close(features.code, fresh.code, atol=2e-3, rtol=2e-3)
    torch.testing.assert_close(features.colour[2], fresh.colour[2], atol=2e-2, rtol=2e-3)
    out = launch("train_predictor.py", "--pretrained_model_name_or_path", str(tmp_path / "tiny"), "--output_dir",
                 str(tmp_path / "s3"), "--cache_dir", str(tmp_path / "cache"), "--max_train_steps", "2",
                 "--lambda_l1", "0", "--lambda_perceptual", "0", "--lambda_w0", "0", "--lambda_stats", "1",
                 "--lambda_base", "0.02", "--train_data_dir", str(photos))
    assert "stats=" in out.stderr and "base=" in out.stderr and "l1=" not in out.stderr
    trained = RecolorPipeline.from_pretrained(tmp_path / "s3")
    assert trained.predictor.statistics_head.weight.abs().sum() > 0
    assert all(head.weight.abs().sum() == 0 for head in trained.predictor.heads)  # no image loss: maps untouched
    # a cache built before E_W was retrained: --refresh_reference_maps recomputes W0R from the cached reference
    from accelerate import PartialState
    from train_predictor import DEFAULTS, PredictorStage

    PartialState()  # the stage logs through accelerate
    retrained = RecolorPipeline.from_preset("tiny", seed=1)
    batch = torch.utils.data.default_collate([cache[i] for i in range(2)])
    maps = {}
    for refresh in ("false", "true"):
        args = parse_args("", DEFAULTS, ["--output_dir", str(tmp_path / "x"), "--refresh_reference_maps", refresh])
        maps[refresh] = PredictorStage(retrained, args).inputs(batch)[0].reference_map
    torch.testing.assert_close(maps["false"], unpack(batch)[0].reference_map)
    with torch.no_grad():
        fresh = retrained.self_map(unpack(batch)[1]["reference"])
    torch.testing.assert_close(maps["true"], fresh)
    assert not torch.allclose(maps["true"], maps["false"])
    # --affinity_channels grows P_W a fresh affinity head; its other weights, and so nearly its output, stay
    args = parse_args("", DEFAULTS, ["--output_dir", str(tmp_path / "x"), "--affinity_channels", "4"])
    before = trained.predictor.state_dict()
    grown = PredictorStage(trained, args).predictor
    assert grown.config.affinity_channels == 4 and grown.affinity_head.weight.shape[0] == 4
    assert all(torch.equal(before[k], v) for k, v in grown.state_dict().items() if not k.startswith("affinity"))
    # --train_only: only the named parts of P_W train; a prefix naming nothing is refused
    args = parse_args("", DEFAULTS, ["--output_dir", str(tmp_path / "x"), "--train_only", "affinity_head"])
    with pytest.raises(ValueError, match="--train_only affinity_head"):  # no affinity head yet
        PredictorStage(RecolorPipeline.from_pretrained(tmp_path / "s3"), args)
    args = parse_args("", DEFAULTS, ["--output_dir", str(tmp_path / "x"), "--train_only", "affinity_head",
                                     "--affinity_channels", "4"])
    stage = PredictorStage(RecolorPipeline.from_pretrained(tmp_path / "s3"), args)
    assert {n for n, p in stage.predictor.named_parameters() if p.requires_grad} == {"affinity_head.weight",
                                                                                      "affinity_head.bias"}


def test_oracle_pairs_pair_different_photos_with_the_mask_oracle(photos):
    """OraclePairs: the reference is another photo, one of the content's nearest by semantic feature; the target
    keeps the content's layout (its regions take the reference's region colours), differs from the content where
    the photos' colours differ, and the same (seed, epoch, index) gives the same pair."""
    from feature_cache import OraclePairs

    from recolor_hf.data import list_images

    pipe = RecolorPipeline.from_preset("tiny", seed=0)
    paths = [p for p in list_images(photos) if p.name[0].isdigit()][:6]
    pairs = OraclePairs(pipe, paths, seed=0, batch_size=4)
    assert len(pairs) == len(paths) and not (pairs.neighbours == torch.arange(len(paths))[:, None]).any()
    sample = pairs[0]
    assert {name: tuple(x.shape) for name, x in sample.items()} == {name: (3, 64, 64) for name in sample}
    assert not torch.equal(sample["reference"], sample["content"])
    assert (sample["target"] - sample["content"]).abs().mean() > 0.01
    torch.testing.assert_close(pairs[0]["target"], sample["target"])


def test_labelled_pairs_match_classes_across_photos_with_the_mask_oracle(tmp_path):
    """LabelledPairs: the reference is another photo (from another sequence when there is one), the target is the
    mask oracle on the human labels: each half of the content takes the colour of the same class in the reference."""
    from feature_cache import LabelledPairs

    (tmp_path / "images").mkdir(), (tmp_path / "labels").mkdir()
    labels = np.zeros((32, 48), np.uint8)
    labels[:, 24:] = 1  # class 0 on the left, 1 on the right
    for k, name in enumerate(["day_f001.png", "day_f002.png", "dusk_f001.png"]):
        textured_image(32, 48, seed=k).save(tmp_path / "images" / name)
        Image.fromarray(labels).save(tmp_path / "labels" / name)
    pairs = LabelledPairs(tmp_path, resolution=32, seed=0, other_sequence_prob=1.0)
    assert len(pairs) == 3 and list(pairs.sequences) == ["day", "day", "dusk"]
    sample = pairs[2]  # dusk: its reference is one of the day photos
    assert {name: tuple(x.shape) for name, x in sample.items()} == {name: (3, 32, 32) for name in sample}
    assert (sample["target"] - sample["content"]).abs().mean() > 0.01
    torch.testing.assert_close(pairs[2]["target"], sample["target"])
    with pytest.raises(ValueError, match="at least 2"):
        (tmp_path / "one" / "images").mkdir(parents=True)
        LabelledPairs(tmp_path / "one")


def test_two_processes_train_and_checkpoint(photos, tmp_path):
    out_dir = tmp_path / "ddp"
    out = launch("train_generator.py", "--preset", "tiny", "--output_dir", str(out_dir), "--max_train_steps", "2",
                 "--train_data_dir", str(photos), processes=2)
    assert "x 2 processes" in out.stderr
    assert ("CPU threads" in out.stderr) == ((os.cpu_count() or 1) > 2)  # 2 processes x 1 thread use 2 cores
    assert (out_dir / "checkpoint-2").is_dir()
    RecolorPipeline.from_pretrained(out_dir)


def test_killed_run_resumes_exactly_from_the_newest_checkpoint_that_loads(photos, tmp_path):
    """A kill while checkpoint-3 is written, and a damaged checkpoint-2: resuming takes checkpoint-1 and the
    losses of steps 2-6 (same batches, same random draws) equal those of an uninterrupted run; bad photos are
    skipped and logged once."""
    data = ["--preset", "tiny", "--train_data_dir", str(photos)]
    full, killed = tmp_path / "full", tmp_path / "killed"
    out = launch("train_generator.py", *data, "--output_dir", str(full), "--max_train_steps", "6")
    assert out.stderr.count(f"skipped {photos / 'a' / 'bomb.png'}: ") == 1 and "decompression bomb" in out.stderr
    assert out.stderr.count(f"skipped {photos / 'b' / 'cut.jpg'}: ") == 1
    assert "8 training photos, 2 unreadable photos skipped" in out.stderr
    launch("train_generator.py", *data, "--output_dir", str(killed), "--max_train_steps", "3",
           "--checkpointing_steps", "1", "--checkpoints_total_limit", "3")
    # what a kill while writing checkpoint-3 leaves: its EMA weights 0 bytes and no completion marker
    (killed / "checkpoint-3" / "generator_ema" / "diffusion_pytorch_model.safetensors").write_bytes(b"")
    (killed / "checkpoint-3" / "checkpoint_complete.json").unlink()
    # and checkpoint-2 damaged on disk after it was written: the optimizer state is garbage of the same size
    optimizer = killed / "checkpoint-2" / "optimizer.bin"
    optimizer.write_bytes(b"x" * optimizer.stat().st_size)
    out = launch("train_generator.py", *data, "--output_dir", str(killed), "--max_train_steps", "6",
                 "--resume_from_checkpoint", "latest")
    assert f"skipping {killed / 'checkpoint-3'}: no checkpoint_complete.json" in out.stderr
    assert f"skipping {killed / 'checkpoint-2'}: it does not load" in out.stderr
    assert f"resumed from {killed / 'checkpoint-1'} at step 1" in out.stderr
    expected, resumed = logged_losses(full), logged_losses(killed)
    assert sorted(expected) == sorted(resumed) == [1, 2, 3, 4, 5, 6]
    assert resumed == expected  # exactly: the same batches at every step
    a, b = RecolorPipeline.from_pretrained(full), RecolorPipeline.from_pretrained(killed)
    assert all(torch.equal(x, y) for x, y in zip(a.generator.parameters(), b.generator.parameters()))
    # asked for by path, a checkpoint that does not load is a clear error, not a traceback from inside the load
    with pytest.raises(ValueError, match=r"checkpoint-3 does not load \(no checkpoint_complete.json"):
        train(GeneratorStage, tiny_args(photos, killed, "--resume_from_checkpoint", str(killed / "checkpoint-3")))


def test_resumable_checkpoints_need_the_marker_and_the_recorded_sizes(tmp_path):
    from accelerate import PartialState

    PartialState()  # accelerate's logger, which reports the skipped folders, needs it

    weights = "generator/diffusion_pytorch_model.safetensors"
    for name in ("checkpoint-2", "checkpoint-10", "checkpoint-12", "checkpoint-14", "checkpoint-3.bak"):
        (tmp_path / name / "generator").mkdir(parents=True)
        (tmp_path / name / weights).write_bytes(b"weights")
    for name in ("checkpoint-2", "checkpoint-10", "checkpoint-12", "checkpoint-3.bak"):
        (tmp_path / name / CHECKPOINT_MARKER).write_text(json.dumps({"files": {weights: 7}}))
    (tmp_path / "checkpoint-12" / weights).write_bytes(b"wei")  # truncated after it was recorded
    assert next(resumable_checkpoints(tmp_path)).name == "checkpoint-10"  # 14: never completed, 12: truncated
    prune_checkpoints(tmp_path, 0)  # a limit below 1 still keeps the newest complete one
    assert next(resumable_checkpoints(tmp_path)).name == "checkpoint-10" and not (tmp_path / "checkpoint-2").exists()
    assert (tmp_path / "checkpoint-12").is_dir() and (tmp_path / "checkpoint-14").is_dir()  # left for inspection


def test_checkpoint_problem_names_the_component_file_and_the_layout(tmp_path):
    checkpoint = tmp_path / "checkpoint-5"
    for folder in ("predictor", "predictor_ema"):
        (checkpoint / folder).mkdir(parents=True)
    files = {"predictor/config.json": 2, "predictor_ema/diffusion_pytorch_model.safetensors": 9}
    (checkpoint / CHECKPOINT_MARKER).write_text(json.dumps({"files": files}))
    (checkpoint / "predictor" / "config.json").write_text("{}")
    assert checkpoint_problem(checkpoint) == "predictor_ema/diffusion_pytorch_model.safetensors is missing"
    (checkpoint / "predictor_ema" / "diffusion_pytorch_model.safetensors").write_bytes(b"weig")
    truncated = "predictor_ema/diffusion_pytorch_model.safetensors is truncated (4 of 9 bytes)"
    assert checkpoint_problem(checkpoint) == truncated
    (checkpoint / "predictor_ema" / "diffusion_pytorch_model.safetensors").write_bytes(b"weights!!")
    assert checkpoint_problem(checkpoint) is None
    # a checkpoint of the layout before component folders (one state dict of the stage, a pickled EMA)
    (checkpoint / CHECKPOINT_MARKER).write_text(json.dumps({"files": {"model.safetensors": 0}}))
    assert "no component folder" in checkpoint_problem(checkpoint)


def test_export_refuses_an_incomplete_checkpoint(tmp_path):
    (tmp_path / "checkpoint-4").mkdir()
    with pytest.raises(ValueError, match="checkpoint-4 is not a complete checkpoint: no checkpoint_complete.json"):
        export(tmp_path, tmp_path / "checkpoint-4", tmp_path / "out")
    cmd = [sys.executable, str(ROOT / "train" / "export.py"), "--pretrained_model_name_or_path", str(tmp_path),
           "--checkpoint_path", str(tmp_path / "checkpoint-4"), "--output_dir", str(tmp_path / "out")]
    result = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "checkpoint-4 is not a complete checkpoint: no checkpoint_complete.json" in result.stderr
    assert not (tmp_path / "out").exists()


def test_export_keeps_existing_files_and_needs_the_ema_it_is_asked_for(photos, tmp_path):
    run = tmp_path / "run"
    train(GeneratorStage, tiny_args(photos, run, "--max_train_steps", "1", "--no-use_ema"))
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="already holds files"):
        export(run, run / "checkpoint-1", tmp_path / "taken")
    assert (tmp_path / "taken" / "notes.txt").read_text() == "mine"
    with pytest.raises(ValueError, match="has no generator_ema, latent_encoder_ema folder"):
        export(run, run / "checkpoint-1", tmp_path / "out", use_ema=True)


def test_time_budget_stops_with_a_checkpoint_and_leaves_the_arguments_alone(photos, tmp_path):
    args = tiny_args(photos, tmp_path, "--max_train_minutes", "1e-9")
    train(GeneratorStage, args)
    assert args.max_train_steps == 1000  # the default budget, untouched
    assert [p.name for p in tmp_path.glob("checkpoint-*")] == ["checkpoint-1"]
    assert (tmp_path / "validation" / "step-000001.png").is_file() and (tmp_path / "model_index.json").is_file()


def test_look_mix_and_bool_flag_arguments():
    assert look_mix("global=0.4,local=0.4,segment=0.2") == {"global": 0.4, "local": 0.4, "segment": 0.2}
    for bad in ("sepia=1", "global", "global=-1,local=1", "global=0"):
        with pytest.raises(argparse.ArgumentTypeError):
            look_mix(bad)
    assert [bool_flag(x) for x in ("true", "Yes", "1", "false", "NO", "0")] == [True] * 3 + [False] * 3
    with pytest.raises(argparse.ArgumentTypeError, match="expected true or false"):
        bool_flag("maybe")


def test_absolute_maps_trains_generator_with_map_encoder_and_keeps_the_code_encoder(photos, tmp_path):
    """Stage 2 with --absolute_maps: G' and E_W move together on the three losses (absolute colour, self-
    reconstruction, stage 1's code path); E_w and P_W stay as they were."""
    out = launch("train_map_encoder.py", "--preset", "tiny", "--output_dir", str(tmp_path / "s2"), "--max_train_steps",
                 "2", "--absolute_maps", "true", "--target_mix", "mono=1,strong=1", "--train_data_dir", str(photos))
    assert all(f"{name}=" in out.stderr for name in ("absolute", "self_l1", "code"))
    start, trained = RecolorPipeline.from_preset("tiny", seed=0), RecolorPipeline.from_pretrained(tmp_path / "s2")
    moved = {name: any((a != b).any() for a, b in zip(getattr(start, name).parameters(),
                                                      getattr(trained, name).parameters()))
             for name in ("generator", "map_encoder", "latent_encoder", "predictor")}
    assert moved == {"generator": True, "map_encoder": True, "latent_encoder": False, "predictor": False}
