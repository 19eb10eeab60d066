"""3D LUTs: the fit reproduces a global look and fills unseen colours smoothly; .cube files round-trip, any
.cube is applied, bad and fuzzed files are refused with a ValueError; Pillow's application matches the LUT's own
trilinear interpolation and ffmpeg's lut3d."""

import shutil
import subprocess
import sys
import time
import tracemalloc

import numpy as np
import pytest
from PIL import Image

import recolor_hf.atomic
from conftest import ROOT, textured_image
from recolor_hf.lut import Lut, apply_lut, export_cube, fit_error, fit_lut, lattice, read_cube, write_cube
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


def test_pillow_application_matches_the_luts_trilinear(photo):
    """Pillow's Color3DLUT (fast, full resolution) and ``Lut.apply`` (the fit's trilinear) agree: same axis order;
    a shaper + 3D LUT with domains is applied through its 3D equivalent."""
    lut = Lut(lattice(17).reshape(17, 17, 17, 3) ** [1.0, 2.0, 3.0])
    pillow = np.asarray(apply_lut(photo, lut)).astype(float)
    assert np.abs(pillow - lut.apply(photo / 255.0) * 255).max() <= 1.5
    assert np.abs(pillow - (photo / 255.0) ** [1.0, 2.0, 3.0] * 255).max() <= 2  # the function it samples
    shaped = Lut(lut.table, np.linspace(0, 1, 5)[:, None] ** [[2.0, 1.0, 0.5]], domain=[[-0.1] * 3, [1.2] * 3],
                 shaper_domain=[[0.0, 0.0, 0.0], [1.0, 0.5, 1.0]])
    pillow = np.asarray(apply_lut(photo, shaped)).astype(float)
    assert np.abs(pillow - shaped.apply(photo / 255.0) * 255).max() <= 1.5


def test_shaper_and_3d_round_trip(tmp_path):
    """A Resolve shaper + 3D LUT with input ranges, a title and comments is written and read back."""
    rng = np.random.default_rng(0)
    lut = Lut(rng.random((3, 3, 3, 3)), rng.random((6, 3)), domain=[[-0.1] * 3, [3.0] * 3],
              shaper_domain=[[0.0] * 3, [2.0] * 3], title="shaped")
    write_cube(lut, tmp_path / "shaped.cube", ["first", "second"])
    text = (tmp_path / "shaped.cube").read_text()
    assert "LUT_1D_SIZE 6\nLUT_3D_SIZE 3\nLUT_1D_INPUT_RANGE 0.0000000 2.0000000\n" in text
    back = read_cube(tmp_path / "shaped.cube")
    assert (back.title, back.comments) == ("shaped", ("first", "second"))
    for ours, theirs in ((back.table, lut.table), (back.shaper, lut.shaper), (back.domain, lut.domain),
                         (back.shaper_domain, lut.shaper_domain)):
        np.testing.assert_allclose(ours, theirs, atol=1e-7)
    with pytest.raises(ValueError, match="per-channel domain"):
        write_cube(Lut(lut.table, lut.shaper, domain=[[0, 0, 0], [1, 2, 3]]), tmp_path / "channels.cube")


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


ROWS_8 = "0 0 0\n" * 8


@pytest.mark.parametrize("content, problem", [
    ("", "no LUT_1D_SIZE or LUT_3D_SIZE line"),
    ("hello world\n", "line 1: unknown keyword 'hello'"),
    ("LUT_3D_SIZE 3\n0 0 0\n1 1 1\n", "27 table rows expected (LUT_3D_SIZE 3), found 2"),
    ("LUT_3D_SIZE 2\n" + ROWS_8 + "1 1 1\n", "line 10: more than the 8 table rows expected"),
    ("LUT_3D_SIZE 2\n" + "0 0 x\n" * 8, "line 2: a table row is 3 finite numbers, got '0 0 x'"),
    ("LUT_3D_SIZE 2\n" + "0 0 inf\n" * 8, "line 2: a table row is 3 finite numbers"),
    ("LUT_3D_SIZE 2\n" + "0 0 0 0\n" * 8, "line 2: a table row is 3 finite numbers"),
    ("LUT_1D_SIZE 1\n0 0 0\n", "LUT_1D_SIZE must be a whole number from 2 to 65536, got '1'"),
    ("LUT_3D_SIZE 257\n0 0 0\n", "LUT_3D_SIZE must be a whole number from 2 to 256, got '257'"),
    ("LUT_3D_SIZE 2.5\n", "LUT_3D_SIZE must be a whole number"),
    ("LUT_1D_INPUT_RANGE 0\nLUT_1D_SIZE 2\n0 0 0\n1 1 1\n", "line 1: LUT_1D_INPUT_RANGE needs 2 finite numbers"),
    ("LUT_3D_INPUT_RANGE 0 1\nLUT_1D_SIZE 2\n0 0 0\n1 1 1\n", "LUT_3D_INPUT_RANGE is given without LUT_3D_SIZE"),
    ("DOMAIN_MIN 0 0 0\nDOMAIN_MAX 1 0 1\nLUT_3D_SIZE 2\n" + ROWS_8, "degenerate 3D domain"),
    ("LUT_1D_INPUT_RANGE 1 1\nLUT_1D_SIZE 2\n0 0 0\n1 1 1\n", "degenerate 1D domain"),
    ("DOMAIN_MIN 0 0\nLUT_3D_SIZE 2\n" + ROWS_8, "DOMAIN_MIN needs 3 finite numbers"),
    ("DOMAIN_MIN 0 0 0\nLUT_1D_SIZE 2\nLUT_3D_SIZE 2\n", "DOMAIN_MIN / DOMAIN_MAX with both a 1D and a 3D table"),
    ("DOMAIN_MIN 0 0 0\nLUT_3D_INPUT_RANGE 0 1\nLUT_3D_SIZE 2\n", "both LUT_3D_INPUT_RANGE and DOMAIN_MIN"),
    ("LUT_3D_SIZE 2\nLUT_3D_SIZE 2\n", "line 2: LUT_3D_SIZE is given twice"),
    ("LUT_3D_SIZE 2\n" + ROWS_8 + 'TITLE "late"\n', "line 10: keyword 'TITLE' after the table rows"),
    ("TITLE untitled\nLUT_3D_SIZE 2\n" + ROWS_8, "TITLE needs a text in double quotes"),
    ("LUT_3D_SIZE 2\nLUT_IN_VIDEO_RANGE\n" + ROWS_8, "unknown keyword 'LUT_IN_VIDEO_RANGE'"),
    ("0 0 0\n", "no LUT_1D_SIZE or LUT_3D_SIZE line before the table"),
    ("LUT_3D_SIZE 2\n\x00\n", "line 2: unknown keyword '\\x00'"),
    ("LUT_3D_SIZE 2\n" + "0" * 5000 + "\n", "line 2 is longer than 4096 characters"),
])
def test_bad_cube_files_are_refused(tmp_path, content, problem):
    path = tmp_path / "bad.cube"
    path.write_text(content)
    with pytest.raises(ValueError, match="bad.cube is not a readable .cube LUT") as refused:
        read_cube(path)
    assert problem in str(refused.value)


def test_missing_and_binary_cube_files_are_refused(tmp_path):
    with pytest.raises(ValueError, match="no such LUT file"):
        read_cube(tmp_path / "missing.cube")
    (tmp_path / "binary.cube").write_bytes(b"LUT_3D_SIZE 2\n\xff\xfe\n")
    with pytest.raises(ValueError, match=r"binary.cube is not a readable .cube LUT \(not UTF-8 text\)"):
        read_cube(tmp_path / "binary.cube")


def test_cube_variants_are_read(photo, tmp_path):
    """Comments anywhere, CRLF line ends, blank lines, a BOM, a 1D domain, Resolve's input range."""
    path = tmp_path / "variant.cube"
    path.write_bytes(b"\xef\xbb\xbf# top\r\nTITLE \"a \"quoted\" title\"\r\n\r\nLUT_1D_SIZE 2\r\n"
                     b"LUT_1D_INPUT_RANGE 0 0.5\r\n0 0 0\r\n# between rows\r\n1 1 1\r\n")
    lut = read_cube(path)
    assert lut.title == 'a "quoted" title' and lut.comments == ("top", "between rows") and lut.table is None
    np.testing.assert_allclose(lut.apply(np.array([[0.25, 0.5, 1.0]])), [[0.5, 1.0, 1.0]])  # clamped past 0.5


def valid_cube() -> str:
    """A small Resolve shaper + 3D .cube with every keyword it may hold: the seed of the fuzz test."""
    rows = [f"{r / 2:.3f} {g / 2:.3f} {b / 2:.3f}" for b in range(3) for g in range(3) for r in range(3)]
    return ('# fuzz seed\nTITLE "seed"\nLUT_1D_SIZE 4\nLUT_3D_SIZE 3\nLUT_1D_INPUT_RANGE -0.1 1.5\n'
            "LUT_3D_INPUT_RANGE 0 1\n0 0 0\n0.3 0.3 0.3\n0.6 0.6 0.6\n1 1 1\n" + "\n".join(rows) + "\n")


FUZZ_TOKENS = ["LUT_3D_SIZE", "LUT_1D_SIZE", "DOMAIN_MIN", "DOMAIN_MAX", "LUT_1D_INPUT_RANGE", "TITLE", "0", "1",
               "-1", "2", "256", "257", "65537", "99999999999", "1e308", "-1e400", "nan", "inf", "0x10", "1_0", '"',
               "\x00", "#", "\u00e9", "", "\t"]


def mutate(text: str, rng: np.random.Generator) -> bytes:
    """``text`` with 1-3 random mutations (lines cut, dropped, duplicated or swapped, tokens replaced, garbage or
    NUL bytes inserted), as bytes; some cases are an empty file or a file cut short."""
    lines = text.splitlines()
    for _ in range(rng.integers(1, 4)):
        i, j = rng.integers(0, len(lines), 2)
        kind = rng.integers(0, 7)
        if kind == 0:
            lines[i] = lines[i][: rng.integers(0, len(lines[i]) + 1)]
        elif kind == 1:
            del lines[i]
        elif kind == 2:
            lines.insert(i, lines[j])
        elif kind == 3:
            lines[i], lines[j] = lines[j], lines[i]
        elif kind == 4:
            tokens = lines[i].split() or [""]
            tokens[rng.integers(0, len(tokens))] = FUZZ_TOKENS[rng.integers(0, len(FUZZ_TOKENS))]
            lines[i] = " ".join(tokens)
        elif kind == 5:
            lines.insert(i, f"{FUZZ_TOKENS[rng.integers(0, 6)]} {FUZZ_TOKENS[rng.integers(6, len(FUZZ_TOKENS))]}")
        else:
            lines[i] += "".join(map(chr, rng.integers(0, 256, rng.integers(1, 6))))
        if not lines:
            return b""
    data = ("\n".join(lines) + "\n").encode()
    if rng.random() < 0.1:
        data = data[: rng.integers(0, len(data))]
    if rng.random() < 0.1:
        data = data.replace(b"\n", b"\r", rng.integers(1, 4))
    if rng.random() < 0.1:
        data += rng.bytes(int(rng.integers(1, 64)))
    return data


FUZZ_CASES = 400


def test_fuzzed_cube_files_give_a_lut_or_a_value_error(tmp_path):
    """Hundreds of seeded mutations of a valid file: each is read as a valid LUT or refused with a ValueError
    naming the file, never another exception; fast, and in bounded memory even when a size is huge."""
    rng = np.random.default_rng(0)
    path = tmp_path / "fuzz.cube"
    outcomes = {"read": 0, "refused": 0}
    tracemalloc.start()
    started = time.perf_counter()
    for case in range(FUZZ_CASES):
        data = mutate(valid_cube(), rng)
        path.write_bytes(data)
        try:
            lut = read_cube(path)
        except ValueError as err:
            assert str(err).startswith(f"{path} is not a readable .cube LUT ("), (case, data, err)
            outcomes["refused"] += 1
            continue
        assert lut.table is not None or lut.shaper is not None, (case, data)
        for table in (lut.table, lut.shaper):
            assert table is None or np.isfinite(table).all()
        assert (lut.domain[0] < lut.domain[1]).all() and (lut.shaper_domain[0] < lut.shaper_domain[1]).all()
        outcomes["read"] += 1
    elapsed, (_, peak) = time.perf_counter() - started, tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert min(outcomes.values()) > FUZZ_CASES // 20, outcomes  # both outcomes are exercised
    assert elapsed < 10 and peak < 50e6, (elapsed, peak)


def test_huge_declared_size_is_refused_before_allocating(tmp_path):
    """A header declaring the largest allowed 3D size with 8 rows allocates no 400 MB table: the rows are counted
    as they come."""
    path = tmp_path / "huge.cube"
    path.write_text("LUT_3D_SIZE 256\n" + ROWS_8)
    tracemalloc.start()
    with pytest.raises(ValueError, match=r"16777216 table rows expected \(LUT_3D_SIZE 256\), found 8"):
        read_cube(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 10e6


def test_importing_the_lut_module_is_light():
    """Reading and applying a LUT needs neither colour-science nor scikit-image, scipy or torch at import."""
    code = "import sys, recolor_hf.lut; print([m for m in ('colour', 'skimage', 'scipy', 'torch') if m in sys.modules])"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stderr


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

    monkeypatch.setattr(recolor_hf.atomic.os, "fsync", fail)
    with pytest.raises(OSError, match="disk full"):
        write_cube(Lut(lattice(2).reshape(2, 2, 2, 3)), path)
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["look.cube"]


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed (apt-get install ffmpeg)")
def test_ffmpeg_lut3d_accepts_the_exported_cube(photo, tmp_path):
    """ffmpeg's lut3d filter reads the exported file and maps the photo as we do (trilinear on both sides)."""
    content, cube, graded = tmp_path / "content.png", tmp_path / "look.cube", tmp_path / "graded.png"
    Image.fromarray(photo).save(content)
    export_cube(photo, global_look(photo), cube)
    done = subprocess.run(["ffmpeg", "-v", "error", "-i", str(content), "-vf", f"lut3d=file={cube}:interp=trilinear",
                           "-pix_fmt", "rgb24", "-y", str(graded)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    ours = np.asarray(apply_lut(photo, read_cube(cube))).astype(int)
    theirs = np.asarray(Image.open(graded).convert("RGB")).astype(int)
    assert np.abs(theirs - ours).mean() < 0.5 and np.abs(theirs - ours).max() <= 2
