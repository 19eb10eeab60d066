"""What the Gradio demo remembers between events, kept small and bounded.

``Clicks``: the guided-clicks state machine (add, undo, clear) as an immutable value, with its JSON form (the
demo's ``/guided`` API parameter) and its ``Guidance``. ``LRUCache``: at most ``capacity`` items, the least
recently used dropped first (the demo's encodings, keyed by ``content_key`` of their inputs). ``SessionFiles``:
the result files of each session in one folder, a new file replacing the session's previous one of that name,
at most ``max_sessions`` sessions kept.
"""

import hashlib
import shutil
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Hashable

import numpy as np
import PIL.Image

from .guidance import Guidance, Point, check_point

MODES = ("pair", "keep")  # a source click starts a pair, or marks a region to keep
MAX_ACTIONS = 64  # clicks accepted in one guidance (a client may send any list)


@dataclass(frozen=True)
class Clicks:
    """Guided clicks in normalised (x, y) coordinates (see ``guidance``).

    actions: in click order (for undo), ("pair", source_xy, reference_xy) or ("keep", source_xy);
    pending: a source point waiting for its reference point, or None.
    """

    actions: tuple = ()
    pending: Point | None = None

    def click_source(self, point, mode: str) -> "Clicks":
        """A source click: starts a pair ("pair") or adds a keep point ("keep")."""
        point = check_point(point, "source click")
        if mode == "pair":
            return Clicks(self.actions, point)
        if mode == "keep":
            return Clicks(self.actions + (("keep", point),))
        raise ValueError(f"click mode must be one of {MODES}, got {mode!r}")

    def click_reference(self, point) -> "Clicks":
        """A reference click completes the pending pair."""
        if self.pending is None:
            raise ValueError("Click on the photo first, then on the reference region whose colour it should take.")
        return Clicks(self.actions + (("pair", self.pending, check_point(point, "reference click")),))

    def undo(self) -> "Clicks":
        """Drop the pending point, or else the last action."""
        return Clicks(self.actions) if self.pending else Clicks(self.actions[:-1])

    @property
    def pairs(self) -> list[tuple[Point, Point]]:
        return [(a[1], a[2]) for a in self.actions if a[0] == "pair"]

    @property
    def keep(self) -> list[Point]:
        return [a[1] for a in self.actions if a[0] == "keep"]

    def guidance(self, content_mask: np.ndarray | None = None, reference_mask: np.ndarray | None = None) -> Guidance:
        """The clicks (and optional masks) as ``Guidance``; a ValueError if a pair is half-finished or all of them
        are empty."""
        if self.pending is not None:
            raise ValueError("Now click the matching point on the reference to finish the pair (or press Undo).")
        return Guidance(self.pairs, self.keep, content_mask, reference_mask)

    def summary(self) -> str:
        """One line for the user: what is clicked, and what to click next."""
        text = f"{len(self.pairs)} pair(s), {len(self.keep)} keep point(s)."
        return text + (" Now click the matching point on the **reference**." if self.pending else "")

    def to_json(self) -> dict:
        """{"actions": [{"source": [x, y], "reference": [x, y]} or {"keep": [x, y]}, ...], "pending": [x, y] | None}"""
        actions = [{"source": list(a[1]), "reference": list(a[2])} if a[0] == "pair" else {"keep": list(a[1])}
                   for a in self.actions]
        return {"actions": actions, "pending": None if self.pending is None else list(self.pending)}

    @classmethod
    def from_json(cls, value: Any) -> "Clicks":
        """The inverse of ``to_json`` (None or {} is no clicks; "pending" may be left out); a ValueError names a
        malformed entry."""
        if not value:
            return cls()
        if not isinstance(value, dict) or not isinstance(value.get("actions", []), list):
            raise ValueError(f'clicks must be {{"actions": [...], "pending": null}}, got {value!r}')
        if len(value.get("actions", [])) > MAX_ACTIONS:
            raise ValueError(f"clicks may hold at most {MAX_ACTIONS} actions, got {len(value['actions'])}")
        actions = []
        for i, action in enumerate(value.get("actions", [])):
            if isinstance(action, dict) and set(action) == {"source", "reference"}:
                actions.append(("pair", check_point(action["source"], f"clicks action {i} source"),
                                check_point(action["reference"], f"clicks action {i} reference")))
            elif isinstance(action, dict) and set(action) == {"keep"}:
                actions.append(("keep", check_point(action["keep"], f"clicks action {i} keep")))
            else:
                raise ValueError(f'clicks action {i} must be {{"source": [x, y], "reference": [x, y]}} or '
                                 f'{{"keep": [x, y]}}, got {action!r}')
        pending = value.get("pending")
        return cls(tuple(actions), None if pending is None else check_point(pending, "clicks pending"))


def content_key(*parts: bytes | str) -> str:
    """A short hex digest of the parts (file contents, settings): the cache key of what they produce."""
    digest = hashlib.blake2b(digest_size=16)
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()


class LRUCache:
    """A thread-safe mapping of at most ``capacity`` items; adding one more drops the least recently used."""

    def __init__(self, capacity: int):
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self.items: OrderedDict[Hashable, Any] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: Hashable) -> Any | None:
        """The value (now the most recently used), or None."""
        with self.lock:
            if key not in self.items:
                return None
            self.items.move_to_end(key)
            return self.items[key]

    def put(self, key: Hashable, value: Any) -> None:
        with self.lock:
            self.items[key] = value
            self.items.move_to_end(key)
            while len(self.items) > self.capacity:
                self.items.popitem(last=False)

    def pop(self, key: Hashable) -> None:
        """Forget ``key`` (nothing happens if it is not there)."""
        with self.lock:
            self.items.pop(key, None)

    def __len__(self) -> int:
        return len(self.items)


class SessionFiles:
    """Result files under ``root``/<folder>/<token>/<name>, where <folder> is a random name this object gives each
    session: the session id a client sends is only a key, never part of a path, so no id (``../x``, ``/``) can
    point a write or a delete outside ``root``. Saving a name again deletes the session's previous file of that
    name (a fresh token gives the browser a fresh URL), and saving for more than ``max_sessions`` sessions deletes
    the least recently used session's folder."""

    def __init__(self, root: Path, max_sessions: int):
        if max_sessions < 1:
            raise ValueError(f"max_sessions must be >= 1, got {max_sessions}")
        self.root, self.max_sessions = Path(root).resolve(), max_sessions
        self.folders: OrderedDict[str, Path] = OrderedDict()  # session id -> its folder, least recently used first
        self.lock = threading.Lock()

    def save(self, session: str, name: str, image: PIL.Image.Image, **options) -> str:
        """Write ``image`` as ``name`` (format from its suffix, PIL ``options``) for ``session``; returns the path."""
        path = self.new_path(session, name)
        image.save(path, **options)
        return str(path)

    def new_path(self, session: str, name: str, replaces: str | None = None) -> Path:
        """A fresh path for the file ``name`` (a plain file name) of ``session`` (its folder exists, the session's
        previous files named ``replaces``, a glob pattern defaulting to ``name``, are deleted); the caller writes
        it."""
        if Path(name).name != name or name in ("", ".", ".."):
            raise ValueError(f"a session file name must be a plain file name, got {name!r}")
        with self.lock:
            folder = self.folders.pop(session, None) or self.root / uuid.uuid4().hex
            self.folders[session] = folder
            while len(self.folders) > self.max_sessions:
                shutil.rmtree(self.folders.popitem(last=False)[1], ignore_errors=True)
            for old in folder.glob(f"*/{replaces or name}"):
                shutil.rmtree(old.parent, ignore_errors=True)
            path = folder / uuid.uuid4().hex / name
            path.parent.mkdir(parents=True)
        return path

    def close(self, session: str) -> None:
        """Delete every file of ``session``."""
        with self.lock:
            folder = self.folders.pop(session, None)
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)

    def files(self) -> list[Path]:
        """Every file currently kept, all sessions."""
        return sorted(p for p in self.root.glob("*/*/*") if p.is_file())
