"""Reading user images: float TIFFs with NaN, the pixel limit checked on the header, the mask rule, metadata."""
import numpy as np
import pytest
import tifffile
from PIL import Image, ImageCms, ImageFile

from conftest import bomb_png, textured_image
from recolor_hf.image_io import check_size, kept_metadata, load_batch, load_image, load_mask, mask_from_image, to_uint8

ORIENTATION, MAKE = 0x0112, 0x010F  # EXIF tags
SRGB_ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def jpeg_declaring(path, width: int, height: int) -> None:
    """A small real JPEG whose frame header is rewritten to declare width x height (far more than its data)."""
    textured_image(16, 16).save(path, quality=90)
    data = bytearray(path.read_bytes())
    sof = data.index(b"\xff\xc0")  # baseline frame: marker, length (2), precision (1), height (2), width (2)
    data[sof + 5: sof + 9] = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_float_tiff_with_nan_or_inf_is_refused(tmp_path, bad):
    data = np.full((6, 8), 0.5, np.float32)
    data[2, 3] = bad
    Image.fromarray(data, "F").save(tmp_path / "float.tif")
    with pytest.raises(ValueError, match="content holds NaN or infinite pixel values"):
        load_image(tmp_path / "float.tif", "content")
    Image.fromarray(np.full((6, 8), 0.5, np.float32), "F").save(tmp_path / "fine.tif")
    assert np.asarray(load_image(tmp_path / "fine.tif")).max() == 128  # finite float TIFFs still read


@pytest.mark.parametrize("planar", [False, True])
def test_float_rgb_tiff_is_read(tmp_path, planar):
    """An RGB float32 TIFF (Pillow cannot open it), interleaved or planar, reads as its values scaled from [0, 1];
    RGBA is composited on white."""
    rgb = np.random.default_rng(0).random((6, 8, 3)).astype(np.float32)
    path = tmp_path / "float.tif"
    tifffile.imwrite(path, np.moveaxis(rgb, -1, 0) if planar else rgb, photometric="rgb",
                     planarconfig="separate" if planar else "contig")
    np.testing.assert_array_equal(np.asarray(load_image(path, "content")), to_uint8(rgb))
    rgba = np.concatenate([rgb, np.zeros((6, 8, 1), np.float32)], axis=2)  # fully transparent
    tifffile.imwrite(tmp_path / "rgba.tif", rgba, photometric="rgb", extrasamples=["unassalpha"])
    assert (np.asarray(load_image(tmp_path / "rgba.tif")) == 255).all()


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_float_rgb_tiff_with_nan_or_inf_is_refused(tmp_path, bad):
    data = np.full((6, 8, 3), 0.5, np.float32)
    data[2, 3, 1] = bad
    tifffile.imwrite(tmp_path / "float.tif", data, photometric="rgb")
    with pytest.raises(ValueError, match="content holds NaN or infinite pixel values"):
        load_image(tmp_path / "float.tif", "content")


def test_float_rgb_tiff_limit_before_decoding_and_truncation(tmp_path, monkeypatch):
    path = tmp_path / "float.tif"
    tifffile.imwrite(path, np.full((60, 80, 3), 0.5, np.float32), photometric="rgb")
    with monkeypatch.context() as patch:
        patch.setattr(tifffile.TiffPage, "asarray", lambda *args, **kwargs: pytest.fail("decoded"))
        with pytest.raises(ValueError, match="content is 80x60 = 4,800 pixels, over the pixel limit of 1,000"):
            load_image(path, "content", max_pixels=1000)
    path.write_bytes(path.read_bytes()[:-20000])
    with pytest.raises(ValueError, match="content could not be decoded, the file may be truncated or corrupt"):
        load_image(path, "content")


def test_pixel_limit_is_checked_on_the_header_before_decoding(tmp_path, monkeypatch):
    path = tmp_path / "claims_60mp.jpg"
    jpeg_declaring(path, 7746, 7746)

    def no_decoding(self):
        raise AssertionError("decoded before the size check")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    with pytest.raises(ValueError, match=r"content is 7746x7746 = 60,000,516 pixels, over the pixel limit of "
                                         r"50,000,000 \(max_pixels; --max-pixels"):
        load_image(path, "content", max_pixels=50_000_000)


def test_limit_message_tells_close_sizes_apart():
    """Over the limit by a few pixels: both numbers in full, not "64.0 MP over the limit of 64.0 MP"."""
    with pytest.raises(ValueError, match="8000x8001 = 64,008,000 pixels, over the pixel limit of 64,000,000"):
        check_size(8000, 8001, 64_000_000, "content")


def test_decompression_bomb_names_pillows_limit(tmp_path):
    (tmp_path / "bomb.png").write_bytes(bomb_png(15000, 15000))
    with pytest.raises(ValueError, match="decompression bomb by Pillow's own limit"):
        load_image(tmp_path / "bomb.png", "content", max_pixels=10 ** 9)


def test_mask_rule_alpha_when_present_else_non_black(tmp_path):
    painted = np.zeros((20, 30), bool)
    painted[5:12, 8:20] = True
    rgba = np.zeros((20, 30, 4), np.uint8)  # transparent black background ...
    rgba[:, 20:, :3] = 255  # ... transparent white too: still not painted
    rgba[painted] = (200, 0, 0, 255)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    assert (load_mask(tmp_path / "rgba.png") == painted).all()
    Image.fromarray(painted.astype(np.uint8) * 255, "L").save(tmp_path / "gray.png")
    assert (load_mask(tmp_path / "gray.png") == painted).all()
    palette = Image.fromarray(painted.astype(np.uint8)).convert("P")
    palette.info["transparency"] = 0  # index 0 (the background) transparent
    assert (mask_from_image(palette) == painted).all()
    la = Image.fromarray(np.stack([np.full((20, 30), 255, np.uint8), painted.astype(np.uint8) * 255], -1), "LA")
    assert (mask_from_image(la) == painted).all()  # white everywhere, alpha decides


def test_icc_profile_and_exif_are_kept_without_orientation(tmp_path):
    exif = Image.Exif()
    exif[ORIENTATION], exif[MAKE] = 6, "Camera"  # 6: rotate 90 degrees clockwise to display
    textured_image(30, 50).save(tmp_path / "tagged.jpg", exif=exif.tobytes(), icc_profile=SRGB_ICC)
    image = load_image(tmp_path / "tagged.jpg")
    assert image.size == (30, 50)  # the orientation is applied ...
    kept = Image.Exif()
    kept.load(image.info["exif"])
    assert ORIENTATION not in kept and kept[MAKE] == "Camera"  # ... and removed from the kept EXIF
    assert image.info["icc_profile"] == SRGB_ICC
    gray = Image.new("L", (2, 2))
    gray.info["icc_profile"] = SRGB_ICC[:16] + b"GRAY" + SRGB_ICC[20:]
    assert kept_metadata(gray) == {}  # a grayscale profile does not describe the RGB output


def test_load_batch_keeps_each_size_and_names_the_bad_item():
    small, wide = np.full((20, 30, 3), 200, np.uint8), np.zeros((40, 90, 3), np.uint8)
    batch = load_batch([small, wide], "content", resolution=16)
    assert [im.size for im in batch.images] == [(30, 20), (90, 40)]
    assert batch.working.shape == (2, 3, 16, 16)
    assert abs(batch.working[0].mean().item() - 200 / 255) < 1e-3
    with pytest.raises(ValueError, match=r"content\[1\]"):
        load_batch([small, np.full((8, 8, 3), np.nan, np.float32)], "content", resolution=16)
    with pytest.raises(ValueError, match="content: got an empty list"):
        load_batch([], "content", resolution=16)
