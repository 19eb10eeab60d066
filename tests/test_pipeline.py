import hashlib
import itertools
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
from recolor_hf.fallback import FALLBACKS
from recolor_hf.loading import COMPONENTS
from recolor_hf.models.transfer import confidence_weight


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


def test_push_to_hub_uploads_what_diffusers_loads(tiny_pipe, monkeypatch):
    """push_to_hub uploads the weights, the custom-code files DiffusionPipeline.from_pretrained(repo_id,
    trust_remote_code=True) needs, and diffusers' generated model card with that call as its usage snippet."""
    from diffusers.utils import hub_utils
    from huggingface_hub import ModelCard, ModelCardData

    uploaded = {}

    def upload(self, folder, repo_id, **kwargs):
        uploaded["files"] = {str(p.relative_to(folder)): p.read_text() for p in Path(folder).rglob("*")
                             if p.suffix in (".json", ".py", ".md")}

    template = ModelCard.from_template(ModelCardData(library_name="diffusers"),
                                       template_path=hub_utils.MODEL_CARD_TEMPLATE_PATH)  # a new repository's card
    monkeypatch.setattr(hub_utils, "create_repo", lambda repo_id, **kwargs: type("Repo", (), {"repo_id": repo_id}))
    monkeypatch.setattr(hub_utils, "load_or_create_model_card", lambda *args, **kwargs: template)
    monkeypatch.setattr(hub_utils.PushToHubMixin, "_upload_folder", upload)  # below RecolorPipeline's own step
    tiny_pipe.push_to_hub("someone/recolor-test", token="hf_test")
    files = uploaded["files"]
    index = json.loads(files["model_index.json"])
    assert index["_class_name"] == ["pipeline", "RecolorPipeline"] and "pipeline.py" in files
    for name in COMPONENTS:
        assert index[name][0] == "recolor_components" and f"{name}/recolor_components.py" in files
    assert "from recolor_hf.pipeline import RecolorPipeline" in files["pipeline.py"]
    card = files["README.md"]
    assert 'DiffusionPipeline.from_pretrained("someone/recolor-test", trust_remote_code=True)' in card
    assert "TODO: add an example code snippet" not in card


def test_output_has_content_size(tiny_pipe, pair):
    out = tiny_pipe(content=pair[0], reference=pair[1])
    assert isinstance(out, RecolorPipelineOutput)
    assert out.images[0].size == (517, 333) and out.images[0].mode == "RGB"


def test_save_load_round_trip(tiny_pipe, saved, pair):
    index = json.loads((saved / "model_index.json").read_text())
    assert index["generator"] == ["recolor_components", "RecolorGenerator"]  # diffusers' custom-code layout
    assert "from recolor_hf.models.generator import RecolorGenerator" in (
        saved / "generator" / "recolor_components.py").read_text()
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


REVISION = "0123456789abcdef0123456789abcdef01234567"


def hub_cache(folder: Path, cache: Path, repo_id: str, revision: str = REVISION) -> Path:
    """Lay out ``folder`` in ``cache`` as huggingface_hub lays out a downloaded repository: blobs named by their
    sha256, snapshots/<revision>/ of relative symlinks to them, refs/main naming the revision."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / revision
    (repo / "blobs").mkdir(parents=True)
    for path in folder.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
            blob.write_bytes(data)
            link = snapshot / path.relative_to(folder)
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(os.path.relpath(blob, link.parent))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision)
    return snapshot


OFFLINE_LOADS = """
import sys
import numpy as np
from PIL import Image
from diffusers import DiffusionPipeline
from recolor_hf import RecolorPipeline

saved = sys.argv[1]
content, reference = Image.open(sys.argv[2]), Image.open(sys.argv[3])
def run(pipe):
    return pipe(content=content, reference=reference, output_type="np").images[0]
expected = run(RecolorPipeline.from_pretrained(saved))
for name, load in [
        ("repo id", lambda: RecolorPipeline.from_pretrained("someone/recolor-test")),
        ("revision", lambda: RecolorPipeline.from_pretrained("someone/recolor-test", revision=sys.argv[4])),
        ("diffusers folder", lambda: DiffusionPipeline.from_pretrained(saved, trust_remote_code=True)),
        ("diffusers repo id", lambda: DiffusionPipeline.from_pretrained("someone/recolor-test",
                                                                        trust_remote_code=True))]:
    pipe = load()
    print(name, type(pipe).__module__ + "." + type(pipe).__name__, float(np.abs(run(pipe) - expected).max()),
          sep="|")
for name, load in [("missing repo", lambda: RecolorPipeline.from_pretrained("someone/not-there")),
                   ("diffusers untrusted", lambda: DiffusionPipeline.from_pretrained(saved))]:
    try:
        load()
        print(name, "no error", sep="|")
    except ValueError as err:
        print(name, "ValueError " + " ".join(str(err).split()), sep="|")
"""


@pytest.fixture(scope="module")
def offline_loads(saved, pair, tmp_path_factory) -> dict[str, str]:
    """{what: printed result} of OFFLINE_LOADS, run with HF_HUB_OFFLINE=1 and ``saved`` in a Hugging Face cache
    as the repository someone/recolor-test (a fresh process: the hub client reads HF_HUB_OFFLINE at import)."""
    home = tmp_path_factory.mktemp("hf_home")
    hub_cache(saved, home / "hub", "someone/recolor-test")
    images = []
    for i, image in enumerate(pair):
        images.append(home / f"{i}.png")
        image.save(images[-1])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_"))}
    env |= {"HF_HOME": str(home), "HF_HUB_OFFLINE": "1"}  # the cache is $HF_HOME/hub; modules go there too
    done = subprocess.run([sys.executable, "-c", OFFLINE_LOADS, str(saved), *map(str, images), REVISION], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return dict(line.split("|", 1) for line in done.stdout.splitlines() if "|" in line)


def test_from_pretrained_by_repo_id_from_the_offline_cache(offline_loads):
    """RecolorPipeline.from_pretrained("org/name") finds the repository in the Hugging Face cache with
    HF_HUB_OFFLINE=1 (by branch and by revision) and gives the same result as the folder itself."""
    for name in ("repo id", "revision"):
        kind, difference = offline_loads[name].split("|")
        assert kind == "recolor_hf.pipeline.RecolorPipeline" and float(difference) == 0.0
    assert offline_loads["missing repo"].startswith("ValueError no checkpoint folder at someone/not-there")
    assert "not in the cache" in offline_loads["missing repo"] and "HF_HUB_OFFLINE=1" in offline_loads["missing repo"]


def test_diffusion_pipeline_loads_the_pipeline(offline_loads):
    """DiffusionPipeline.from_pretrained(folder or repo id, trust_remote_code=True) builds a RecolorPipeline from a
    saved folder (diffusers' custom-code layout); without trust_remote_code diffusers refuses, saying so."""
    for name in ("diffusers folder", "diffusers repo id"):
        kind, difference = offline_loads[name].split("|")
        assert kind == "recolor_hf.pipeline.RecolorPipeline" and float(difference) == 0.0
    assert "trust_remote_code=True" in offline_loads["diffusers untrusted"]


def test_repo_id_errors_name_the_problem(saved, tmp_path):
    """Offline (local_files_only), a repository missing from the cache or a cached one missing a component is a
    ValueError saying which; a relative path that does not exist and is no repo id stays a folder error."""
    snapshot = hub_cache(saved, tmp_path, "someone/recolor-test")
    loaded = RecolorPipeline.from_pretrained("someone/recolor-test", cache_dir=tmp_path, local_files_only=True)
    assert loaded.config.resolution == RecolorPipeline.from_pretrained(saved).config.resolution
    with pytest.raises(ValueError, match="'someone/other' .* is not in the cache"):
        RecolorPipeline.from_pretrained("someone/other", cache_dir=tmp_path, local_files_only=True)
    shutil.rmtree(snapshot / "predictor")
    with pytest.raises(ValueError, match="missing component 'predictor'"):
        RecolorPipeline.from_pretrained("someone/recolor-test", cache_dir=tmp_path, local_files_only=True)
    with pytest.raises(ValueError, match="no checkpoint folder at a/b/c"):
        RecolorPipeline.from_pretrained("a/b/c")


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
    for module in ("diffusers.models.modeling_utils", "diffusers.pipelines.pipeline_utils", "recolor_hf.loading"):
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
    sixteen = Image.fromarray(np.asarray(gray).astype(np.uint16) * 257)  # uint16 -> I;16 (no mode=: Pillow 13)
    assert sixteen.mode == "I;16"
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
    content = latents.content_low
    rec = tiny_pipe.generator(content, maps=tiny_pipe.self_map(content))
    torch.testing.assert_close(low, rec, atol=1e-3, rtol=1e-3)  # base_0 = Lab round trip of the content
    for bad in (-0.1, 2.5, float("nan"), "1", None, True):
        with pytest.raises(ValueError, match="alpha"):
            tiny_pipe(content=pair[0], reference=pair[1], alpha=bad)


def test_fallback_changes_only_what_the_reference_lacks_and_is_checked(tiny_pipe, pair):
    """The three fallbacks give three results for a pair whose matches are partly distrusted, each the same on
    the learned and base-only paths where every match is trusted; an unknown fallback is refused by name."""
    latents = {kind: tiny_pipe.encode(pair[0], pair[1], fallback=kind, learned=False) for kind in FALLBACKS}
    trust = confidence_weight(latents["global"].correspondence.confidence,
                              tuple(tiny_pipe.predictor.config.confidence_range))
    assert 0 < trust.mean() < 1  # some matches trusted, some not
    targets = [latents[kind].target_stats for kind in FALLBACKS]
    for a, b in itertools.combinations(targets, 2):
        assert not torch.allclose(a, b)
    outputs = [np.asarray(tiny_pipe(content=pair[0], reference=pair[1], fallback=kind).images[0]) for kind in
               FALLBACKS]
    assert all(not np.array_equal(a, b) for a, b in itertools.combinations(outputs, 2))
    for bad in ("nearest", None, 1):
        with pytest.raises(ValueError, match="fallback must be one of global, look, keep"):
            tiny_pipe(content=pair[0], reference=pair[1], fallback=bad)


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
