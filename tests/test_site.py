"""The static leaderboard site in a real browser: Debian's headless Chromium, driven by Selenium
through Debian's chromedriver (.ci/run installs both; nothing is downloaded), loads the committed
site from disk, which is first checked to be exactly what `w2s-bench leaderboard build` writes.
The test sorts columns and reads the order back from the DOM, follows links to a suite and a task
page, checks that every image loaded and that the page logged no error, and saves screenshots
(into $W2S_BENCH_SCREENSHOTS when set, else the test's temporary folder)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from w2s_bench.leaderboard import site

REPO = Path(__file__).resolve().parents[1]
BOARD = REPO / "leaderboard"


def test_tier_statements_are_the_docs():
    page = (REPO / "docs" / "tiers.md").read_text()
    for suite, t in site.read_tiers().items():
        for field in ("can_show", "cannot_show"):
            assert f"| {t[field]} |" in page, f"tiers.toml {suite}.{field} is not in docs/tiers.md's tier table"


def test_prose_escapes_and_marks_code():
    assert site.prose("a `<b>` & c") == "a <code>&lt;b&gt;</code> &amp; c"


@pytest.fixture(scope="module")
def browser():
    found = {name: shutil.which(name) for name in ("chromium", "chromedriver")}
    if not all(found.values()):
        pytest.fail(
            f"{', '.join(n for n, p in found.items() if not p)} not found: install Debian's "
            f"`chromium` and `chromium-driver` (apt-get install chromium chromium-driver; .ci/run does)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = found["chromium"]
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,1400",
        "--allow-file-access-from-files",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(found["chromedriver"]), options=options)
    yield driver
    driver.quit()


def _column(driver, table_id: str, header: str) -> list[str]:
    """The data-sort keys of one column of a table, in DOM order."""
    return driver.execute_script(
        "const t = document.getElementById(arguments[0]);"
        "const col = Array.from(t.tHead.rows[0].cells).findIndex(th => th.textContent === arguments[1]);"
        "if (col < 0) throw new Error('no column ' + arguments[1]);"
        "return Array.from(t.tBodies[0].rows, r => r.cells[col].dataset.sort);",
        table_id,
        header,
    )


def _sort_by(driver, table_id: str, header: str) -> str:
    th = next(th for th in driver.find_elements("css selector", f"#{table_id} thead th") if th.text.startswith(header))
    th.click()
    return th.get_attribute("aria-sort")


def _numbers(keys: list[str]) -> list[float]:
    return [float(k) for k in keys if k != ""]


def _no_errors(driver) -> None:
    severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert not severe, severe
    broken = driver.execute_script(
        "return Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)"
    )
    assert not broken, f"images that did not load: {broken}"


def test_the_site_in_headless_chromium(browser, tmp_path):
    pages = site.pages(BOARD)
    on_disk = {p.name: p.read_text() for p in (BOARD / site.SITE_DIR).iterdir()}
    assert on_disk == pages, "leaderboard/site is not what `w2s-bench leaderboard build` writes; run it"
    shots = Path(os.environ.get("W2S_BENCH_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    d = browser

    d.get((BOARD / site.SITE_DIR / "index.html").as_uri())
    assert d.title == "Suites · w2s-bench leaderboard"
    suites = _column(d, "suites", "suite")
    assert suites[0] == "pocket.v4" and _column(d, "suites", "status")[0] == "default"  # the default first
    folded = d.find_element("css selector", "details#retired")
    assert folded.get_attribute("open") is None  # retired suites: folded, with the reason
    folded.find_element("tag name", "summary").click()
    retired = _column(d, "retired-suites", "suite")
    assert "pocket.v2" in retired and not set(retired) & set(suites)
    assert set(_column(d, "retired-suites", "status")) == {"retired"} and "retired: ranks noise" in folded.text
    assert len(suites) + len(retired) == len([p for p in pages if p.startswith("suite-")])
    assert _sort_by(d, "suites", "entries") == "descending"
    assert _numbers(_column(d, "suites", "entries")) == sorted(_numbers(_column(d, "suites", "entries")), reverse=True)
    assert _sort_by(d, "suites", "suite") == "ascending"
    assert _column(d, "suites", "suite") == sorted(suites)
    _no_errors(d)
    d.save_screenshot(str(shots / "site_index.png"))

    d.find_element("link text", "pocket.v3").click()
    assert d.current_url.endswith(site.suite_page("pocket.v3", "pocket_frozen"))
    ranked = _column(d, "methods", "method")
    assert _numbers(_column(d, "methods", "rank")) == sorted(_numbers(_column(d, "methods", "rank")))
    assert _sort_by(d, "methods", "mean PGR") == "descending"
    assert _column(d, "methods", "method") == ranked  # the board is ranked by mean PGR already
    assert _sort_by(d, "methods", "mean PGR") == "ascending"
    means = _numbers(_column(d, "methods", "mean PGR"))
    assert means == sorted(means) and means[0] < means[-1]
    assert _column(d, "methods", "method") == ranked[::-1] or len(set(means)) < len(means)
    assert _sort_by(d, "methods", "method") == "ascending"
    assert _column(d, "methods", "method") == sorted(ranked)
    for order in ("descending", "ascending"):  # naive has no paired difference with itself: last
        assert _sort_by(d, "methods", "vs naive") == order
        vs = _column(d, "methods", "vs naive (paired)")
        assert vs[-1] == "" and vs.count("") == 1
        assert _numbers(vs) == sorted(_numbers(vs), reverse=order == "descending")
    assert "What this tier can and cannot show" in d.page_source
    _no_errors(d)
    d.save_screenshot(str(shots / "site_suite.png"))

    d.find_element("link text", "rotten_tomatoes.v3").click()
    assert d.current_url.endswith(site.task_page("pocket.v3", "pocket_frozen", "rotten_tomatoes.v3"))
    assert d.find_element("tag name", "h1").text == "Task rotten_tomatoes.v3"
    assert "Pang and Lee 2005" in d.page_source and "licence" in d.page_source  # provenance
    weak = set(_column(d, "task-methods", "weak acc"))
    assert len(weak) == 1 and 0.5 < float(weak.pop()) < 1  # one weak model per seed set
    assert _sort_by(d, "task-methods", "student acc") == "descending"
    student = _numbers(_column(d, "task-methods", "student acc"))
    assert student == sorted(student, reverse=True) and len(student) == len(ranked)
    assert len(d.find_elements("css selector", "figure img")) == 2
    _no_errors(d)
    d.save_screenshot(str(shots / "site_task.png"))
    assert (shots / "site_task.png").read_bytes()[:4] == b"\x89PNG"
