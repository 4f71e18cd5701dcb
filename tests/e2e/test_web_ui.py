"""The built React UI, served by the real Envoy in front of the real server, in headless Chromium."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, FileChooser, Page, expect

from tests.integration.banded import UNSURE_PHOTO, Banded
from tests.integration.gateway import UI_DIST, Envoy


@pytest.fixture
def page(browser: Browser, gateway: Envoy) -> Iterator[Page]:
    assert (UI_DIST / "index.html").exists(), "the UI is not built: `make ui`"
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.console_messages = []  # type: ignore[attr-defined]

    def remember(message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            page.console_messages.append(f"{message.type}: {message.text}")  # type: ignore[attr-defined]

    page.on("console", remember)
    page.on("pageerror", lambda exc: page.console_messages.append(f"pageerror: {exc}"))  # type: ignore[attr-defined]
    page.goto(gateway.url + "/")
    yield page
    context.close()

def analyze(page: Page, path: Path) -> None:
    page.get_by_test_id("file-input").set_input_files(str(path))
    page.get_by_test_id("analyze-button").click()

def test_upload_a_face_and_see_verdict_confidence_heatmap_and_boxes(page: Page, photos_dir: Path,
                                                                    artifacts: Path) -> None:
    expect(page.get_by_test_id("health-status")).to_contain_text(re.compile("ready", re.I), timeout=15_000)
    analyze(page, photos_dir / "multiface.jpg")
    verdict = page.get_by_test_id("verdict")
    expect(verdict).to_have_text(re.compile("Real|Deepfake"), timeout=60_000)
    expect(page.get_by_test_id("confidence-value")).to_have_text(re.compile(r"\d+(\.\d+)?\s*%"))
    expect(page.get_by_test_id("explanation")).to_contain_text("6 faces were analysed")
    expect(page.get_by_test_id("heatmap-image")).to_be_visible()
    expect(page.get_by_test_id("face-box")).to_have_count(6)
    slider = page.get_by_test_id("heatmap-opacity")
    slider.fill("20")
    # The server's history (shared with other tests): the newest entry is this analysis.
    expect(page.get_by_test_id("history-item").first).to_contain_text("multiface.jpg")
    page.screenshot(path=str(artifacts / "ui-result.png"), full_page=True)
    assert page.console_messages == []  # type: ignore[attr-defined]
    page.reload()  # the history now comes from the server's prediction log
    first = page.get_by_test_id("history-item").first
    expect(first).to_contain_text("multiface.jpg", timeout=15_000)
    first.click()
    expect(page.get_by_test_id("image-not-stored")).to_be_visible()

def test_non_image_upload_shows_an_error(page: Page, tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not an image")
    page.get_by_test_id("file-input").set_input_files(str(notes))
    expect(page.get_by_test_id("error-message")).to_contain_text(re.compile("JPG|PNG", re.I))
    fake_jpeg = tmp_path / "broken.jpg"
    fake_jpeg.write_bytes(b"\xff\xd8\xff\xe0 this is no image")
    analyze(page, fake_jpeg)
    expect(page.get_by_test_id("error-message")).to_contain_text("truncated or corrupt", timeout=30_000)
    expect(page.get_by_test_id("verdict")).to_have_count(0)

def test_phone_viewport_has_no_horizontal_scroll(browser: Browser, gateway: Envoy, photos_dir: Path,
                                                 artifacts: Path) -> None:
    context = browser.new_context(viewport={"width": 375, "height": 667}, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.goto(gateway.url + "/")
    analyze(page, photos_dir / "paul_rudd.jpg")
    expect(page.get_by_test_id("verdict")).to_have_text(re.compile("Real|Deepfake"), timeout=60_000)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375
    page.screenshot(path=str(artifacts / "ui-phone.png"), full_page=True)
    context.close()

def test_keyboard_only_user_can_open_the_file_picker(page: Page) -> None:
    """Tab to the "choose an image" button and press Enter: the browser's file chooser opens."""
    choosers: list[FileChooser] = []
    # Registered before the key press: Playwright intercepts file choosers only while someone listens.
    page.on("filechooser", lambda chooser: choosers.append(chooser))
    for _ in range(12):
        page.keyboard.press("Tab")
        inside_drop_zone = page.evaluate(
            "!!(document.activeElement && document.activeElement.closest('[data-testid=drop-zone]'))")
        if inside_drop_zone:
            page.keyboard.press("Enter")
            page.wait_for_timeout(500)
            assert len(choosers) == 1 and not choosers[0].is_multiple()
            return
    pytest.fail("the upload control is not reachable by keyboard")


def test_api_docs_render_under_their_content_security_policy(browser: Browser, gateway: Envoy) -> None:
    context = browser.new_context()
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.goto(gateway.url + "/docs")
    expect(page.locator(".swagger-ui .title")).to_contain_text("Deepfake Detection API", timeout=15_000)
    expect(page.get_by_text("/v1/predictions").first).to_be_visible()
    assert problems == [], problems
    context.close()


def test_a_server_with_api_keys_asks_for_one_and_accepts_it(browser: Browser, photos_dir: Path,
                                                            tmp_path: Path) -> None:
    from tests.integration.gateway import settings_for
    from tests.integration.test_security import KEYS, PREDICT_KEY, start

    server = start(tmp_path / "server", KEYS)
    try:
        with Envoy(settings_for(server.port), tmp_path) as envoy:
            context = browser.new_context()
            page = context.new_page()
            page.goto(envoy.url + "/")
            analyze(page, photos_dir / "paul_rudd.jpg")
            expect(page.get_by_test_id("error-message")).to_contain_text("requires an API key", timeout=30_000)
            expect(page.get_by_test_id("api-key-input")).to_be_focused()
            page.get_by_test_id("api-key-input").fill(PREDICT_KEY)
            page.get_by_test_id("api-key-save").click()
            expect(page.get_by_test_id("api-key-status")).to_contain_text(PREDICT_KEY[-4:])
            page.get_by_test_id("analyze-button").click()
            expect(page.get_by_test_id("verdict")).to_have_text(re.compile("Real|Deepfake"), timeout=60_000)
            assert PREDICT_KEY not in page.url
            context.close()
    finally:
        server.stop(1.0)


def test_uncertain_verdict_is_amber_worded_and_filterable(browser: Browser, banded: Banded, photos_dir: Path,
                                                          artifacts: Path) -> None:
    """A server whose model has an uncertain band: a photo inside it reads "Uncertain — needs a human look"
    in amber (not the red alarm) in the banner, the face box, the faces table and the history."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(banded.envoy.url + "/")
    expect(page.get_by_test_id("model-band")).to_contain_text("Uncertain (needs a human look)", timeout=15_000)
    analyze(page, photos_dir / UNSURE_PHOTO)
    expect(page.get_by_test_id("verdict")).to_have_text("Uncertain", timeout=60_000)
    banner = page.locator(".verdict")
    expect(banner).to_contain_text("Uncertain — needs a human look")
    expect(banner).to_have_class(re.compile(r"\bverdict--uncertain\b"))
    colours = banner.evaluate("e => [getComputedStyle(e).backgroundColor, getComputedStyle(e).color]")
    assert colours == ["rgb(255, 244, 219)", "rgb(138, 90, 0)"], colours  # amber, not the red of Deepfake
    expect(page.get_by_test_id("explanation")).to_contain_text("needs a human look")
    box = page.get_by_test_id("face-box")
    expect(box).to_have_count(1)
    expect(box).to_have_attribute("data-verdict", "Uncertain")
    expect(page.locator("table.faces")).to_contain_text("needs a human look")
    first = page.get_by_test_id("history-item").first
    expect(first).to_contain_text(UNSURE_PHOTO)
    expect(first).to_contain_text("needs a human look")
    page.screenshot(path=str(artifacts / "ui-uncertain.png"), full_page=True)

    page.get_by_test_id("history-filter").select_option("Uncertain")
    expect(page.get_by_test_id("history-item").first).to_contain_text(UNSURE_PHOTO, timeout=15_000)
    tags = page.get_by_test_id("history-item").get_by_test_id("verdict-tag")
    assert set(tags.all_inner_texts()) == {"Uncertain"}
    assert errors == [], errors
    context.close()
