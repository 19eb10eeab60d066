import io
import time
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import numpy as np
import pytest
from PIL import Image

import app
from conftest import serve, textured_image
from demo import events
from demo.clicks import Clicks
from demo.events import FRESH_OUTPUTS, PREVIEW_EVERY
from demo.inputs import MAX_STEPS, OPTIMIZE_MODES
from demo.photos import EXAMPLES, EXAMPLES_DIR, MIN_SIDE, PREVIEW_SIDE
from demo.session import LOCAL_SESSION, Demo

CONTENT, REFERENCE = EXAMPLES[0]
CONTENT_SIZE, REFERENCE_SIZE = (640, 400), (640, 359)


@pytest.fixture()
def state(tiny_pipe, tmp_path):
    return Demo(tiny_pipe, tmp_path / "files", input_roots=(tmp_path, EXAMPLES_DIR))


def select(x: int, y: int) -> gr.SelectData:
    return gr.SelectData(None, {"index": [x, y], "value": None})


def saved(tmp_path, image: Image.Image, name: str) -> str:
    path = tmp_path / name
    image.save(path)
    return str(path)


def test_recolour_then_strength_reuses_the_latents(state, tiny_pipe, monkeypatch):
    shown, (before, after), path, status = events.recolour(state, CONTENT, REFERENCE, 1.0)
    assert Image.open(path).size == Image.open(before).size == Image.open(after).size == CONTENT_SIZE
    assert "Predicted" in status and shown.key is not None and shown.session == LOCAL_SESSION
    full = np.asarray(Image.open(path))
    calls = []
    monkeypatch.setattr(tiny_pipe, "predict", lambda *a, **k: calls.append(1))
    (_, weaker), weaker_path, status, lut = events.set_strength(state, shown, 0.5)
    assert calls == [] and "strength 0.5" in status and lut == gr.skip()  # no LUT exported: none fitted
    assert not np.array_equal(np.asarray(Image.open(weaker_path)), full)
    assert weaker_path != path and not Path(path).exists()  # the earlier file is replaced, not piled up
    again, *_, status = events.recolour(state, CONTENT, REFERENCE, 1.0)  # same photos: the cached prediction
    assert calls == [] and again.key == shown.key and "reused" in status
    *_, status, _ = events.set_strength(state, None, 1.0)  # the slider before any result: nothing to re-render
    assert status == "Nothing to re-render yet: re-colour a photo first."


def test_fallback_choice_makes_its_own_prediction(state):
    """The radio for the parts the reference lacks: each choice (value or label) is its own prediction with its own
    result; anything else is refused in words."""
    default, _, path, _ = events.recolour(state, CONTENT, REFERENCE, 1.0)
    after = np.asarray(Image.open(path))  # read now: the session's next result replaces the file
    kept, _, path, status = events.recolour(state, CONTENT, REFERENCE, 1.0, "Stay as they are")
    assert kept.key != default.key and "Predicted" in status
    assert not np.array_equal(after, np.asarray(Image.open(path)))
    again, *_, status = events.recolour(state, CONTENT, REFERENCE, 1.0, "keep")
    assert again.key == kept.key and "reused" in status
    for bad in ("nearest", None, ["keep"]):
        with pytest.raises(gr.Error, match="The choice for parts the reference lacks must be"):
            events.recolour(state, CONTENT, REFERENCE, 1.0, bad)


def test_export_lut_of_the_result_on_screen(state):
    """The LUT is fitted to the result on screen, at the slider's strength, and reproduces it globally."""
    from recolor_hf.lut import apply_lut, read_cube
    from recolor_hf.metrics import ciede2000

    with pytest.raises(gr.Error, match="Re-colour a photo first"):
        events.export_lut(state, None, 1.0)
    shown, _, path, _ = events.recolour(state, CONTENT, REFERENCE, 1.0)
    cube, status = events.export_lut(state, shown, 1.0)
    assert Path(cube).name == "look_strength_1.cube"
    box = events.lut_box(state, {"path": cube})  # the box's label gives the strength (the box shortens the name)
    assert box["visible"] and box["label"].endswith("strength 1")
    assert not events.lut_box(state, None)["visible"]  # no LUT (new photos): no box
    error = float(status.split("on average ")[1].split()[0])
    graded = apply_lut(Image.open(CONTENT).convert("RGB"), read_cube(cube))
    result = np.asarray(Image.open(path).convert("RGB"))
    assert ciede2000(np.asarray(graded), result) == pytest.approx(error, abs=0.5)
    assert ciede2000(np.asarray(graded), np.asarray(Image.open(CONTENT).convert("RGB"))) > error  # not identity
    again = events.export_lut(state, shown, 1.0)[0]
    assert not Path(cube).exists() and Path(again).exists()  # one LUT file per session
    table = read_cube(again)
    *_, refitted = events.set_strength(state, shown, 0.5, {"path": again})  # the slider re-fits an exported LUT
    assert Path(refitted).name == "look_strength_0.5.cube" and not Path(again).exists()
    assert events.lut_box(state, {"path": refitted})["label"].endswith("strength 0.5")
    assert not np.allclose(read_cube(refitted).table, table.table)


def test_big_image_is_previewed_small_and_saved_full(state, tmp_path):
    big = saved(tmp_path, textured_image(1200, 1800, seed=7), "big.png")
    reference = saved(tmp_path, textured_image(100, 100, 8), "r.png")
    _, (before, after), path, _ = events.recolour(state, big, reference, 1.0)
    assert max(Image.open(after).size) == max(Image.open(before).size) == PREVIEW_SIDE
    assert Image.open(path).size == (1800, 1200)


def test_grayscale_content(state, tmp_path):
    gray = saved(tmp_path, Image.open(CONTENT).convert("L"), "gray.png")
    _, (_, after), path, _ = events.recolour(state, gray, REFERENCE, 1.0)
    assert Image.open(after).mode == "RGB" and Image.open(path).size == CONTENT_SIZE


def test_bad_uploads_name_the_problem(state, tmp_path):
    text = tmp_path / "cache-hash" / "notes.jpg"
    text.parent.mkdir()
    text.write_text("not a photo")
    empty = saved(tmp_path, Image.new("RGB", (1, 1)), "empty.png")
    Path(empty).write_bytes(b"")
    buffer = io.BytesIO()
    Image.open(CONTENT).save(buffer, "PNG")
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(buffer.getvalue()[:2000])
    upload = {"path": str(text), "orig_name": "notes.jpg"}  # what an event gets for an upload
    with pytest.raises(gr.Error, match=r"content photo: notes.jpg is not a readable image") as error:
        events.recolour(state, upload, REFERENCE, 1.0)
    assert "cache-hash" not in str(error.value)  # the user's file name, not Gradio's cache path
    with pytest.raises(gr.Error, match="reference photo: empty.png is not a readable image"):
        events.recolour(state, CONTENT, empty, 1.0)
    with pytest.raises(gr.Error, match="truncated or corrupt"):
        events.recolour(state, str(truncated), REFERENCE, 1.0)
    with pytest.raises(gr.Error, match="Upload a reference photo first"):
        events.recolour(state, CONTENT, None, 1.0)
    with pytest.raises(gr.Error, match="strength must be a number from 0 to 2, got 3.0"):
        events.recolour(state, CONTENT, REFERENCE, 3.0)
    with pytest.warns(UserWarning, match="notes.jpg is not a readable image"):  # upload: a warning, no change
        assert events.new_photos(state, upload, REFERENCE, None) == (None, None) + (gr.skip(),) * (FRESH_OUTPUTS + 1)
    tiny = saved(tmp_path, Image.new("RGB", (MIN_SIDE - 1, 40)), "tiny.png")
    with pytest.raises(gr.Error, match=f"tiny.png is {MIN_SIDE - 1}x40 pixels: photos need at least"):
        events.recolour(state, tiny, REFERENCE, 1.0)


def test_a_refused_upload_keeps_the_previous_photos_result_and_files(state, tmp_path):
    _, _, accepted, *views = events.new_photos(state, CONTENT, REFERENCE, None)
    assert accepted == (CONTENT, REFERENCE) and len(views) == FRESH_OUTPUTS
    shown, compare, download, _ = events.recolour(state, CONTENT, REFERENCE, 1.0)
    files = state.files.files()
    text = tmp_path / "notes.jpg"
    text.write_text("not a photo")
    with pytest.warns(UserWarning, match="notes.jpg is not a readable image"):
        content, reference, *rest = events.new_photos(state, {"path": str(text), "orig_name": "notes.jpg"}, REFERENCE,
                                                       accepted)
    assert (content, reference) == accepted and rest == [gr.skip()] * (FRESH_OUTPUTS + 1)  # the photos back
    assert state.files.files() == files and Path(download).is_file()  # nothing deleted


def test_new_photos_clear_the_result_and_the_clicks(state):
    _, _, _, shown, compare, download, status, clicks, content_view, reference_view, text, *editors, lut, gallery = \
        events.new_photos(state, CONTENT, REFERENCE, None)
    assert shown.key is None and (compare, download, lut, gallery) == (None, None, None, None)  # no result, LUT, Inspect
    assert "New photos" in status
    assert Clicks.from_json(clicks) == Clicks()
    assert (Image.open(content_view).size, Image.open(reference_view).size) == (CONTENT_SIZE, REFERENCE_SIZE)
    background = editors[1]["background"]
    assert background != reference_view and Image.open(background).size == REFERENCE_SIZE
    shown_bytes = Path(reference_view).read_bytes()
    # shown again, a view is a new file: Gradio re-writes a PIL output in place, cutting short its download
    again = events.new_photos(state, CONTENT, REFERENCE, None)[9]
    assert again != reference_view and Path(again).read_bytes() == shown_bytes
    assert events.new_photos(state, CONTENT, None, None)[9] is None  # a removed photo: no view
    example = gr.SelectData(None, {"index": 1, "value": None})
    content, reference, accepted, shown, *_ = events.use_example(state, example)
    assert [content, reference] == list(accepted) == EXAMPLES[1] and shown.key is None
    cleared = events.clear_content_region(state, CONTENT)  # the editor's bin icon: the photo back, without paint
    assert cleared["layers"] == [] and Image.open(cleared["background"]).size == CONTENT_SIZE
    assert editors[0]["background"] != cleared["background"]
    state.forget(shown)  # the session ends without a result: its views' files go too
    assert state.files.files() == []


def test_clicks_keep_undo_and_guided_run(state):
    clicks, unmarked = events.new_photos(state, CONTENT, REFERENCE, None)[7:9]
    unmarked = np.asarray(Image.open(unmarked))
    clicks, *_ = events.click_content(state, clicks, "pair", CONTENT, REFERENCE, select(100, 50))
    assert clicks["pending"] == pytest.approx([100.5 / 640, 50.5 / 400])  # pixel centres, normalised
    clicks, content_view, reference_view, text = events.click_reference(state, clicks, CONTENT, REFERENCE,
                                                                        select(320, 180))
    assert Clicks.from_json(clicks).pairs == [(pytest.approx((100.5 / 640, 50.5 / 400)),
                                               pytest.approx((320.5 / 640, 180.5 / REFERENCE_SIZE[1])))]
    assert "1 pair(s), 0 keep" in text
    assert not np.array_equal(np.asarray(Image.open(content_view)), unmarked)  # a marker is drawn
    clicks, *_ = events.click_content(state, clicks, "keep", CONTENT, REFERENCE, select(600, 380))
    shown, _, _, status = events.guided(state, CONTENT, REFERENCE, clicks, 1.0)
    assert state.encodings.get(shown.key).correspondence.index.min() == -1  # the keep point
    clicks, *_ = events.undo(state, clicks, CONTENT, REFERENCE)
    assert Clicks.from_json(clicks).keep == []
    clicks, *_ = events.clear_clicks(state, CONTENT, REFERENCE)
    assert Clicks.from_json(clicks) == Clicks()
    with pytest.warns(UserWarning, match="Click on the photo first"):  # reference first: a warning, no change
        assert events.click_reference(state, clicks, CONTENT, REFERENCE, select(1, 1)) == gr.skip()
    with pytest.raises(gr.Error, match="Click a region of the photo first"):
        events.guided(state, CONTENT, REFERENCE, clicks, 1.0)
    half = events.click_content(state, clicks, "pair", CONTENT, REFERENCE, select(5, 5))[0]
    with pytest.raises(gr.Error, match="Now click the matching point on the reference"):
        events.guided(state, CONTENT, REFERENCE, half, 1.0)
    with pytest.raises(gr.Error, match="clicks action 0"):
        events.guided(state, CONTENT, REFERENCE, {"actions": [{"keep": "top"}]}, 1.0)


def test_masks_from_brush_layers_and_plain_mask_images(state, tmp_path):
    def brushed(box):  # the editor's brush layer: transparent but for the painted box
        layer = Image.new("RGBA", CONTENT_SIZE)
        layer.paste((255, 0, 0, 255), box)
        return {"background": None, "layers": [layer], "composite": None}

    plain = Image.new("RGB", REFERENCE_SIZE)  # an API user's black-and-white mask, no alpha
    plain.paste((255, 255, 255), (0, 0, 640, 150))
    reference_region = {"background": None, "layers": [{"path": saved(tmp_path, plain, "sky.png")}]}
    content_region = brushed((0, 0, 640, 200))
    shown, _, _, status = events.masks(state, CONTENT, REFERENCE, content_region, reference_region, None, 1.0)
    latents = state.encodings.get(shown.key)
    assert latents.edit.region[:200].all() and not latents.edit.region[200:].any()  # the painted top, as painted
    assert latents.edit.paint[..., : latents.edit.paint.shape[-2] // 2, :].min() == 1
    with pytest.raises(gr.Error, match="Paint a region"):
        events.masks(state, CONTENT, REFERENCE, brushed((0, 0, 0, 0)), None, None, 1.0)
    wrong = {"layers": [Image.new("RGBA", (300, 300), (255, 0, 0, 255))]}
    with pytest.raises(gr.Error, match="must be drawn on that image"):
        events.masks(state, CONTENT, REFERENCE, wrong, None, None, 1.0)


def test_optimise_stop_shows_the_best_so_far_then_inspect(state):
    label = dict(OPTIMIZE_MODES)
    run = events.optimize(state, CONTENT, REFERENCE, next(k for k, v in label.items() if v == "maps"), 10, 1.0)
    updates = [next(run) for _ in range(PREVIEW_EVERY)]
    assert list(updates[1][4]["value"]["step"]) == [1, 2] and "Step 2 of 10" in updates[1][3]
    assert updates[1][4]["x_lim"] == (1, 10)
    assert updates[-2][1] == gr.skip() and Image.open(updates[-1][1][1]).size == CONTENT_SIZE  # the current result
    events.stop(state)
    *rest, final = list(run)
    assert rest == []
    shown, (_, after), path, status, curve = final
    assert Image.open(path).size == CONTENT_SIZE and f"Stopped at step {PREVIEW_EVERY} of 10" in status
    assert "closest" in status
    gallery = events.inspect(state, shown, REFERENCE)
    assert [caption.split()[0] for _, caption in gallery] == ["Coarse", "Medium", "Fine", "The"]
    assert all(Image.open(image).size == (256, 160) for image, _ in gallery)
    for steps in (0, 2.5, float("inf"), float("nan"), "10", True):
        with pytest.raises(gr.Error, match="number of steps must be a whole number from 1 to"):
            list(events.optimize(state, CONTENT, REFERENCE, "code", steps, 1.0))
    with pytest.raises(gr.Error, match="The mode must be 'The whole look at once'"):
        list(events.optimize(state, CONTENT, REFERENCE, "everything", 2, 1.0))
    with pytest.raises(gr.Error, match="Nothing to inspect"):
        events.inspect(state, None, REFERENCE)


def test_requests_keep_cache_and_files_bounded(tiny_pipe, tmp_path):
    """Two rounds of three sessions keep at most max_encodings predictions and three files per session (memory
    over hundreds of large requests: ``python -m eval soak``)."""
    state = Demo(tiny_pipe, tmp_path / "files", max_encodings=2, input_roots=(tmp_path, EXAMPLES_DIR))
    sessions = [SimpleNamespace(session_hash=f"session{i}") for i in range(3)]
    references = [saved(tmp_path, textured_image(64, 64, seed=i), f"ref{i}.png") for i in range(5)]
    shown = {}
    for i in range(6):  # 12 requests: a prediction and a strength change each time
        request = sessions[i % 3]
        shown[request.session_hash] = events.recolour(state, CONTENT, references[i % 5], 1.0, request=request)[0]
        events.set_strength(state, shown[request.session_hash], 0.25 + i / 40, request=request)
        assert len(state.encodings) <= 2
        assert len(state.files.files()) <= 3 * len(sessions)  # before, after, download per session
    with pytest.raises(gr.Error, match="no longer in memory"):  # the oldest session's prediction was dropped
        events.set_strength(state, shown["session0"], 0.5, request=sessions[0])
    for value in shown.values():
        state.forget(value)  # what the session's gr.State does when it ends
    assert state.files.files() == [] and len(state.encodings) <= 2


def test_every_endpoint_from_gradio_client(tiny_pipe, tmp_path, monkeypatch):
    from gradio_client import Client, handle_file

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "cache"))  # this app's Gradio cache, counted below
    state = Demo(tiny_pipe, max_encodings=2)
    demo = serve(app.build_demo(tiny_pipe, untrained=True, state=state))
    try:
        client = Client(demo.local_url, verbose=False, download_files=str(tmp_path / "client"))
        api = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
        assert set(api) == {"/recolour", "/strength", "/guided", "/masks", "/optimize", "/stop", "/inspect",
                            "/export_lut"}
        names = [item["parameter_name"] for e in api.values() for item in e["parameters"]]
        names += [item["label"] for e in api.values() for item in e["returns"]]
        assert not [name for name in names if name is None or name.startswith("value_")]
        assert [p["parameter_name"] for p in api["/guided"]["parameters"]] == ["content", "reference", "clicks",
                                                                               "strength", "fallback"]
        fallback = next(p for p in api["/recolour"]["parameters"] if p["parameter_name"] == "fallback")
        assert fallback["parameter_has_default"] and fallback["parameter_default"] == "global"
        for endpoint in ("/guided", "/masks"):
            assert '"keep": [x, y]' in api[endpoint]["description"] and '"maxItems"' in api[endpoint]["description"]
        steps = next(p for p in api["/optimize"]["parameters"] if p["parameter_name"] == "steps")
        assert steps["python_type"]["type"] == "int"
        content, reference = handle_file(CONTENT), handle_file(REFERENCE)

        *_, status, _ = client.predict(0.5, api_name="/strength")  # a fresh client: nothing to re-render
        assert "Nothing to re-render yet" in status
        (before, after), path, status = client.predict(content, reference, 1.0, api_name="/recolour")
        assert Image.open(path).size == CONTENT_SIZE and "Predicted" in status
        cached = sorted(p for p in (tmp_path / "cache").rglob("*") if p.is_file())
        for i in range(30):  # the strength slider: the same files are replaced, nothing piles up
            _, _, status, _ = client.predict(0.25 + i / 40, api_name="/strength")
        assert f"strength {0.25 + 29 / 40:g}" in status
        assert len([p for p in (tmp_path / "cache").rglob("*") if p.is_file()]) == len(cached)
        assert len(state.files.files()) == 3

        clicks = {"actions": [{"content": [0.2, 0.2], "reference": [0.5, 0.1]}, {"keep": [0.9, 0.9]}]}
        *_, status = client.predict(content, reference, clicks, 1.0, api_name="/guided")
        assert "Predicted" in status
        *_, status = client.predict(content, reference, 1.0, "keep", api_name="/recolour")
        assert "Predicted" in status  # another fallback: a new prediction, not the cached one
        with pytest.raises(Exception, match="The choice for parts the reference lacks must be"):
            client.predict(content, reference, 1.0, "nearest", api_name="/recolour")
        regions = []
        for size, image in ((CONTENT_SIZE, content), (REFERENCE_SIZE, reference)):
            mask = Image.new("RGB", size)
            mask.paste((255, 255, 255), (0, 0, size[0], size[1] // 3))
            layer = handle_file(saved(tmp_path, mask, f"sky{size[1]}.png"))
            regions.append({"background": image, "layers": [layer], "composite": None})
        *_, status = client.predict(content, reference, *regions, None, 1.0, api_name="/masks")
        assert "Predicted" in status
        *_, status, curve = client.predict(content, reference, OPTIMIZE_MODES[0][0], 2, 1.0, api_name="/optimize")
        assert "Ran 2 steps" in status and [row[0] for row in curve["data"]] == [1, 2]
        job = client.submit(content, reference, "maps", MAX_STEPS, 1.0, api_name="/optimize")
        while not job.outputs() and not job.done():
            time.sleep(0.1)
        client.predict(api_name="/stop")
        assert "Stopped at step" in job.result()[2]
        gallery = client.predict(reference, api_name="/inspect")
        assert [item["caption"].split()[0] for item in gallery] == ["Coarse", "Medium", "Fine", "The"]
        cube, status = client.predict(0.5, api_name="/export_lut")
        assert cube.endswith(".cube") and "strength 0.5" in status and "on average" in status
        assert len(state.encodings) <= 2
        with pytest.raises(Exception, match="Click a region of the photo first"):  # the message reaches the API user
            client.predict(content, reference, None, 1.0, api_name="/guided")
    finally:
        demo.close()


def test_session_end_frees_its_files(tiny_pipe, tmp_path, monkeypatch):
    from gradio_client import Client, handle_file

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "cache"))
    state = Demo(tiny_pipe)
    demo = serve(app.build_demo(tiny_pipe, untrained=True, state=state, session_ttl=1))
    try:
        client = Client(demo.local_url, verbose=False, download_files=str(tmp_path / "client"))
        client.predict(handle_file(CONTENT), handle_file(REFERENCE), 1.0, api_name="/recolour")
        assert len(state.encodings) == 1 and len(state.files.files()) == 3
        deadline = time.monotonic() + 30
        while state.files.files() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert state.files.files() == [] and len(state.encodings) == 1  # kept for other sessions
    finally:
        demo.close()


def test_a_session_that_ends_leaves_the_others_results(state):
    """Two tabs with the same photos share one prediction: the first tab's end keeps the second's result; an
    optimised result, which no other session shares, goes with its session."""
    first, second = (SimpleNamespace(session_hash=name) for name in ("first", "second"))
    shown = events.recolour(state, CONTENT, REFERENCE, 1.0, request=first)[0]
    again = events.recolour(state, CONTENT, REFERENCE, 1.0, request=second)[0]
    state.forget(shown)
    assert "strength 0.5" in events.set_strength(state, again, 0.5, request=second)[2]
    optimised = list(events.optimize(state, CONTENT, REFERENCE, "code", 1, 1.0, request=first))[-1][0]
    state.forget(optimised)
    assert state.encodings.get(optimised.key) is None and state.encodings.get(again.key) is not None


def test_fields_a_client_controls_are_checked(state, tmp_path):
    """Click positions, editor layers, file names and stop requests from a client that sends anything."""
    for index in (["a", 1], None, [1], [1, 2, 3]):
        with pytest.warns(UserWarning, match="A click position must be two numbers"):
            click = gr.SelectData(None, {"index": index, "value": None})
            assert events.click_content(state, None, "pair", CONTENT, REFERENCE, click) == gr.skip()
    layer = saved(tmp_path, Image.new("RGBA", CONTENT_SIZE, (255, 0, 0, 255)), "layer.png")
    for layers, message in (([layer] * 9, "at most 8 layers"), ("layer.png", "a list of at most"),
                            ([layer, saved(tmp_path, Image.new("RGBA", (64, 40)), "small.png")], "the size of its")):
        with pytest.raises(gr.Error, match=message):
            events.masks(state, CONTENT, REFERENCE, {"layers": layers}, None, None, 1.0)
    text = tmp_path / "notes.jpg"
    text.write_text("not a photo")
    long_name = "<b>" + "x" * 500 + ".jpg"
    with pytest.raises(gr.Error) as error:
        events.recolour(state, {"path": str(text), "orig_name": f"/home/someone/{long_name}"}, REFERENCE, 1.0)
    message = str(error.value)
    assert "&lt;b&gt;xxx" in message and "x" * 100 not in message and "someone" not in message
    for session in range(100):  # a stop with no optimisation running is forgotten at once
        events.stop(state, SimpleNamespace(session_hash=f"s{session}"))
    assert state.running == {}
