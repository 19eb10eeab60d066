import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import ROOT, textured_image
from recolor_hf import RecolorPipeline, RecolorPipelineOutput
from recolor_hf.pipeline import COMPONENTS


@pytest.fixture(scope="module")
def pair():
    return textured_image(333, 517, seed=1), textured_image(200, 300, seed=2)


@pytest.fixture(scope="module")
def saved(tiny_pipe, tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "pipe"
    tiny_pipe.save_pretrained(path)
    return path


HUB_CALLS = """
import huggingface_hub, tempfile
from recolor_hf import RecolorPipeline

def error_of(call):
    try:
        call()
    except Exception as err:
        return type(err).__module__ + "." + type(err).__name__
    return "no error"

pipe = RecolorPipeline.from_preset("tiny")
print(error_of(lambda: huggingface_hub.create_repo("someone/recolor-test", token="hf_test")))
print(error_of(lambda: pipe.push_to_hub("someone/recolor-test", token="hf_test")))
print(error_of(lambda: pipe.save_pretrained(tempfile.mkdtemp(), push_to_hub=True, repo_id="someone/recolor-test",
                                            token="hf_test")))
"""


def test_push_to_hub_is_the_diffusers_call(tmp_path):
    """With the hub client pointed at a closed local port, both diffusers hub calls fail exactly as the hub
    client itself does (its connection error), never with an error of ours (AttributeError, TypeError...)."""
    with socket.socket() as probe:  # a port nothing listens on once the socket is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env |= {"HF_ENDPOINT": f"http://127.0.0.1:{port}", "HF_HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", HUB_CALLS], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    hub, push, save = done.stdout.splitlines()[-3:]
    assert hub != "no error" and "AttributeError" not in hub
    assert push == hub and save == hub


def test_save_pretrained_pushes_the_cleaned_folder(saved, tmp_path, monkeypatch):
    """save_pretrained(push_to_hub=True) uploads through diffusers' push_to_hub a folder whose configs name no
    local path (the hub calls are replaced by recorders)."""
    from diffusers.utils import hub_utils
    from huggingface_hub import ModelCard

    uploaded = {}

    def upload(self, folder, repo_id, **kwargs):
        uploaded["repo_id"] = repo_id
        uploaded["files"] = {str(p.relative_to(folder)): p.read_text() for p in Path(folder).rglob("*.json")}

    monkeypatch.setattr(hub_utils, "create_repo", lambda repo_id, **kwargs: type("Repo", (), {"repo_id": repo_id}))
    monkeypatch.setattr(hub_utils, "load_or_create_model_card", lambda *args, **kwargs: ModelCard("---\n---\n"))
    monkeypatch.setattr(RecolorPipeline, "_upload_folder", upload)
    loaded = RecolorPipeline.from_pretrained(saved)  # configs now carry _name_or_path = the local folder
    loaded.save_pretrained(tmp_path / "out", push_to_hub=True, repo_id="someone/recolor-test", token="hf_test")
    assert uploaded["repo_id"] == "someone/recolor-test"
    assert {"model_index.json", "generator/config.json", "predictor/config.json"} <= set(uploaded["files"])
    assert not any("_name_or_path" in text or str(saved) in text for text in uploaded["files"].values())
    assert not any("_name_or_path" in p.read_text() for p in (tmp_path / "out").rglob("*.json"))


def test_output_has_content_size(tiny_pipe, pair):
    out = tiny_pipe(content=pair[0], reference=pair[1])
    assert isinstance(out, RecolorPipelineOutput)
    assert out.images[0].size == (517, 333) and out.images[0].mode == "RGB"


def test_save_load_round_trip(tiny_pipe, saved, pair):
    index = json.loads((saved / "model_index.json").read_text())
    assert index["generator"] == ["recolor_hf.models.generator", "RecolorGenerator"]
    assert index["resolution"] == tiny_pipe.config.resolution
    assert all(any((saved / c).glob("*.safetensors")) for c in COMPONENTS)
    loaded = RecolorPipeline.from_pretrained(saved)
    for name in COMPONENTS:
        a, b = getattr(tiny_pipe, name).state_dict(), getattr(loaded, name).state_dict()
        assert max((a[k] - b[k]).abs().max().item() for k in a) <= 1e-5
    x = [tiny_pipe(content=pair[0], reference=pair[1], output_type="np").images[0],
         loaded(content=pair[0], reference=pair[1], output_type="np").images[0]]
    assert np.abs(x[0] - x[1]).max() <= 1e-5
    assert loaded(content=pair[0], reference=pair[1]).images[0].size == (517, 333)


def test_missing_component_is_named(saved, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(saved, broken)
    shutil.rmtree(broken / "predictor")
    with pytest.raises(ValueError, match="missing component 'predictor'"):
        RecolorPipeline.from_pretrained(broken)
    for f in (broken / "map_encoder").glob("*.safetensors"):
        f.unlink()
    with pytest.raises(ValueError, match="weights of component 'map_encoder'"):
        RecolorPipeline.from_pretrained(broken)
    with pytest.raises(ValueError, match="no checkpoint folder"):
        RecolorPipeline.from_pretrained(tmp_path / "nothing-here")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="model_index.json"):
        RecolorPipeline.from_pretrained(tmp_path / "empty")


def test_loads_quietly_without_accelerate(saved, pair, monkeypatch, capfd):
    for module in ("diffusers.models.modeling_utils", "diffusers.pipelines.pipeline_utils", "recolor_hf.pipeline"):
        monkeypatch.setattr(f"{module}.is_accelerate_available", lambda: False)
    loaded = RecolorPipeline.from_pretrained(saved)
    assert loaded(content=pair[0], reference=pair[1]).images[0].size == (517, 333)
    assert "accelerate" not in capfd.readouterr().err


def test_batch_equals_single(tiny_pipe, pair):
    other = textured_image(120, 90, seed=3)
    batch = tiny_pipe(content=[pair[0], other], reference=pair[1], output_type="np").images
    singles = [tiny_pipe(content=c, reference=pair[1], output_type="np").images[0] for c in (pair[0], other)]
    for b, s in zip(batch, singles):
        assert b.shape == s.shape and np.abs(b - s).max() <= 2 / 255
    refs = tiny_pipe(content=[pair[0], other], reference=[pair[1], pair[0]], output_type="pt").images
    assert refs[1].shape == (3, 120, 90)
    with pytest.raises(ValueError, match="2 contents but 3 references"):
        tiny_pipe(content=[pair[0], other], reference=[pair[1]] * 3)


def test_input_kinds(tiny_pipe, pair):
    arr = np.asarray(pair[0])
    from_pil = tiny_pipe(content=pair[0], reference=pair[1], output_type="np").images[0]
    from_np = tiny_pipe(content=arr, reference=pair[1], output_type="np").images[0]
    from_float = tiny_pipe(content=arr / 255.0, reference=pair[1], output_type="np").images[0]
    tensor = torch.from_numpy(arr).permute(2, 0, 1)[None].float() / 255
    from_pt = tiny_pipe(content=tensor, reference=pair[1], output_type="np").images[0]
    for other in (from_np, from_float, from_pt):
        assert np.abs(other - from_pil).max() <= 1 / 255


def test_modes_are_converted(tiny_pipe, pair, tmp_path):
    content = pair[0]
    gray = content.convert("L")
    out = tiny_pipe(content=gray, reference=pair[1]).images[0]
    assert out.size == content.size and out.mode == "RGB"
    rgba = content.convert("RGBA")
    palette = content.convert("P")
    sixteen = Image.fromarray((np.asarray(gray).astype(np.uint16) * 257), mode="I;16")
    for img in (rgba, palette, sixteen):
        assert tiny_pipe(content=img, reference=pair[1]).images[0].size == content.size
    # EXIF orientation 6 (rotate 90 deg) -> output has the displayed size
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "rotated.jpg"
    content.save(path, exif=exif)
    assert tiny_pipe(content=str(path), reference=pair[1]).images[0].size == (333, 517)


def test_alpha_zero_is_self_reconstruction_and_alpha_is_checked(tiny_pipe, pair):
    latents = tiny_pipe.encode(pair[0], pair[1])
    low = tiny_pipe.render(latents, 0.0)
    source = latents.content_low
    rec = tiny_pipe.generator(source, maps=tiny_pipe.self_map(source))
    torch.testing.assert_close(low, rec, atol=1e-3, rtol=1e-3)  # base_0 = Lab round trip of the source
    for bad in (-0.1, 2.5, float("nan"), "1", None, True):
        with pytest.raises(ValueError, match="alpha"):
            tiny_pipe(content=pair[0], reference=pair[1], alpha=bad)


def test_self_code_and_map(tiny_pipe):
    r = tiny_pipe.config.resolution
    a = torch.rand(2, 3, r, r)
    assert tiny_pipe.self_code(a).shape == (2, tiny_pipe.generator.config.style_dim)
    assert tiny_pipe.self_map(a).shape[-1] == r // 16


def test_bad_inputs_are_refused(tiny_pipe, pair, tmp_path):
    ref = pair[1]
    truncated = tmp_path / "cut.jpg"
    pair[0].save(tmp_path / "full.jpg", quality=95)
    data = (tmp_path / "full.jpg").read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated"):
        tiny_pipe(content=Image.open(truncated), reference=ref)
    with pytest.raises(ValueError, match="truncated"):
        tiny_pipe(content=str(truncated), reference=ref)
    (tmp_path / "junk.png").write_bytes(b"not an image at all")
    with pytest.raises(ValueError, match="not a readable image"):
        tiny_pipe(content=tmp_path / "junk.png", reference=ref)
    with pytest.raises(ValueError, match="no such file"):
        tiny_pipe(content=tmp_path / "missing.png", reference=ref)
    with pytest.raises(ValueError, match="empty"):
        tiny_pipe(content=np.zeros((0, 5, 3), np.uint8), reference=ref)
    with pytest.raises(ValueError, match="must be a path"):
        tiny_pipe(content={"not": "an image"}, reference=ref)
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        tiny_pipe(content=np.full((8, 8, 3), 2.0), reference=ref)

def test_pixel_limit_is_configurable(saved):
    limited = RecolorPipeline.from_pretrained(saved, max_pixels=10_000)
    assert limited.config.max_pixels == 10_000
    with pytest.raises(ValueError, match="reference is 200x100 = 20,000 pixels, over the pixel limit of 10,000"):
        limited(content=Image.new("RGB", (50, 50)), reference=Image.new("RGB", (200, 100)))


def test_huge_and_bad_output_type(tiny_pipe, pair, tmp_path):
    ref = pair[1]
    with pytest.raises(ValueError, match="over the pixel limit"):
        # default limit 64 MP: a lazily opened huge PNG header is refused before decoding
        big = tmp_path / "big.png"
        Image.new("L", (9000, 8000)).save(big)
        tiny_pipe(content=str(big), reference=ref)
    with pytest.raises(ValueError, match="output_type"):
        tiny_pipe(content=pair[0], reference=ref, output_type="jpeg")


def test_dark_16_bit_and_premultiplied_modes(tiny_pipe, pair):
    from recolor_hf.image_io import load_image

    dark = Image.fromarray(np.full((8, 8), 200, np.uint16)).convert("I;16")
    assert np.asarray(load_image(dark)).max() == 1  # 200 / 65535 of full scale, not 200 / 255
    premultiplied = pair[0].convert("RGBA").convert("RGBa")
    assert load_image(premultiplied).size == pair[0].size
