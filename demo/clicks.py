"""The guided clicks: their state machine, their JSON form (the ``/guided`` and ``/masks`` API parameter) and their
marks on the two photos.

``Clicks`` adds, undoes and clears clicks as an immutable value and gives their ``Guidance``; ``draw_clicks`` marks
clicked pairs with matching numbered discs, keep points with "K" and a pending content point with a hollow circle.
"""

import reprlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import PIL.Image
import PIL.ImageDraw

from recolor_hf.guidance import Guidance, Point, check_point

MODES = ("pair", "keep")  # a content click starts a pair, or marks a region to keep
MAX_ACTIONS = 64  # clicks accepted in one guidance (a client may send any list)
MARKER_COLOURS = ("#ff3b30", "#34c759", "#007aff", "#ff9500", "#af52de", "#00c7be", "#ffcc00", "#ff2d55")
KEEP_COLOUR, PENDING_COLOUR = "white", "#ff3b30"
MARKER_SHARE = 1 / 30  # marker radius as a share of the image's long side ...
MIN_MARKER_RADIUS = 6  # ... and at least this many pixels

CLICKS_HELP = (
    "The clicks as JSON: {\"actions\": [ACTION, ...], \"pending\": null}, each ACTION either "
    "{\"content\": [x, y], \"reference\": [x, y]} (a pair: the photo's region at content takes the colour of the "
    "reference's region at reference) or {\"keep\": [x, y]} (a region of the photo that keeps its colour); x, y "
    "are fractions of the image's width and height in [0, 1], from its top-left corner. JSON schema: "
    '{"type": "object", "properties": {"actions": {"type": "array", "maxItems": %d, "items": {"oneOf": ['
    '{"type": "object", "required": ["content", "reference"], "properties": {"content": {"$ref": "#/point"}, '
    '"reference": {"$ref": "#/point"}}}, {"type": "object", "required": ["keep"], "properties": {"keep": '
    '{"$ref": "#/point"}}}]}}, "pending": {"oneOf": [{"type": "null"}, {"$ref": "#/point"}]}}, "point": '
    '{"type": "array", "items": {"type": "number", "minimum": 0, "maximum": 1}, "minItems": 2, "maxItems": 2}}.'
    % MAX_ACTIONS)


@dataclass(frozen=True)
class Clicks:
    """Guided clicks in normalised (x, y) coordinates (see ``guidance``).

    actions: in click order (for undo), ("pair", content_xy, reference_xy) or ("keep", content_xy);
    pending: a content point waiting for its reference point, or None.
    """

    actions: tuple = ()
    pending: Point | None = None

    def click_content(self, point, mode: str) -> "Clicks":
        """A content click: starts a pair ("pair") or adds a keep point ("keep")."""
        point = check_point(point, "content click")
        if mode == "pair":
            return Clicks(self.actions, point)
        if mode == "keep":
            return Clicks(self.actions + (("keep", point),))
        raise ValueError(f"click mode must be one of {MODES}, got {reprlib.repr(mode)}")

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
        """{"actions": [{"content": [x, y], "reference": [x, y]} or {"keep": [x, y]}, ...], "pending": [x, y] | None}"""
        actions = [{"content": list(a[1]), "reference": list(a[2])} if a[0] == "pair" else {"keep": list(a[1])}
                   for a in self.actions]
        return {"actions": actions, "pending": None if self.pending is None else list(self.pending)}

    @classmethod
    def from_json(cls, value: Any) -> "Clicks":
        """The inverse of ``to_json`` (None or {} is no clicks; "pending" may be left out); a ValueError names a
        malformed entry."""
        if not value:
            return cls()
        if not isinstance(value, dict) or not isinstance(value.get("actions", []), list):
            raise ValueError(f'clicks must be {{"actions": [...], "pending": null}}, got {reprlib.repr(value)}')
        if len(value.get("actions", [])) > MAX_ACTIONS:
            raise ValueError(f"clicks may hold at most {MAX_ACTIONS} actions, got {len(value['actions'])}")
        actions = []
        for i, action in enumerate(value.get("actions", [])):
            if isinstance(action, dict) and set(action) == {"content", "reference"}:
                actions.append(("pair", check_point(action["content"], f"clicks action {i} content"),
                                check_point(action["reference"], f"clicks action {i} reference")))
            elif isinstance(action, dict) and set(action) == {"keep"}:
                actions.append(("keep", check_point(action["keep"], f"clicks action {i} keep")))
            else:
                raise ValueError(f'clicks action {i} must be {{"content": [x, y], "reference": [x, y]}} or '
                                 f'{{"keep": [x, y]}}, got {reprlib.repr(action)}')
        pending = value.get("pending")
        return cls(tuple(actions), None if pending is None else check_point(pending, "clicks pending"))


def draw_markers(image: PIL.Image.Image, marks: list[tuple[tuple[float, float], str | None, str]]) -> PIL.Image.Image:
    """A copy of ``image`` with a disc at each normalised point, marks being (xy, fill colour, label); a fill of
    None draws a hollow (pending) circle."""
    image = image.convert("RGB")
    draw = PIL.ImageDraw.Draw(image)
    radius = max(MIN_MARKER_RADIUS, round(max(image.size) * MARKER_SHARE))
    for (x, y), fill, label in marks:
        cx, cy = x * image.width, y * image.height
        box = (cx - radius, cy - radius, cx + radius, cy + radius)
        draw.ellipse(box, fill=fill, outline=PENDING_COLOUR if fill is None else "white", width=max(2, radius // 4))
        draw.text((cx, cy), label, fill="black" if fill == KEEP_COLOUR else "white", anchor="mm",
                  font_size=radius * 1.4)
    return image


def draw_clicks(clicks: Clicks, content: PIL.Image.Image | None,
                reference: PIL.Image.Image | None) -> tuple[PIL.Image.Image | None, PIL.Image.Image | None]:
    """The two photos with the clicks marked: pair n as disc "n" in the same colour on both, keep points "K" on
    the content, the pending content point hollow (a missing photo stays None)."""
    marks_content, marks_reference = [], []
    for number, action in enumerate(clicks.actions, start=1):
        if action[0] == "pair":
            colour = MARKER_COLOURS[(number - 1) % len(MARKER_COLOURS)]
            marks_content.append((action[1], colour, str(number)))
            marks_reference.append((action[2], colour, str(number)))
        else:
            marks_content.append((action[1], KEEP_COLOUR, "K"))
    if clicks.pending:
        marks_content.append((clicks.pending, None, ""))
    return tuple(None if image is None else draw_markers(image, marks)
                 for image, marks in ((content, marks_content), (reference, marks_reference)))
