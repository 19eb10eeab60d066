"""The demo in a real browser: headless Chromium driven by Playwright (system Chromium, no browser download)."""

import os
import shutil
import socket
from pathlib import Path

import pytest

import app

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
# The README's screenshot is refreshed only on request, so a test run leaves the tree clean.
DOCS_SCREENSHOT = Path(__file__).resolve().parent.parent / "docs" / "app_screenshot.png"

sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
if not shutil.which(CHROMIUM):
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install -y chromium)", allow_module_level=True)


def test_upload_run_and_screenshot(tmp_path):
    screenshot = DOCS_SCREENSHOT if os.environ.get("RECOLOR_UPDATE_SCREENSHOT") else tmp_path / "app.png"
    pipe, untrained = app.load_pipe()  # what `python app.py` serves: the screenshot shows the real app
    demo = app.build_demo(pipe, untrained)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True)
    try:
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(demo.local_url)
            uploads = page.locator("input[type=file]")
            uploads.nth(0).set_input_files(app.EXAMPLES[0][0])
            uploads.nth(1).set_input_files(app.EXAMPLES[0][1])
            page.get_by_role("button", name="Re-colour", exact=True).click()
            sync_api.expect(page.get_by_text("Predicted in")).to_be_visible(timeout=60_000)
            result = page.locator("#result img")
            sync_api.expect(result.first).to_be_visible()
            assert result.count() == 2  # before and after
            sync_api.expect(page.locator("a[download='recoloured.png']")).to_be_visible()
            page.screenshot(path=screenshot, full_page=True)
            browser.close()
    finally:
        demo.close()
    assert screenshot.stat().st_size > 10_000
