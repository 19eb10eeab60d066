"""3D LUTs: the fit reproduces a global look and fills unseen colours smoothly; .cube files round-trip, any
.cube is applied, bad files are refused; Pillow's application matches colour-science's and ffmpeg's lut3d."""

import shutil
import subprocess

import colour
import numpy as np
import pytest
from PIL import Image

from conftest import textured_image
from recolor_hf.lut import apply_lut, export_cube, fit_error, fit_lut, lattice, read_cube, write_cube
from recolor_hf.metrics import ciede2000

SHIFT = np.array([0.08, 0.0, -0.06])  # a warm colour cast


def global_look(image: np.ndarray) -> np.ndarray:
    """A known colour -> colour function (uint8 in and out): contrast curve, channel mix, warm cast."""
    x = image / 255.0
    x = x + 0.15 * np.sin(2 * np.pi * x) / (2 * np.pi)
    x = x @ np.array([[0.9, 0.05, 0.05], [0.1, 0.8, 0.1], [0.0, 0.1, 0.9]]).T + SHIFT
    return (np.clip(x, 0, 1) * 255 + 0.5).astype(np.uint8)


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return np.asarray(textured_image(120, 160, seed=3))


def test_fit_reproduces_a_global_look(photo):
    target = global_look(photo)
    lut = fit_lut(photo, target)
    assert lut.table.shape == (33, 33, 33, 3)
    assert ciede2000(photo, target) > 5.0  # the look is a real change ...
    assert fit_error(photo, target, lut) < 0.5  # ... which the LUT reproduces


def test_colours_missing_from_the_photo_take_the_nearest_colours_shift():
    """A photo of dark reds only, shifted by SHIFT: every other colour gets the same shift (no wild values)."""
    rng = np.random.default_rng(0)
    photo = (rng.uniform([0.3, 0.05, 0.05], [0.5, 0.2, 0.2], (64, 64, 3)) * 255).astype(np.uint8)
    shifted = np.clip(photo / 255.0 + SHIFT, 0, 1)
    lut = fit_lut(photo, (shifted * 255 + 0.5).astype(np.uint8))
    identity = lattice(33).reshape(33, 33, 33, 3)
    inside = np.all((identity + SHIFT >= 0) & (identity + SHIFT <= 1), axis=-1)  # where the shift is not clipped
    shift = lut.table - identity
    assert np.abs(shift[inside] - SHIFT).max() < 0.02
    box = shift[:30, :, 2:]  # red <= 0.92, blue >= 0.06: the box where nothing is clipped
    assert inside[:30, :, 2:].all()
    assert max(np.abs(np.diff(box, axis=axis)).max() for axis in range(3)) < 0.01  # smooth everywhere


def test_export_read_apply_round_trip(photo, tmp_path):
    target = global_look(photo)
    path = tmp_path / "look.cube"
    error = export_cube(Image.fromarray(photo), Image.fromarray(target), path)
    text = path.read_text()
    assert "LUT_3D_SIZE 33" in text and f"fit error mean dE00 {error:.2f}" in text
    assert [p.name for p in tmp_path.iterdir()] == ["look.cube"]  # no temporary file left
    graded = np.asarray(apply_lut(photo, read_cube(path)))
    assert graded.shape == photo.shape
    assert ciede2000(graded, target) == pytest.approx(error, abs=0.01)


def test_pillow_application_matches_colour_science(photo):
    """Pillow's Color3DLUT (fast, full resolution) and colour-science's trilinear agree: same axis order."""
    lut = colour.LUT3D(colour.LUT3D.linear_table(17) ** [1.0, 0.5, 2.0])
    pillow = np.asarray(apply_lut(photo, lut)).astype(float)
    reference = lut.apply(photo / 255.0) * 255
    assert np.abs(pillow - reference).max() <= 1.5


def test_any_cube_file(photo, tmp_path):
    """Hand-made .cube files: a 2-point 3D LUT with a domain and comments that swaps red and blue, and a 1D
    inverting curve."""
    swap = tmp_path / "swap.cube"
    rows = [f"{b} {g} {r}" for b in (0, 1) for g in (0, 1) for r in (0, 1)]  # red changes fastest: (b, g, r)
    swap.write_text('# made by hand\nTITLE "swap"\nDOMAIN_MIN 0 0 0\nDOMAIN_MAX 1 1 1\nLUT_3D_SIZE 2\n'
                    + "\n".join(rows) + "\n")
    assert np.abs(np.asarray(apply_lut(photo, read_cube(swap))).astype(int) - photo[..., ::-1]).max() <= 1
    invert = tmp_path / "invert.cube"
    invert.write_text("LUT_1D_SIZE 2\n1 1 1\n0 0 0\n")
    assert np.abs(np.asarray(apply_lut(photo, read_cube(invert))).astype(int) - (255 - photo)).max() <= 1


@pytest.mark.parametrize("content", ["", "hello world\n", "LUT_3D_SIZE 3\n0 0 0\n1 1 1\n", "LUT_3D_SIZE 2\n"
                                     + "0 0 x\n" * 8])
def test_bad_cube_files_are_refused(tmp_path, content):
    path = tmp_path / "bad.cube"
    path.write_text(content)
    with pytest.raises(ValueError, match="bad.cube is not a readable .cube LUT"):
        read_cube(path)
    with pytest.raises(ValueError, match="no such LUT file"):
        read_cube(tmp_path / "missing.cube")


def test_sizes_must_match(photo, tmp_path):
    with pytest.raises(ValueError, match="sizes differ"):
        export_cube(photo, photo[:-1], tmp_path / "look.cube")
    assert not (tmp_path / "look.cube").exists()


def test_write_is_atomic(tmp_path, monkeypatch):
    """A failing write leaves the existing file as it was and no temporary file."""
    path = tmp_path / "look.cube"
    path.write_text("old")

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(colour, "write_LUT", fail)
    with pytest.raises(OSError, match="disk full"):
        write_cube(colour.LUT3D(), path)
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["look.cube"]


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed (apt-get install ffmpeg)")
def test_ffmpeg_lut3d_accepts_the_exported_cube(photo, tmp_path):
    """ffmpeg's lut3d filter reads the exported file and maps the photo as we do (trilinear on both sides)."""
    source, cube, graded = tmp_path / "source.png", tmp_path / "look.cube", tmp_path / "graded.png"
    Image.fromarray(photo).save(source)
    export_cube(photo, global_look(photo), cube)
    done = subprocess.run(["ffmpeg", "-v", "error", "-i", str(source), "-vf", f"lut3d=file={cube}:interp=trilinear",
                           "-pix_fmt", "rgb24", "-y", str(graded)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    ours = np.asarray(apply_lut(photo, read_cube(cube))).astype(int)
    theirs = np.asarray(Image.open(graded).convert("RGB")).astype(int)
    assert np.abs(theirs - ours).mean() < 0.5 and np.abs(theirs - ours).max() <= 2


def test_export_cube_accepts_the_deprecated_source_keyword(photo, tmp_path):
    """``source=`` (the README's name before ``content``) still works, with a DeprecationWarning."""
    target = global_look(photo)
    error = export_cube(content=photo, output=target, path=tmp_path / "new.cube", size=5)
    with pytest.warns(DeprecationWarning, match=r"export_cube\(source=...\) is deprecated, use content="):
        old = export_cube(source=photo, output=target, path=tmp_path / "old.cube", size=5)
    assert old == error and (tmp_path / "old.cube").read_text() == (tmp_path / "new.cube").read_text()
    with pytest.raises(TypeError, match="got both 'content' and its deprecated alias 'source'"):
        export_cube(content=photo, source=photo, output=target, path=tmp_path / "both.cube")
