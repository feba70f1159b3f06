"""`mqlsim report` in a real browser: headless Debian Chromium driven by playwright.

No browser is downloaded: playwright launches ``/usr/bin/chromium`` (`.ci/run` installs it).
The tests skip only where that file is missing.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import BrowserContext, Page, sync_playwright

from mqlsim.cli import main
from mqlsim.render.html import KEY_METRICS, READOUT_METRICS
from tests.test_report import LOOSE, SMALL, STRICT

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium (apt-get install)"
)
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCENARIOS = [LOOSE, STRICT]
VIEWPORT = {"width": 1600, "height": 900}  # a projector


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """loose and strict over four thresholds; the slider starts at loose's own 80."""
    out = tmp_path_factory.mktemp("report")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MQLSIM_CACHE_DIR", str(out / "cache"))
        argv = ["report", *SCENARIOS, *SMALL, "--sweep", "policy.threshold=60:120:20"]
        assert main([*argv, "--out", str(out / "report.html")]) == 0
    return out / "report.html"


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    """A headless Chromium with a fresh profile, and no network chatter of its own."""
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport=VIEWPORT,
        )
        yield context
        context.close()


@pytest.fixture
def page(browser: BrowserContext, report: Path) -> Iterator[Page]:
    """The report opened from its file; fails the test on any script error."""
    tab = browser.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.goto(report.as_uri())
    yield tab
    tab.close()
    assert errors == []


def _check_point(page: Page, data: dict, index: int) -> dict[tuple[int, str], str]:
    """The page shows grid point ``index``: slider, numbers, intervals and rings."""
    assert page.input_value("#sweep-slider") == str(index)
    assert page.inner_text("#sweep-value") == data["labels"][index]
    shown = {}
    for column, scenario in enumerate(data["scenarios"]):
        for metric in KEY_METRICS:
            expected = scenario["points"][index][metric]
            shown[column, metric] = page.inner_text(f"#v-{column}-{metric}")
            assert shown[column, metric] == expected["text"], (index, column, metric)
            assert page.inner_text(f"#ci-{column}-{metric}") == expected["interval"]
    rings = page.locator("circle[data-point]")
    visible = [
        rings.nth(i).get_attribute("data-point")
        for i in range(rings.count())
        if rings.nth(i).is_visible()
    ]
    assert visible == [str(index)] * 2 * len(data["scenarios"])  # two panels per figure
    return shown


def test_slider_shows_each_grid_point(page: Page) -> None:
    data = json.loads(page.inner_text("#sweep-data"))
    assert data["labels"] == ["60", "80", "100", "120"]
    at_80 = _check_point(page, data, 1)  # where it starts: loose.toml's own threshold
    slider = page.locator("#sweep-slider")
    slider.focus()
    page.keyboard.press("ArrowRight")
    _check_point(page, data, 2)
    slider.fill("0")
    at_60 = _check_point(page, data, 0)
    slider.fill("3")
    _check_point(page, data, 3)
    assert at_80 != at_60  # the numbers really change from one threshold to the next


def test_screenshot_is_not_blank(page: Page, tmp_path: Path) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORT["width"]
    box = page.locator("#trade-off svg").first.bounding_box()
    assert box is not None and box["width"] > 600 and box["height"] > 300
    png = page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    assert len(png) > 200_000
    image = Image.open(io.BytesIO(png)).convert("RGB")
    assert image.width == VIEWPORT["width"] and image.height > 3 * VIEWPORT["height"]
    assert len(image.getcolors(maxcolors=1 << 20) or []) > 1000
    first_screen = Image.open(io.BytesIO(page.screenshot())).convert("RGB")
    assert len(first_screen.getcolors(maxcolors=1 << 20) or []) > 200


PROJECTOR = {"width": 1280, "height": 720}


def test_at_1280_by_720_what_the_slider_changes_stays_in_view(page: Page, tmp_path: Path) -> None:
    """Issue 17, point 9: the numbers the slider changes are in view of the slider wherever the
    page is scrolled, and the figures are readable (full width, text at least 11 px high)."""
    page.set_viewport_size(PROJECTOR)
    data = json.loads(page.inner_text("#sweep-data"))
    slider = page.locator("#sweep-slider")
    for where in ("#numbers", "#figures", "#assumptions"):
        page.locator(where).scroll_into_view_if_needed()
        slider.fill("2")
        for column, scenario in enumerate(data["scenarios"]):
            for metric in READOUT_METRICS:
                value = page.locator(f"#r-{column}-{metric}")
                assert value.inner_text() == scenario["points"][2][metric]["readout"]
                box = value.bounding_box()
                assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= 720, (
                    where,
                    metric,
                )
        slider_box = slider.bounding_box()
        assert slider_box is not None and 0 <= slider_box["y"] < 720
    page.locator("#figures").scroll_into_view_if_needed()
    widths = page.evaluate(
        "[...document.querySelectorAll('#figures svg, #trade-off svg')]"
        ".map(svg => svg.getBoundingClientRect().width)"
    )
    assert min(widths) >= 1100  # one figure per row, not two shrunk side by side (588 px)
    heights = page.evaluate(
        "[...document.querySelectorAll('#figures svg text')]"
        ".map(text => text.getBoundingClientRect().height).filter(height => height > 0)"
    )
    assert len(heights) > 100 and min(heights) >= 11
    shot = Image.open(io.BytesIO(page.screenshot(path=str(tmp_path / "projector.png"))))
    assert shot.size == (1280, 720)
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
