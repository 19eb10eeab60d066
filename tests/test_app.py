import io
import socket

import gradio as gr
import numpy as np
import pytest
from PIL import Image

import app
from conftest import textured_image

SOURCE, REFERENCE = app.EXAMPLES[0]


@pytest.fixture(scope="module")
def handlers(tiny_pipe, tmp_path_factory):
    return app.Handlers(tiny_pipe, tmp_path_factory.mktemp("demo"))


@pytest.fixture(scope="module")
def pair():
    return Image.open(SOURCE).convert("RGB"), Image.open(REFERENCE).convert("RGB")


def select(x: int, y: int) -> gr.SelectData:
    return gr.SelectData(None, {"index": [x, y], "value": None})


def test_recolour_then_strength_reuses_the_latents(handlers, pair, tiny_pipe, monkeypatch):
    latents, (before, after), path, status = handlers.recolour(*pair, 1.0)
    assert Image.open(path).size == pair[0].size == after.size == before.size  # 640 px: preview is full size
    assert "Predicted" in status
    calls = []
    monkeypatch.setattr(tiny_pipe, "predict", lambda *a, **k: calls.append(1))
    (_, weaker), path, status = handlers.set_strength(latents, 0.5)
    assert calls == [] and weaker.size == pair[0].size and "strength 0.5" in status


def test_big_image_is_previewed_small_and_saved_full(handlers):
    big = textured_image(1200, 1800, seed=7)
    _, (before, after), path, _ = handlers.recolour(big, textured_image(100, 100, seed=8), 1.0)
    assert max(after.size) == max(before.size) == app.PREVIEW_SIDE
    assert Image.open(path).size == (1800, 1200)


def test_grayscale_source(handlers, pair):
    _, (_, after), path, _ = handlers.recolour(pair[0].convert("L"), pair[1], 1.0)
    assert after.mode == "RGB" and Image.open(path).size == pair[0].size


def test_bad_uploads_raise_gr_error(handlers, pair):
    buffer = io.BytesIO()
    pair[0].save(buffer, "PNG")
    truncated = Image.open(io.BytesIO(buffer.getvalue()[:2000]))
    with pytest.raises(gr.Error, match="truncated or corrupt"):
        handlers.recolour(truncated, pair[1], 1.0)
    with pytest.raises(gr.Error, match="Upload a reference"):
        handlers.recolour(pair[0], None, 1.0)
    assert handlers.set_strength(None, 1.0) == (gr.skip(),) * 3  # the slider before any run: nothing to do


def test_clicks_keep_undo_and_guided_run(handlers, pair):
    clicks, *views, text = handlers.reset_views(*pair)[:4]
    assert clicks == app.NO_CLICKS and views[0].size == pair[0].size
    clicks, *_ = handlers.click_source(clicks, "pair", *pair, select(100, 50))
    assert clicks["pending"] == pytest.approx((100.5 / 640, 50.5 / 400))  # pixel centres, normalised
    clicks, source_view, reference_view, text = handlers.click_reference(clicks, "pair", *pair, select(320, 180))
    source_xy, reference_xy = (100.5 / 640, 50.5 / 400), (320.5 / 640, 180.5 / 359)
    assert clicks["actions"] == [["pair", pytest.approx(source_xy), pytest.approx(reference_xy)]]
    assert "1 pair(s), 0 keep" in text
    assert not np.array_equal(np.asarray(source_view), np.asarray(pair[0]))  # a marker is drawn
    clicks, *_ = handlers.click_source(clicks, "keep", *pair, select(600, 380))
    assert clicks["actions"][-1][0] == "keep"
    latents, (_, after), path, status = handlers.run_guided(*pair, clicks, 1.0)
    assert latents.correspondence.index.min() == -1 and "Guided" in status  # the keep point
    clicks, *_ = handlers.undo(clicks, *pair)
    assert len(clicks["actions"]) == 1
    clicks, *_ = handlers.clear(*pair)
    assert clicks == app.NO_CLICKS
    with pytest.raises(gr.Error, match="Click on the source first"):
        handlers.click_reference(clicks, "pair", *pair, select(1, 1))
    with pytest.raises(gr.Error, match="guidance is empty"):
        handlers.run_guided(*pair, clicks, 1.0)


def test_masks(handlers, pair):
    def editor(image, box):
        layer = Image.new("RGBA", image.size)
        layer.paste((255, 0, 0, 255), box)
        return {"background": image, "layers": [layer], "composite": image}

    source_editor, reference_editor = editor(pair[0], (0, 0, 640, 200)), editor(pair[1], (0, 0, 640, 150))
    latents, _, _, status = handlers.run_masks(*pair, source_editor, reference_editor, app.NO_CLICKS, 1.0)
    index, (h, w) = latents.correspondence.index, latents.correspondence.confidence.shape[-2:]
    assert "Two-step" in status and 0 <= index.min() and index.max() < h * w // 2  # from the top of the reference
    with pytest.raises(gr.Error, match="Paint a region"):
        handlers.run_masks(*pair, editor(pair[0], (0, 0, 0, 0)), None, app.NO_CLICKS, 1.0)
    with pytest.raises(gr.Error, match="must be drawn on that image"):
        handlers.run_masks(*pair, editor(pair[1].resize((300, 300)), (0, 0, 99, 99)), None, app.NO_CLICKS, 1.0)


def test_optimise_and_inspect(handlers, pair):
    updates = list(handlers.optimise(*pair, "maps", 2))
    assert len(updates) == 3
    assert list(updates[1][4]["step"]) == [0, 1]
    latents, (_, after), path, status, _ = updates[-1]
    assert after.size == pair[0].size and "2 steps (maps)" in status
    gallery = handlers.inspect(latents, pair[1])
    assert [caption[:2] for _, caption in gallery] == ["W1", "W2", "W3", "co"]
    assert all(image.size == (256, 160) for image, _ in gallery)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_served_app_with_gradio_client(tiny_pipe):
    from gradio_client import Client, handle_file

    demo = app.build_demo(tiny_pipe, untrained=True)
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(), quiet=True)
    try:
        client = Client(demo.local_url, verbose=False)
        (before, after), path, status = client.predict(handle_file(SOURCE), handle_file(REFERENCE), 1.0,
                                                       api_name="/recolour")
        assert Image.open(path).size == (640, 400) and "Predicted" in status
        _, _, status = client.predict(0.25, api_name="/strength")
        assert "strength 0.25" in status
        *_, status, curve = client.predict(handle_file(SOURCE), handle_file(REFERENCE), "code", 2,
                                           api_name="/optimise")
        assert "2 steps (code)" in status
    finally:
        demo.close()
