import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image, ImageCms

from conftest import ROOT, textured_image
from recolor_hf import RecolorPipeline
from recolor_hf.cli import Job, build_parser, csv_jobs, main
from recolor_hf.image_io import to_uint8
from recolor_hf.metrics import ciede2000


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "pipe"
    RecolorPipeline.from_preset("tiny").save_pretrained(path)
    return path


@pytest.fixture
def files(tmp_path):
    """A content photo (333x517), a reference and a folder for outputs."""
    content, reference = tmp_path / "content.jpg", tmp_path / "reference.png"
    textured_image(333, 517, seed=1).save(content, quality=95)
    textured_image(60, 80, seed=2).save(reference)
    return content, reference


def recolor(checkpoint, *args) -> int:
    return main([*map(str, args), "--checkpoint", str(checkpoint), "--device", "cpu"])


def test_single_file(checkpoint, files, tmp_path, capsys):
    content, reference = files
    out = tmp_path / "out" / "result.png"
    assert recolor(checkpoint, content, "--reference", reference, "-o", out, "--alpha", "0.5") == 0
    with Image.open(out) as image:
        assert image.size == (517, 333) and image.mode == "RGB"
    assert "1 written, 0 failed, 0 skipped (exists)" in capsys.readouterr().out
    assert [p.name for p in out.parent.iterdir()] == ["result.png"]  # no temporary file left


def test_fallback_reaches_the_pipeline(checkpoint, files, tmp_path):
    """--fallback keep gives the pipeline's output with fallback="keep", not the default's."""
    content, reference = files
    outputs = {kind: tmp_path / f"{kind}.png" for kind in ("global", "keep")}
    for kind, out in outputs.items():
        assert recolor(checkpoint, content, "--reference", reference, "-o", out, "--fallback", kind) == 0
    pipe = RecolorPipeline.from_pretrained(checkpoint)
    expected = np.asarray(pipe(content=Image.open(content), reference=Image.open(reference), fallback="keep").images[0])
    with Image.open(outputs["keep"]) as keep, Image.open(outputs["global"]) as default:
        np.testing.assert_array_equal(np.asarray(keep), expected)
        assert not np.array_equal(np.asarray(default), expected)


def test_existing_output_kept_without_overwrite(checkpoint, files, tmp_path, capsys):
    content, reference = files
    out = tmp_path / "result.webp"
    out.write_bytes(b"old")
    assert recolor(checkpoint, content, "--reference", reference, "-o", out) == 0
    assert out.read_bytes() == b"old"
    captured = capsys.readouterr()
    assert "pass --overwrite" in captured.err and "0 written, 0 failed, 1 skipped (exists)" in captured.out
    assert recolor(checkpoint, content, "--reference", reference, "-o", out, "--overwrite") == 0
    with Image.open(out) as image:
        assert image.format == "WEBP" and image.size == (517, 333)


def test_never_writes_onto_an_input(checkpoint, files, capsys):
    content, reference = files
    before = content.read_bytes(), reference.read_bytes()
    for target in (content, reference, content.parent / "." / content.name):
        assert recolor(checkpoint, content, "--reference", reference, "-o", target, "--overwrite") == 1
        assert "it is one of the inputs" in capsys.readouterr().err
    assert (content.read_bytes(), reference.read_bytes()) == before


def test_folder_mode_goes_on_after_bad_files(checkpoint, files, tmp_path, capsys):
    _, reference = files
    folder, out = tmp_path / "photos", tmp_path / "recoloured"
    folder.mkdir()
    textured_image(48, 40, seed=3).save(folder / "a.png")
    textured_image(40, 56, seed=4).save(folder / "c.jpg")
    textured_image(64, 64, seed=5).save(folder / "b_truncated.jpg", quality=95)
    data = (folder / "b_truncated.jpg").read_bytes()
    (folder / "b_truncated.jpg").write_bytes(data[: len(data) // 2])
    (folder / "d_text.png").write_text("not an image")
    (folder / "notes.txt").write_text("ignored: not an image extension")
    assert recolor(checkpoint, folder, "--reference", reference, "-o", out) == 1
    captured = capsys.readouterr()
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "c.jpg"]
    with Image.open(out / "c.jpg") as image:
        assert image.size == (56, 40)
    errors = [line for line in captured.err.splitlines() if line.startswith("error:")]
    assert len(errors) == 2 and "b_truncated.jpg" in errors[0] and "d_text.png" in errors[1]
    assert "2 written, 2 failed, 0 skipped (exists)" in captured.out


def test_out_of_memory_on_one_image_goes_on(checkpoint, files, tmp_path, monkeypatch, capsys):
    """torch reports CPU/GPU out-of-memory as RuntimeError: that image fails with a message, the rest are written."""
    _, reference = files
    folder, out = tmp_path / "photos", tmp_path / "recoloured"
    folder.mkdir()
    for k, name in enumerate(("a.png", "b.png", "c.png")):
        textured_image(40, 48, seed=10 + k).save(folder / name)
    call = RecolorPipeline.__call__

    def flaky(self, content, *args, **kwargs):
        if content.size == (48, 40) and not hasattr(flaky, "raised"):
            flaky.raised = True
            raise RuntimeError("DefaultCPUAllocator: not enough memory")
        return call(self, content, *args, **kwargs)

    monkeypatch.setattr(RecolorPipeline, "__call__", flaky)
    assert recolor(checkpoint, folder, "--reference", reference, "-o", out) == 1
    captured = capsys.readouterr()
    assert sorted(p.name for p in out.iterdir()) == ["b.png", "c.png"]
    assert "error:" in captured.err and "a.png" in captured.err and "not enough memory" in captured.err
    assert "2 written, 1 failed" in captured.out


def test_csv_mode(checkpoint, files, tmp_path, monkeypatch, capsys):
    content, reference = files
    work = tmp_path / "job"
    work.mkdir()
    textured_image(30, 50, seed=6).save(work / "small.png")
    (work / "pairs.csv").write_text(
        "content,reference,output\n"
        "small.png,../reference.png,named/first.jpg\n"
        "../content.jpg,small.png,\n"
    )
    monkeypatch.chdir(tmp_path)  # CSV inputs are relative to the CSV's folder, outputs to -o
    assert recolor(checkpoint, "--pairs", work / "pairs.csv", "-o", "outs", "--ext", "png") == 0
    outs = tmp_path / "outs"
    with Image.open(outs / "named" / "first.jpg") as first, Image.open(outs / "content.png") as second:
        assert first.format == "JPEG" and first.size == (50, 30)
        assert second.format == "PNG" and second.size == (517, 333)
    assert "2 written" in capsys.readouterr().out


def test_old_source_names_still_work(tmp_path):
    """Files and scripts written before "source" became "content": a pairs CSV's ``source`` column and
    ``--source-mask`` are read as ``content`` and ``--content-mask``."""
    (tmp_path / "pairs.csv").write_text("source,reference\na.jpg,b.png\n")
    assert csv_jobs(tmp_path / "pairs.csv", tmp_path / "out", None) == [
        Job(tmp_path / "a.jpg", tmp_path / "b.png", tmp_path / "out" / "a.jpg")]
    args = build_parser().parse_args(["a.jpg", "--source-mask", "m.png", "--reference-mask", "r.png"])
    assert args.content_mask == Path("m.png") and args.content == Path("a.jpg")


@pytest.mark.parametrize("content, problem", [
    ("content,reference\na.jpg," + "x" * 140_000 + "\n",
     "pairs.csv line 2: not a readable CSV row (field larger than field limit (131072))"),
    ("content,reference\na.jpg,b.png\nc\0.jpg,b.png\n", "pairs.csv line 3: a field holds a NUL byte"),
    ("content,reference\n\udcff.jpg,b.png\n", "pairs.csv is not UTF-8 text"),
])
def test_bad_csv_names_the_file_and_line(checkpoint, tmp_path, capsys, content, problem):
    """A field over the csv module's limit, a NUL byte or bytes that are not UTF-8: a usage error, no traceback."""
    (tmp_path / "pairs.csv").write_bytes(content.encode("utf-8", "surrogateescape"))
    assert recolor(checkpoint, "--pairs", tmp_path / "pairs.csv", "-o", tmp_path / "outs") == 2
    assert capsys.readouterr().err == f"recolor: error: {tmp_path}/{problem}\n"
    assert not (tmp_path / "outs").exists()


def test_folder_mode_output_folder_is_not_the_input_folder(checkpoint, files, tmp_path, capsys):
    """-o the input folder is refused by name; -o a folder above the input folder works (its images are inputs)."""
    _, reference = files
    folder = tmp_path / "photos"
    folder.mkdir()
    textured_image(40, 48, seed=3).save(folder / "a.png")
    for same in (folder, folder / "."):
        assert recolor(checkpoint, folder, "--reference", reference, "-o", same) == 2
        assert f"-o {same} is the input folder: the outputs would mix with the inputs" in capsys.readouterr().err
    assert [p.name for p in folder.iterdir()] == ["a.png"]
    assert recolor(checkpoint, folder, "--reference", reference, "-o", tmp_path) == 0
    assert "1 written" in capsys.readouterr().out and (tmp_path / "a.png").is_file()


@pytest.mark.parametrize("escape", ["../../x.png", "ABSOLUTE", "sub/../../../x.png"])
def test_csv_outputs_stay_inside_the_output_folder(checkpoint, files, tmp_path, capsys, escape):
    content, reference = files
    victim = tmp_path / "x.png"
    victim.write_bytes(b"keep me")
    out = tmp_path / "job" / "outs"
    out.mkdir(parents=True)
    row = str(victim) if escape == "ABSOLUTE" else escape
    (tmp_path / "pairs.csv").write_text(f"content,reference,output\ncontent.jpg,reference.png,{row}\n")
    assert recolor(checkpoint, "--pairs", tmp_path / "pairs.csv", "-o", out, "--overwrite") == 2
    err = capsys.readouterr().err
    assert "line 2: output" in err and "is outside the output folder" in err and "--allow-outside-output" in err
    assert victim.read_bytes() == b"keep me" and not any(out.iterdir())
    assert recolor(checkpoint, "--pairs", tmp_path / "pairs.csv", "-o", out, "--overwrite",
                   "--allow-outside-output") == 0
    with Image.open(victim) as written:  # the explicit flag lets it through
        assert written.size == (517, 333)


def test_csv_mode_needs_an_output_folder(files, checkpoint, tmp_path, capsys):
    (tmp_path / "pairs.csv").write_text("content,reference,output\ncontent.jpg,reference.png,a.png\n")
    assert recolor(checkpoint, "--pairs", tmp_path / "pairs.csv") == 2
    assert "--pairs needs -o FOLDER" in capsys.readouterr().err


def test_nan_float_tiff_is_refused(checkpoint, files, tmp_path, capsys):
    _, reference = files
    data = np.full((20, 30), 0.5, np.float32)
    data[4, 4] = np.nan
    Image.fromarray(data, "F").save(tmp_path / "nan.tif")
    assert recolor(checkpoint, tmp_path / "nan.tif", "--reference", reference, "-o", tmp_path / "out.png") == 1
    assert "holds NaN or infinite pixel values" in capsys.readouterr().err
    assert not (tmp_path / "out.png").exists()


def test_float_rgb_tiff_is_read(tmp_path, capsys):
    """An ordinary RGB float32 TIFF (Pillow cannot open it) is graded like any photo."""
    rgb = np.random.default_rng(0).random((20, 30, 3)).astype(np.float32)
    tifffile.imwrite(tmp_path / "float.tif", rgb, photometric="rgb")
    (tmp_path / "invert.cube").write_text("LUT_1D_SIZE 2\n1 1 1\n0 0 0\n")
    assert main([str(p) for p in (tmp_path / "float.tif", "--lut", tmp_path / "invert.cube", "-o",
                                  tmp_path / "out.png")]) == 0
    assert "1 written, 0 failed" in capsys.readouterr().out
    with Image.open(tmp_path / "out.png") as out:
        assert np.abs(np.asarray(out).astype(int) - (255 - to_uint8(rgb).astype(int))).max() <= 1


def test_pixel_limit_names_the_flag(checkpoint, files, tmp_path, capsys):
    content, reference = files
    assert recolor(checkpoint, content, "--reference", reference, "-o", tmp_path / "out.png",
                   "--max-pixels", "100000") == 1
    assert "517x333 = 172,161 pixels, over the pixel limit of 100,000 (max_pixels; --max-pixels" \
        in capsys.readouterr().err


def test_outputs_keep_the_icc_profile_and_exif(checkpoint, tmp_path, files):
    _, reference = files
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x0112], exif[0x010F] = 6, "Camera"  # orientation: rotate 90 degrees; make
    textured_image(40, 60, seed=7).save(tmp_path / "tagged.jpg", exif=exif.tobytes(), icc_profile=icc)
    for name in ("out.jpg", "out.png", "out.webp", "out.tif"):
        assert recolor(checkpoint, tmp_path / "tagged.jpg", "--reference", reference, "-o", tmp_path / name) == 0
        with Image.open(tmp_path / name) as out:
            assert out.size == (40, 60), name  # the orientation was applied ...
            assert out.info.get("icc_profile") == icc, name
            kept = out.getexif()
            assert kept.get(0x010F) == "Camera" and 0x0112 not in kept, name  # ... and is not applied twice


def test_stale_temporary_files_of_a_killed_run_are_removed(checkpoint, files, tmp_path):
    content, reference = files
    out = tmp_path / "out"
    out.mkdir()
    stale = out / ".result.png.k2j_x9ab.tmp"  # what save_atomic leaves when the process is killed mid-write
    others = [out / ".other.png.k2j_x9ab.tmp", out / ".result.png.notes.tmp", out / "result.png.tmp"]
    for path in (stale, *others):
        path.write_bytes(b"partial")
    assert recolor(checkpoint, content, "--reference", reference, "-o", out / "result.png") == 0
    assert not stale.exists() and all(p.exists() for p in others)  # only this output's own temporaries go


def test_masks_follow_the_alpha_rule(checkpoint, files, tmp_path, monkeypatch):
    """An RGBA mask with a transparent background is its painted (alpha > 0) part, as in the demo."""
    import recolor_hf.guidance

    content, reference = files
    seen = []

    class Recording(recolor_hf.guidance.Guidance):
        def __init__(self, **masks):
            seen.append(masks)
            super().__init__(**masks)

    monkeypatch.setattr(recolor_hf.guidance, "Guidance", Recording)
    painted = np.zeros((333, 517, 4), np.uint8)  # transparent black background
    painted[:100, :200] = (255, 0, 0, 255)
    Image.fromarray(painted, "RGBA").save(tmp_path / "content_mask.png")
    Image.fromarray(np.full((60, 80), 255, np.uint8)).save(tmp_path / "reference_mask.png")
    assert recolor(checkpoint, content, "--reference", reference, "-o", tmp_path / "out.png",
                   "--content-mask", tmp_path / "content_mask.png", "--reference-mask", tmp_path / "reference_mask.png") == 0
    content_mask = seen[0]["content_mask"]
    assert content_mask.sum() == 100 * 200 and content_mask[:100, :200].all()
    assert seen[0]["reference_mask"].all()


def test_missing_checkpoint(files, tmp_path, capsys):
    content, reference = files
    missing = tmp_path / "no-such-checkpoint"
    assert recolor(missing, content, "--reference", reference, "-o", tmp_path / "out.png") == 2
    err = capsys.readouterr().err
    assert f"no checkpoint folder at {missing}" in err and "--checkpoint DIR" in err


@pytest.mark.parametrize("args", [["--alpha", "3"], ["--content-mask", "m.png"], ["--ext", "gif"], [],
                                  ["--fallback", "nearest"]])
def test_usage_errors(checkpoint, files, tmp_path, args):
    content, reference = files
    extra = [] if args == [] else ["--reference", reference]  # [] also leaves out --reference
    assert recolor(checkpoint, content, *extra, "-o", tmp_path / "out.png", *args) == 2


def test_masks(checkpoint, files, tmp_path):
    pytest.importorskip("recolor_hf.guidance", reason="recolor_hf.guidance (mask guidance) is not written yet")
    content, reference = files
    masks = tmp_path / "content_mask.png", tmp_path / "reference_mask.png"
    for path, (h, w) in zip(masks, ((333, 517), (60, 80))):
        mask = np.zeros((h, w), np.uint8)
        mask[: h // 2] = 255
        Image.fromarray(mask).save(path)
    out = tmp_path / "masked.png"
    assert recolor(checkpoint, content, "--reference", reference, "-o", out,
                   "--content-mask", masks[0], "--reference-mask", masks[1]) == 0
    with Image.open(out) as image:
        assert image.size == (517, 333)


def test_python_m_help():
    done = subprocess.run([sys.executable, "-m", "recolor_hf", "--help"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0 and "--reference" in done.stdout and "--pairs" in done.stdout


def test_export_lut_then_apply_it(checkpoint, files, tmp_path, capsys):
    """--export-lut writes the .cube and reports its fit error; --lut applies it: the round trip gives the
    reported error against the model's output."""
    content, reference = files
    cube, out, graded = tmp_path / "look.cube", tmp_path / "out.png", tmp_path / "graded.png"
    assert recolor(checkpoint, content, "--reference", reference, "-o", out, "--export-lut", cube) == 0
    printed = capsys.readouterr().out
    match = re.search(r"wrote .*look\.cube: 33x33x33 3D LUT; fit error (\d+\.\d+) mean ΔE00", printed)
    assert match and "1 written" in printed
    assert recolor(checkpoint, content, "--lut", cube, "-o", graded) == 0
    with Image.open(out) as model, Image.open(graded) as lut:
        assert ciede2000(np.asarray(lut), np.asarray(model)) == pytest.approx(float(match[1]), abs=0.01)


def test_export_lut_with_an_existing_output_is_refused_before_running(checkpoint, files, tmp_path, capsys):
    """With -o naming an existing image and no --overwrite, the job would be skipped and no LUT written: refused
    up front, nothing written."""
    content, reference = files
    out, cube = tmp_path / "out.png", tmp_path / "look.cube"
    out.write_bytes(b"kept")
    assert recolor(checkpoint, content, "--reference", reference, "-o", out, "--export-lut", cube) == 2
    assert "out.png exists (pass --overwrite" in capsys.readouterr().err
    assert out.read_bytes() == b"kept" and not cube.exists()


def test_export_lut_alone_and_existing_lut_kept(checkpoint, files, tmp_path, capsys):
    content, reference = files
    folder = tmp_path / "looks"
    assert recolor(checkpoint, content, "--reference", reference, "--export-lut", folder / "look.cube") == 0
    assert [p.name for p in folder.iterdir()] == ["look.cube"]  # only the LUT: no image without -o
    before = (folder / "look.cube").read_bytes()
    assert recolor(checkpoint, content, "--reference", reference, "--export-lut", folder / "look.cube",
                   "--alpha", "0.3") == 2
    assert "look.cube exists (pass --overwrite to replace it)" in capsys.readouterr().err
    assert (folder / "look.cube").read_bytes() == before
    assert recolor(checkpoint, content, "--reference", reference, "--export-lut", folder / "look.cube",
                   "--alpha", "0.3", "--overwrite") == 0
    assert (folder / "look.cube").read_bytes() != before


def test_lut_folder_mode_without_torch(files, tmp_path):
    """--lut needs neither the model nor torch: a folder is graded in a process that never imports torch."""
    _, reference = files
    folder, out, cube = tmp_path / "photos", tmp_path / "graded", tmp_path / "invert.cube"
    folder.mkdir()
    for k, name in enumerate(("a.png", "b.jpg")):
        textured_image(30, 40, seed=20 + k).save(folder / name)
    cube.write_text("LUT_1D_SIZE 2\n1 1 1\n0 0 0\n")
    code = ("import sys; from recolor_hf.cli import main; code = main(sys.argv[1:]); "
            "print('torch imported' if 'torch' in sys.modules else 'no torch'); raise SystemExit(code)")
    done = subprocess.run([sys.executable, "-c", code, str(folder), "--lut", str(cube), "-o", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "no torch" in done.stdout and "2 written" in done.stdout
    with Image.open(folder / "a.png") as content, Image.open(out / "a.png") as graded:
        assert np.abs(np.asarray(graded).astype(int) - (255 - np.asarray(content).astype(int))).max() <= 1


@pytest.mark.parametrize("args, message", [
    (["--reference", "REF", "--lut", "LUT"], "--lut replaces the reference"),
    (["--lut", "missing.cube"], "no LUT file at"),
    (["--lut", "LUT"], "is not a readable .cube LUT"),
    (["--lut", "SIZE_1"], "size_1.cube is not a readable .cube LUT (line 1: LUT_1D_SIZE must be a whole number from 2 "
                          "to 65536, got '1')"),
    (["--reference", "REF", "--export-lut", "look.png"], "a LUT file must end in .cube"),
])
def test_lut_usage_errors(checkpoint, files, tmp_path, capsys, args, message):
    content, reference = files
    bad_cube = tmp_path / "bad.cube"
    bad_cube.write_text("not a LUT")
    (tmp_path / "size_1.cube").write_text("LUT_1D_SIZE 1\n0 0 0\n")
    args = [{"REF": reference, "LUT": bad_cube, "SIZE_1": tmp_path / "size_1.cube"}.get(a, a) for a in args]
    assert recolor(checkpoint, content, "-o", tmp_path / "out.png", *args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "out.png").exists()


def test_export_lut_needs_a_single_file(checkpoint, files, tmp_path, capsys):
    content, reference = files
    assert recolor(checkpoint, content.parent, "--reference", reference, "-o", tmp_path / "outs",
                   "--export-lut", tmp_path / "look.cube") == 2
    assert "--export-lut works with a single CONTENT file" in capsys.readouterr().err


def test_help_and_usage_errors_load_no_heavy_module():
    """`recolor --help` and argument errors answer before torch, diffusers or numpy are imported (start-up time
    is shown by `python -m eval speed`); `recolor_hf.RecolorPipeline` still imports on first use."""
    code = ("import sys; from recolor_hf.cli import main; import recolor_hf; "
            "codes = [main(['--help']), main(['x.jpg', '--alpha', '3'])]; "
            "heavy = [m for m in ('torch', 'diffusers', 'numpy') if m in sys.modules]; "
            "print(codes, heavy); recolor_hf.RecolorPipeline; print('torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-2:] == ["[0, 2] []", "True"]


def test_accelerate_two_processes_split_the_batch(checkpoint, files, tmp_path, capsys):
    """`accelerate launch` with 2 CPU processes over 9 images and a 10th row reusing the first output: every
    output is written once, by one process, and equals the single-process output; one summary names both."""
    _, reference = files
    rows = []
    for i in range(9):
        textured_image(40 + 4 * i, 56, seed=10 + i).save(tmp_path / f"p{i}.png")
        rows.append(f"p{i}.png,{reference.name},p{i}.png")
    rows.append(f"p1.png,{reference.name},p0.png")  # in the second process's half: must be refused there
    (tmp_path / "pairs.csv").write_text("content,reference,output\n" + "\n".join(rows) + "\n")
    summary = "9 written, 1 failed, 0 skipped (exists)"
    assert recolor(checkpoint, "--pairs", tmp_path / "pairs.csv", "-o", tmp_path / "single") == 1
    assert summary in capsys.readouterr().out
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
              "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "recolor_hf",
              "--pairs", str(tmp_path / "pairs.csv"), "-o", str(tmp_path / "multi"),
              "--checkpoint", str(checkpoint), "--device", "cpu"]
    done = subprocess.run(launch, cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"})
    assert done.returncode != 0, done.stderr  # one row failed
    assert done.stdout.count(summary) == 1 and f"{summary} across 2 processes" in done.stdout
    assert "p0.png is also the output of an earlier image" in done.stderr
    names = sorted(p.name for p in (tmp_path / "single").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "multi").iterdir()) == [f"p{i}.png" for i in range(9)]
    for name in names:
        with Image.open(tmp_path / "single" / name) as single, Image.open(tmp_path / "multi" / name) as multi:
            np.testing.assert_array_equal(np.asarray(single), np.asarray(multi))
