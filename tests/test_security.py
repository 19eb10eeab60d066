"""The demo as an attacker meets it: the app runs on 127.0.0.1 and every attack is replayed through Gradio's raw
queue API (``POST /gradio_api/queue/join`` with a chosen ``fn_index`` and ``session_hash``, then the event stream
of ``GET /gradio_api/queue/data``), where a client controls every field it sends."""

import json
import os
from pathlib import Path

import gradio as gr
import httpx
import psutil
import pytest
from PIL import Image

import app
from conftest import ROOT, serve, textured_image
from demo.photos import EXAMPLES, MAX_LAYERS
from demo.session import Demo

CONTENT, REFERENCE = EXAMPLES[0]


@pytest.fixture(scope="module")
def server(tiny_pipe, tmp_path_factory):
    """(url, state, sandbox): the demo with its Gradio cache in ``sandbox``/cache; canary folders beside it."""
    sandbox = tmp_path_factory.mktemp("sandbox")
    previous = os.environ.get("GRADIO_TEMP_DIR")
    os.environ["GRADIO_TEMP_DIR"] = str(sandbox / "cache")
    state = Demo(tiny_pipe, max_sessions=2)  # so that a few sessions already evict the first
    demo = serve(app.build_demo(tiny_pipe, untrained=True, state=state))
    yield demo, state, sandbox
    demo.close()
    if previous is None:
        os.environ.pop("GRADIO_TEMP_DIR")
    else:
        os.environ["GRADIO_TEMP_DIR"] = previous


def call(demo, event: str, data: list, session: str) -> dict:
    """Join the queue for the first event whose handler is ``event`` as session ``session``; its last message."""
    fn_index = next(i for i, fn in demo.fns.items() if fn.name == event)
    url = demo.local_url.rstrip("/")
    body = {"data": data, "fn_index": fn_index, "session_hash": session, "event_data": None, "trigger_id": None}
    httpx.post(f"{url}/gradio_api/queue/join", json=body, timeout=30).raise_for_status()
    with httpx.stream("GET", f"{url}/gradio_api/queue/data", params={"session_hash": session}, timeout=120) as r:
        for line in r.iter_lines():
            message = json.loads(line[len("data:"):]) if line.startswith("data:") else {}
            if message.get("msg") == "process_completed":
                return message
    raise AssertionError(f"{event} never completed")


def upload(demo, path: Path | str) -> dict:
    """Upload a file as the browser does; the FileData an event then gets."""
    with open(path, "rb") as f:
        response = httpx.post(f"{demo.local_url.rstrip('/')}/gradio_api/upload", files={"files": f}, timeout=60)
    response.raise_for_status()
    return {"path": response.json()[0], "orig_name": Path(path).name, "meta": {"_type": "gradio.FileData"}}


def files_under(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def canary(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "keep.txt").write_text("the user's own file")
    return folder


def error_of(message: dict) -> str | None:
    """The error text of a refused event (None: refused by Gradio's own checks, which give none)."""
    assert message["success"] is False, message
    return message["output"]["error"]


def test_session_ids_never_write_or_delete_outside_the_cache(server):
    demo, state, sandbox = server
    content, reference = upload(demo, CONTENT), upload(demo, REFERENCE)
    for name in ("victim", "victim2", "absolute"):
        canary(sandbox / name)
    outside = files_under(sandbox / "victim") | files_under(sandbox / "victim2") | files_under(sandbox / "absolute")
    root_entries = sorted(os.listdir("/"))
    # relative ids point from the results folder (cache/recolor_demo) to the canaries; then absolute ones
    hostile = ["../../victim", "../../victim2", "../../../" + sandbox.name + "/victim", str(sandbox / "absolute")]
    for session in hostile:
        result = call(demo, "recolour", [content, reference, 1.0, "global"], session)
        assert result["success"], result
        _, compare, download, _ = result["output"]["data"]  # the session state stays on the server
        written = [Path(item["path"]) for item in compare] + [Path(download["path"])]
        assert all(p.resolve().is_relative_to((sandbox / "cache").resolve()) for p in written)
        assert call(demo, "new_photos", [content, reference, None], session)["success"]  # drops that session's files
    for session in ("fresh-1", "fresh-2", "fresh-3"):  # evicts every earlier session (the demo keeps 2 here)
        assert call(demo, "recolour", [content, reference, 1.0, "global"], session)["success"]
    for victim in ("victim", "victim2", "absolute"):
        assert files_under(sandbox / victim) == {"keep.txt": b"the user's own file"}
    assert files_under(sandbox / "victim") | files_under(sandbox / "victim2") | files_under(
        sandbox / "absolute") == outside
    # only now that the canaries proved ids never become paths: the filesystem root as a session id
    for session in ("/", "//", "/.", ".."):
        assert call(demo, "recolour", [content, reference, 1.0, "global"], session)["success"]
        assert call(demo, "new_photos", [content, reference, None], session)["success"]
    assert sorted(os.listdir("/")) == root_entries
    assert state.files.root.is_dir() and all(p.is_relative_to(state.files.root) for p in state.files.files())


def test_files_that_were_not_uploaded_are_never_read(server, tmp_path):
    demo, _, sandbox = server
    secret = tmp_path / "secret.png"
    textured_image(64, 64, seed=3).save(secret)
    reference = upload(demo, REFERENCE)
    cache = sandbox / "cache"
    paths = [secret, tmp_path / "no-such-file.png", ROOT / "docs" / "result.jpg", ROOT / "app.py", "/etc/passwd",
             f"{cache}/../../{secret.relative_to(secret.parents[2])}", "/"]
    messages = set()
    for path in paths:
        for photo in ({"path": str(path)}, {"path": str(path), "meta": {"_type": "gradio.FileData"}}):
            # with "meta", Gradio's own upload check refuses first (its error has no text); without it, the demo
            for event, data in (("recolour", [photo, reference, 1.0, "global"]),
                                ("recolour", [reference, photo, 1.0, "global"]), ("inspect", [None, photo]),
                                ("masks", [reference, reference, {"background": None, "layers": [photo]}, None,
                                           None, 1.0, "global"])):
                message = error_of(call(demo, event, data, "reader"))
                if "meta" not in photo and event == "recolour":  # inspect refuses first for want of a result
                    messages.add(message.replace("reference", "content"))
            warned = call(demo, "new_photos", [photo, reference, None], "reader")  # an upload event: outputs unchanged
            assert not warned["success"] or all(item in (None, {"__type__": "update"})  # None: the session state
                                                for item in warned["output"]["data"])
    # one message whatever the path: it does not tell whether a file exists there
    assert messages == {"The content photo is not a file uploaded to this demo: upload it again."}


def test_painted_layers_obey_the_pixel_limit_before_decoding(server, tmp_path):
    demo, _, _ = server
    content, reference = upload(demo, CONTENT), upload(demo, REFERENCE)
    process = psutil.Process()
    for side, expected in ((12000, "over the pixel limit"), (15000, "decompression")):
        layer = tmp_path / f"layer{side}.png"
        Image.new("1", (side, side)).save(layer)  # a few hundred KB on disk, side**2 pixels decoded
        region = {"background": None, "layers": [upload(demo, layer)], "composite": None}
        before = process.memory_info().rss
        message = error_of(call(demo, "masks", [content, reference, region, None, None, 1.0, "global"], "painter"))
        assert expected in message and "painted content region" in message
        assert process.memory_info().rss - before < 100 * 2**20


def test_the_regions_button_refuses_big_or_many_layers_before_gradio_decodes(server, tmp_path, monkeypatch):
    """The regions button's editors are preprocessed by Gradio, which decodes every layer: guard_editor refuses
    more than MAX_LAYERS layers and any layer over the pixel limit from the headers, before that."""
    demo, state, _ = server
    content, reference = upload(demo, CONTENT), upload(demo, REFERENCE)
    decoded = []
    monkeypatch.setattr(gr.ImageEditor, "convert_and_format_image", lambda self, *a, **k: decoded.append(1))
    small, big = tmp_path / "small.png", tmp_path / "big.png"
    Image.new("1", (32, 32)).save(small)
    Image.new("1", (12000, 12000)).save(big)
    cases = (([upload(demo, small)] * (MAX_LAYERS + 1), f"at most {MAX_LAYERS} layers"),
             ([upload(demo, big)], "over the pixel limit"))
    for layers, expected in cases:
        region = {"background": None, "layers": layers, "composite": None, "id": None}
        message = error_of(call(demo, "painted", [(content, reference), region, None, None, 1.0, "global"], "many"))
        assert expected in message
    assert decoded == []


def test_strength_and_fallback_are_checked_before_the_prediction(server, monkeypatch):
    demo, state, _ = server
    content, reference = upload(demo, CONTENT), upload(demo, REFERENCE)
    calls = []
    monkeypatch.setattr(state.pipe, "encode", lambda *a, **k: calls.append(1))
    keep = {"actions": [{"keep": [0.5, 0.5]}]}
    for strength in (5, -1, "1", None, [1]):
        for event, data in (("recolour", [content, reference, strength, "global"]),
                            ("guided", [content, reference, keep, strength, "global"])):
            message = error_of(call(demo, event, data, "slider"))
            assert message.startswith("The strength must be a number from 0 to 2, got ")
    for fallback in ("nearest", None, 1, ["keep"], {"value": "keep"}, "x" * 10_000):
        for event, data in (("recolour", [content, reference, 1.0, fallback]),
                            ("guided", [content, reference, keep, 1.0, fallback])):
            message = error_of(call(demo, event, data, "radio"))
            assert message.startswith("The choice for parts the reference lacks must be ") and len(message) < 300
    assert calls == []
