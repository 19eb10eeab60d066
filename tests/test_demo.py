import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from demo.clicks import Clicks, draw_clicks
from demo.store import LRUCache, SessionFiles, content_key


def test_clicks_pair_keep_undo_and_guidance():
    clicks = Clicks().click_content((0.1, 0.2), "pair")
    assert clicks.pending == (0.1, 0.2) and clicks.actions == () and "reference" in clicks.summary()
    clicks = clicks.click_reference((0.7, 0.8)).click_content((0.5, 0.5), "keep")
    assert clicks.pairs == [((0.1, 0.2), (0.7, 0.8))] and clicks.keep == [(0.5, 0.5)] and clicks.pending is None
    assert clicks.summary() == "1 pair(s), 1 keep point(s)."
    guidance = clicks.guidance(content_mask=np.ones((4, 4), bool))
    assert guidance.pairs == clicks.pairs and guidance.keep == clicks.keep and guidance.content_mask.all()
    assert clicks.undo().keep == [] and clicks.undo().undo() == Clicks()
    pending = clicks.click_content((0.3, 0.3), "pair")
    assert pending.undo() == clicks  # undo drops the pending point first
    assert Clicks().undo() == Clicks()


def test_clicks_refuse_bad_input():
    with pytest.raises(ValueError, match="Click on the photo first"):
        Clicks().click_reference((0.5, 0.5))
    with pytest.raises(ValueError, match="outside the image"):
        Clicks().click_content((1.5, 0.5), "pair")
    with pytest.raises(ValueError, match="click mode"):
        Clicks().click_content((0.5, 0.5), "paint")
    with pytest.raises(ValueError, match="guidance is empty"):
        Clicks().guidance()


def test_clicks_json_round_trip_and_errors():
    clicks = Clicks().click_content((0.1, 0.2), "pair").click_reference((0.7, 0.8)).click_content((0.4, 0.6), "pair")
    value = clicks.to_json()
    assert value == {"actions": [{"content": [0.1, 0.2], "reference": [0.7, 0.8]}], "pending": [0.4, 0.6]}
    assert Clicks.from_json(value) == clicks
    assert Clicks.from_json(None) == Clicks.from_json({}) == Clicks()
    assert Clicks.from_json({"actions": [{"keep": [0.5, 0.5]}]}).keep == [(0.5, 0.5)]
    with pytest.raises(ValueError, match="clicks action 0 must be"):
        Clicks.from_json({"actions": [{"content": [0.1, 0.1]}]})
    with pytest.raises(ValueError, match="clicks action 0 content"):
        Clicks.from_json({"actions": [{"content": "left", "reference": [0.1, 0.1]}]})
    with pytest.raises(ValueError, match="clicks must be"):
        Clicks.from_json([1, 2])
    with pytest.raises(ValueError, match="at most 64 actions, got 100000"):  # a client may send any list
        Clicks.from_json({"actions": [{"keep": [0.5, 0.5]}] * 100_000})


def test_draw_clicks_marks_both_photos():
    content, reference = Image.new("RGB", (200, 100)), Image.new("RGB", (100, 100))
    clicks = Clicks().click_content((0.25, 0.5), "pair").click_reference((0.75, 0.5)).click_content((0.9, 0.1), "keep")
    marked_content, marked_reference = draw_clicks(clicks, content, reference)
    assert marked_content.size == content.size and np.asarray(content).max() == 0  # the input is not drawn on
    assert marked_content.getpixel((50, 50 - 4)) == marked_reference.getpixel((75, 50 - 4)) == (255, 59, 48)
    assert marked_content.getpixel((180, 10)) != (0, 0, 0)  # the keep point
    assert draw_clicks(Clicks(), None, reference)[0] is None


def test_content_key_depends_on_every_part():
    assert content_key(b"ab", "c") == content_key(b"ab", "c")
    assert len({content_key(b"ab", "c"), content_key(b"a", "bc"), content_key(b"ab", "d")}) == 3


def test_lru_cache_drops_least_recently_used():
    cache = LRUCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "a" is now the most recent
    cache.put("c", 3)
    assert cache.get("b") is None and cache.get("a") == 1 and len(cache) == 2
    cache.pop("a")
    cache.pop("missing")
    assert len(cache) == 1
    with pytest.raises(ValueError, match="capacity"):
        LRUCache(0)


def test_lru_cache_is_thread_safe():
    cache = LRUCache(8)

    def work(offset):
        for i in range(500):
            cache.put(offset + i, i)
            cache.get(offset + i - 1)

    threads = [threading.Thread(target=work, args=(k * 1000,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(cache) == 8


def test_session_files_replace_and_bound(tmp_path):
    files = SessionFiles(tmp_path, max_sessions=2)
    image = Image.new("RGB", (8, 8), "red")
    first = files.save("s1", "result.png", image)
    second = files.save("s1", "result.png", image)
    preview = files.save("s1", "preview.jpg", image, quality=90)
    assert first != second and not Image.open(second).getpixel((0, 0))[1]
    assert files.files() == sorted(map(type(tmp_path), (second, preview)))  # the first result was replaced
    s2 = Path(files.save("s2", "result.png", image)).parents[1]
    s3 = Path(files.save("s3", "result.png", image)).parents[1]
    assert {p.parents[1] for p in files.files()} == {s2, s3}  # over max_sessions: s1, the least recently used, went
    files.close("s2")
    files.close("never-seen")
    assert [p.parents[1] for p in files.files()] == [s3]


@pytest.mark.parametrize("session", ["../victim", "../../victim", "/", "/tmp/victim", "a/../../b", "", "."])
def test_session_ids_never_become_paths(tmp_path, session):
    """A client's session id is only a key: files land in a random folder under the root, and closing the
    session deletes that folder and nothing else."""
    root, canary = tmp_path / "root", tmp_path / "victim" / "keep.txt"
    canary.parent.mkdir()
    canary.write_text("mine")
    files = SessionFiles(root, max_sessions=1)
    saved = Path(files.save(session, "result.png", Image.new("RGB", (4, 4))))
    assert saved.resolve().is_relative_to(root.resolve()) and session not in saved.parts[-3:-2]
    files.save("other", "result.png", Image.new("RGB", (4, 4)))  # evicts the first session
    files.close("other")
    assert canary.read_text() == "mine" and list(root.iterdir()) == []
    with pytest.raises(ValueError, match="plain file name"):
        files.new_path("s", "../escape.png")
