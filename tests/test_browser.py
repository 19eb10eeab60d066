"""The demo in a real browser: headless Chromium driven by Playwright (system Chromium, no browser download).

It serves what ``python app.py`` serves (the shipped checkpoint) and uses it as a photographer would in a
1400x1000 window. The README's screenshots are refreshed only on request (RECOLOR_UPDATE_SCREENSHOT=1), so a
test run leaves the tree clean.
"""

import io
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.ndimage import binary_erosion
from skimage.color import deltaE_ciede2000, rgb2lab

import app
from conftest import serve
from demo.inputs import MAX_STEPS
from demo.photos import EXAMPLES
from demo.session import Demo

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
VIEWPORT = {"width": 1400, "height": 1000}
DOCS = Path(__file__).resolve().parent.parent / "docs"
RUN_TIMEOUT_MS = 180_000  # the real checkpoint on a slow, shared machine
MESSAGE_TIMEOUT_MS = 30_000
VIEW_SWAP_MS = 1000  # the time a click view takes to show its new image
CONTENT, REFERENCE = EXAMPLES[0]  # city: sky, buildings, then water below ~80 % of the height
OTHER_CONTENT = EXAMPLES[1][0]
WATER, SKY = (0.5, 0.92), (0.5, 0.15)  # points well inside the city photos' water and sky
DISC = 0.05  # the kept region measured: the pixels within this share of the diagonal of the keep point
REST_ROWS = 0.6  # ... and the rest: the rows above this share of the height (sky and buildings)
KEEP_LIMIT, REST_MIN = 3.0, 10.0  # ΔE00: the kept region changes less than the first, the rest more than the second
PAINTED_ROWS, REFERENCE_ROWS = (0.6, 0.75), (0.2, 0.35)  # bands brushed on the editors' canvases (the photo is
# letterboxed inside: the content's lower part, the reference's sky) ...
STROKE_COLUMNS = (0.3, 0.7)  # ... between these columns of the canvas: a stroke must start on the photo
MIN_MOVE = 0.5  # a painted pair moves the painted region at least this share of the way
PAIRS = [(SKY, (0.5, 0.2)), (WATER, (0.5, 0.9))]  # two pairs, sky to sky and water to water, and ...
KEPT = (0.45, 0.62)  # ... a keep point on the buildings
BOUNDARY_PX = 6  # the kept region's boundary: its pixels within this distance of the rest

sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
if not shutil.which(CHROMIUM):
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install -y chromium)", allow_module_level=True)
expect = sync_api.expect


@pytest.fixture(scope="module")
def served():
    """(url, state) of what `python app.py` serves (the screenshots show the real app)."""
    pipe, untrained = app.load_pipe()
    state = Demo(pipe)
    demo = serve(app.build_demo(pipe, untrained, state), css=app.CSS)
    yield demo.local_url, state
    demo.close()


@pytest.fixture(scope="module")
def url(served):
    return served[0]


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture()
def page(browser, url):
    """A fresh session (new browser context) with the example photos uploaded."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.goto(url)
    upload(page, 0, CONTENT)
    upload(page, 1, REFERENCE)
    yield page
    context.close()


def screenshot(page, name: str, tmp_path: Path) -> None:
    """The visible window, into docs/ when RECOLOR_UPDATE_SCREENSHOT is set."""
    path = (DOCS if os.environ.get("RECOLOR_UPDATE_SCREENSHOT") else tmp_path) / name
    page.screenshot(path=path)
    assert path.stat().st_size > 10_000


def upload(page, index: int, path: str) -> None:
    """Upload into the content (0) or reference (1) box and wait until the app has taken it in."""
    page.locator("input[type=file]").nth(index).set_input_files(path)
    expect(page.locator("#status")).to_contain_text("New photos", timeout=MESSAGE_TIMEOUT_MS)


def recolour(page) -> None:
    page.get_by_role("button", name="Re-colour", exact=True).click()
    expect(page.locator("#status")).to_contain_text("Rendered", timeout=RUN_TIMEOUT_MS)  # predicted or reused
    expect(page.locator("#result img")).to_have_count(2, timeout=MESSAGE_TIMEOUT_MS)  # before and after
    expect(page.locator("#downloads a[download='recoloured.png']")).to_be_visible()


def click_photo(page, view: str, x: float, y: float) -> None:
    """Click a click view at (x, y), fractions of the photo shown in it (letterboxed inside the view's frame)."""
    image = page.locator(f"#{view} img")
    image.scroll_into_view_if_needed()
    page.wait_for_timeout(VIEW_SWAP_MS)  # each click replaces both views' images: click the new one, once loaded
    page.wait_for_function(f"() => document.querySelector('#{view} img').complete && "
                           f"document.querySelector('#{view} img').naturalWidth > 0")
    natural = image.evaluate("img => [img.naturalWidth, img.naturalHeight]")
    box = image.bounding_box()
    scale = min(box["width"] / natural[0], box["height"] / natural[1])
    left, top = (box["width"] - natural[0] * scale) / 2, (box["height"] - natural[1] * scale) / 2
    image.click(position={"x": left + x * natural[0] * scale, "y": top + y * natural[1] * scale})


def download(page, selector: str) -> bytes:
    """The file behind a download link, fetched as the browser would (a deleted file fails the test)."""
    href = page.locator(selector).get_attribute("href")
    response = page.request.get(href)
    assert response.status == 200, (href, response.status)
    return response.body()


def result_lab(page) -> np.ndarray:
    """The full-resolution PNG of the result on screen, in CIELAB."""
    return rgb2lab(np.asarray(Image.open(io.BytesIO(download(page, "#downloads a[download='recoloured.png']")))
                              .convert("RGB")))


def paint(page, editor: str, rows: tuple[float, float]) -> None:
    """Brush horizontal strokes over a band of rows (fractions of the canvas's height) of a region editor. The brush
    draws only from a press on the photo, after a move over it (the editor tracks whether the pointer is on it)."""
    canvas = page.locator(f"#{editor} canvas").first
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    left, right = (box["x"] + column * box["width"] for column in STROKE_COLUMNS)
    for row in np.linspace(*rows, 8):
        y = box["y"] + row * box["height"]
        page.mouse.move(left - 5, y)
        page.mouse.move(left, y, steps=3)
        page.mouse.down()
        page.mouse.move(right, y, steps=12)
        page.mouse.up()


def keep_then_run(page, point: tuple[float, float], summary: str) -> np.ndarray:
    """Mark a keep point, wait for the clicks' ``summary`` and re-colour with the clicks -> the per-pixel ΔE00
    between the full-resolution result and the photo."""
    page.get_by_label("Keep").check()
    click_photo(page, "content_view", *point)
    expect(page.get_by_text(summary)).to_be_visible(timeout=MESSAGE_TIMEOUT_MS)
    page.get_by_role("button", name="Re-colour with clicks").click()
    expect(page.locator("#status")).to_contain_text("Rendered", timeout=RUN_TIMEOUT_MS)
    return deltaE_ciede2000(rgb2lab(np.asarray(Image.open(CONTENT).convert("RGB"))), result_lab(page))


def latest_edit(served):
    """The pixel-level edit of the server's latest prediction (the run this test just made)."""
    return next(reversed(served[1].encodings.items.values())).edit


def in_view(locator) -> bool:
    box = locator.bounding_box()
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= VIEWPORT["height"]


def test_result_beside_inputs_and_new_upload_clears_it(page, tmp_path):
    recolour(page)
    result, content = page.locator("#result"), page.locator("#content")
    assert result.bounding_box()["x"] > content.bounding_box()["x"] + content.bounding_box()["width"]  # beside
    for part in (result, page.locator("#strength"), page.locator("#examples"), page.locator("#downloads"),
                 page.get_by_role("button", name="Re-colour", exact=True)):
        assert in_view(part)  # no scrolling needed
    screenshot(page, "app_screenshot.png", tmp_path)

    upload(page, 0, OTHER_CONTENT)  # a new photo: the old result goes
    expect(page.locator("#result img")).to_have_count(0, timeout=MESSAGE_TIMEOUT_MS)
    expect(page.locator("#downloads a[download]")).to_have_count(0)
    page.locator("#strength input[type=number]").fill("0.5")
    page.locator("#strength input[type=number]").press("Enter")
    page.wait_for_timeout(2000)
    expect(page.locator("#result img")).to_have_count(0)  # the slider has nothing to re-render


def test_the_choice_for_parts_the_reference_lacks_is_a_new_prediction(page, served):
    """The radio under the photos: after a result, another choice re-colours afresh (the server makes a new
    prediction), and going back to the first reuses the first prediction."""
    cache = served[1].encodings.items
    recolour(page)
    first = set(cache)
    page.locator("#fallback").get_by_text("Stay as they are", exact=True).click()
    page.get_by_role("button", name="Re-colour", exact=True).click()
    for _ in range(RUN_TIMEOUT_MS // 100):  # the status says "Predicted" already: watch the server's cache
        if set(cache) - first:
            break
        page.wait_for_timeout(100)
    assert len(set(cache) - first) == 1  # a new prediction for the new choice
    expect(page.locator("#status")).not_to_contain_text("processing", timeout=RUN_TIMEOUT_MS)
    page.locator("#fallback").get_by_text("Take the reference's overall colours", exact=True).click()
    page.get_by_role("button", name="Re-colour", exact=True).click()
    expect(page.locator("#status")).to_contain_text("reused that prediction", timeout=RUN_TIMEOUT_MS)
    assert len(set(cache) - first) == 1


@pytest.mark.parametrize("name, content", [("notes.jpg", b"not a photo"), ("empty.png", b"")])
def test_corrupt_upload_names_the_problem_and_keeps_the_result(page, tmp_path, name, content):
    recolour(page)
    bad = tmp_path / name
    bad.write_bytes(content)
    page.locator("input[type=file]").nth(0).set_input_files(bad)
    expect(page.get_by_text(f"{name} is not a readable image").first).to_be_visible(timeout=MESSAGE_TIMEOUT_MS)
    page.get_by_role("button", name="Re-colour", exact=True).click()
    expect(page.get_by_text(f"content photo: {name} is not a readable image").first).to_be_visible(
        timeout=MESSAGE_TIMEOUT_MS)
    expect(page.locator("#status").get_by_text("Error", exact=True)).to_be_hidden()  # no badge over the status
    # the last good result stays, with its files: the download works and the photo box shows the photo again
    expect(page.locator("#result img")).to_have_count(2, timeout=MESSAGE_TIMEOUT_MS)
    expect(page.locator("#result img").first).to_be_visible()
    expect(page.locator("#downloads a[download='recoloured.png']")).to_be_visible()
    assert download(page, "#downloads a[download='recoloured.png']").startswith(b"\x89PNG")
    expect(page.locator("#content img")).to_have_count(1)
    for view in ("#result img", "#content img"):
        assert page.locator(view).first.evaluate("img => img.complete && img.naturalWidth > 0")


def test_a_keep_point_keeps_its_region_and_the_rest_is_recoloured(page):
    page.get_by_role("tab", name="Point and click").click()
    change = keep_then_run(page, WATER, "0 pair(s), 1 keep point(s).")
    rows, cols = np.mgrid[: change.shape[0], : change.shape[1]]
    disc = np.hypot(cols - WATER[0] * change.shape[1], rows - WATER[1] * change.shape[0]) <= DISC * np.hypot(
        *change.shape)
    assert change[disc].mean() < KEEP_LIMIT
    assert change[: round(REST_ROWS * change.shape[0])].mean() > REST_MIN


def test_a_painted_pair_moves_the_painted_region(page, served, tmp_path):
    """The painted region as the server received it (the session's RegionEdit) moves at least MIN_MOVE of the way
    to the painted reference region's mean colour."""
    page.get_by_role("tab", name="Paint regions").click()
    paint(page, "content_region", PAINTED_ROWS)
    paint(page, "reference_region", REFERENCE_ROWS)
    page.get_by_role("button", name="Re-colour with regions").click()
    expect(page.locator("#status")).to_contain_text("Rendered", timeout=RUN_TIMEOUT_MS)
    screenshot(page, "app_regions.png", tmp_path)
    content = rgb2lab(np.asarray(Image.open(CONTENT).convert("RGB")))
    edit = latest_edit(served)
    painted = np.asarray(Image.fromarray(edit.region).resize(content.shape[1::-1]))
    target = edit.reference_mean.flatten().cpu().numpy()
    assert painted.mean() > 0.05  # the brush reached the photo
    before = deltaE_ciede2000(content[painted].mean(0), target)
    after = deltaE_ciede2000(result_lab(page)[painted].mean(0), target)
    assert 1 - after / before >= MIN_MOVE


def test_the_lut_follows_the_slider_and_new_photos_clear_inspect(page):
    recolour(page)
    page.get_by_role("button", name="Export the look as a 3D LUT (.cube)").click()
    expect(page.locator("#lut")).to_contain_text("strength 1", timeout=RUN_TIMEOUT_MS)  # the box's label
    page.locator("#strength input[type=number]").fill("0.5")
    page.locator("#strength input[type=number]").press("Enter")
    expect(page.locator("#lut")).to_contain_text("strength 0.5", timeout=RUN_TIMEOUT_MS)
    assert page.locator("#lut a[download]").get_attribute("download") == "look_strength_0.5.cube"
    assert b"LUT_3D_SIZE" in download(page, "#lut a[download]")  # the LUT file of the new strength
    page.get_by_role("tab", name="Inspect").click()
    page.get_by_role("button", name="Show what the model matched").click()
    expect(page.locator("#inspect img")).to_have_count(4, timeout=RUN_TIMEOUT_MS)
    upload(page, 0, OTHER_CONTENT)
    expect(page.locator("#inspect img")).to_have_count(0, timeout=MESSAGE_TIMEOUT_MS)
    expect(page.locator("#lut")).to_be_hidden()  # no LUT of the old photos


def test_two_pairs_and_a_keep_point_leave_no_halo(page, served):
    """The kept region (as the server computed it) stays within KEEP_LIMIT of the photo on average, and so does its
    boundary: no halo where the re-coloured pairs meet it."""
    page.get_by_role("tab", name="Point and click").click()
    for number, (content_point, reference_point) in enumerate(PAIRS, start=1):  # each click's reply before the next
        click_photo(page, "content_view", *content_point)
        expect(page.get_by_text("Now click the matching point on the reference")).to_be_visible(
            timeout=MESSAGE_TIMEOUT_MS)
        click_photo(page, "reference_view", *reference_point)
        expect(page.get_by_text(f"{number} pair(s), 0 keep point(s).")).to_be_visible(timeout=MESSAGE_TIMEOUT_MS)
    change = keep_then_run(page, KEPT, "2 pair(s), 1 keep point(s).")
    keep = latest_edit(served).keep[0, 0].float().cpu().numpy()
    kept = np.asarray(Image.fromarray(keep).resize(change.shape[::-1], Image.BILINEAR)) > 0.5
    boundary = kept & ~binary_erosion(kept, iterations=BOUNDARY_PX)
    assert kept.mean() > 0.02 and boundary.any()  # the keep point kept a region
    assert change[kept].mean() < KEEP_LIMIT and change[boundary].mean() < KEEP_LIMIT
    assert change[~kept].mean() > REST_MIN  # the pairs re-coloured the rest


def test_clicks_reference_first_then_pair_then_inspect(page, tmp_path):
    page.get_by_role("tab", name="Point and click").click()
    click_photo(page, "reference_view", 0.5, 0.2)
    expect(page.get_by_text("Click on the photo first").first).to_be_visible(timeout=MESSAGE_TIMEOUT_MS)
    click_photo(page, "content_view", 0.05, 0.05)  # near the top-left corner, where a label would hide it
    expect(page.get_by_text("Now click the matching point on the reference")).to_be_visible(
        timeout=MESSAGE_TIMEOUT_MS)
    click_photo(page, "reference_view", 0.5, 0.2)
    expect(page.get_by_text("1 pair(s), 0 keep point(s).")).to_be_visible(timeout=MESSAGE_TIMEOUT_MS)
    page.get_by_role("button", name="Re-colour with clicks").click()
    expect(page.locator("#status")).to_contain_text("Rendered", timeout=RUN_TIMEOUT_MS)
    assert in_view(page.get_by_role("button", name="Re-colour with clicks"))
    screenshot(page, "app_clicks.png", tmp_path)

    page.get_by_role("tab", name="Inspect").click()
    page.get_by_role("button", name="Show what the model matched").click()
    expect(page.get_by_text("Coarse colour map")).to_be_visible(timeout=RUN_TIMEOUT_MS)
    screenshot(page, "app_inspect.png", tmp_path)


def test_stop_keeps_the_best_result_so_far(page, tmp_path):
    page.get_by_role("tab", name="Match the overall look").click()
    page.locator("#steps input[type=number]").fill(str(MAX_STEPS))
    page.locator("#steps input[type=number]").press("Enter")
    page.get_by_role("button", name="Match the look").click()
    expect(page.locator("#status")).to_contain_text(re.compile(f"Step [2-9] of {MAX_STEPS}"),
                                                    timeout=RUN_TIMEOUT_MS)
    expect(page.locator("#curve")).to_be_visible()
    page.get_by_role("button", name="Stop").click()
    expect(page.locator("#status")).to_contain_text("Stopped at step", timeout=RUN_TIMEOUT_MS)
    expect(page.locator("#result img")).to_have_count(2, timeout=MESSAGE_TIMEOUT_MS)
    expect(page.locator("#downloads a[download='recoloured.png']")).to_be_visible()
    screenshot(page, "app_optimise.png", tmp_path)
