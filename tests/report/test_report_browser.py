"""The TRIPOD+AI report as a reader opens it: headless Chromium, the network blocked.

The report ``train`` logs with the parent run of the shared small job (tests/support/
trained_job.py) is opened from a ``file:`` URL in Debian's Chromium (``/usr/bin/chromium``,
driven by ``playwright``; no ``playwright install``). Every request that is not ``file:`` is
aborted and recorded: the page must make none. Then: every ``img`` decoded (complete, natural
width > 0), every inline SVG drawn (non-empty bounding box), no console error and no page error,
every TRIPOD+AI checklist row present with a link that lands on a part of the page, and the page
prints to PDF. A PNG of page 1 (print styles, A4 width) is kept in the test's tmp folder and, if
``MMRISK_SCREENSHOT_DIR`` is set, there too.

The checklist is checked against an independent list: the 27 numbered items of TRIPOD+AI
(Collins et al., BMJ 2024;385:e078378, Table 1) and their lettered sub-items, 52 rows.

Without the browser the test is skipped locally and fails when ``CI`` is set (as
tests/tracking/test_ui_e2e.py).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import mlflow
import pytest

CHROMIUM = Path("/usr/bin/chromium")
# TRIPOD+AI (Collins et al., BMJ 2024;385:e078378, Table 1): items 1-27 with their sub-items.
ITEMS = ("1 2 3a 3b 3c 4 5a 5b 6a 6b 6c 7 8a 8b 8c 9a 9b 9c 10 11 12a 12b 12c 12d 12e 12f 12g "
         "13 14 15 16 17 18a 18b 18c 18d 18e 18f 19 20a 20b 20c 21 22 23a 23b 24 25 26 27a 27b "
         "27c").split()
STATUSES = ("reported", "partly reported", "author to complete")
# A4 at 96 CSS px per inch: 210 mm x 297 mm.
A4_PX = (794, 1123)


def _require_chromium() -> None:
    if CHROMIUM.is_file():
        return
    reason = (f"{CHROMIUM} not found: install Debian's browser with `apt-get install chromium` "
              "(.ci/run does this on CI)")
    if os.environ.get("CI"):
        pytest.fail(f"CI is set but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def train_report(trained_job, tmp_path_factory) -> Path:
    """``report.html`` as ``train`` logged it with the parent run of the shared job."""
    dst = tmp_path_factory.mktemp("browser-report")
    return Path(mlflow.artifacts.download_artifacts(
        run_id=trained_job["result"].parent_run_id, artifact_path="report.html",
        dst_path=str(dst), tracking_uri=trained_job["tracking_uri"]))


def _keep(path: Path) -> None:
    extra = os.environ.get("MMRISK_SCREENSHOT_DIR")
    if extra:
        Path(extra).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(extra) / path.name)


class _Blocked:
    """Aborts every request that is not for a local file, and remembers it."""

    def __init__(self) -> None:
        self.attempts: list[str] = []

    def __call__(self, route) -> None:
        url = route.request.url
        if url.startswith(("file:", "data:")):
            route.continue_()
        else:
            self.attempts.append(url)
            route.abort()


_BROKEN_IMAGES = """() => Array.from(document.images)
    .filter(i => !(i.complete && i.naturalWidth > 0 && i.naturalHeight > 0))
    .map(i => i.alt || i.src.slice(0, 60))"""
_EMPTY_SVGS = """() => Array.from(document.querySelectorAll('svg')).filter(s => {
    const b = s.getBBox();
    return !(s.childElementCount > 0 && b.width > 0 && b.height > 0);
}).map(s => s.getAttribute('aria-label'))"""
_CHECKLIST = """() => Array.from(document.querySelectorAll('table.checklist tbody tr')).map(tr => {
    const last = tr.cells[tr.cells.length - 1];
    const a = last.querySelector('a');
    const target = a ? document.getElementById(a.getAttribute('href').slice(1)) : null;
    return {id: tr.id, item: tr.cells[0].textContent.trim(), status: last.textContent.trim(),
            link: a ? a.getAttribute('href') : null,
            target: target ? target.textContent.trim().length : -1};
})"""


def _check_checklist(rows: list[dict]) -> None:
    assert [r["item"] for r in rows] == ITEMS
    assert [r["id"] for r in rows] == [f"item-{i}" for i in ITEMS]
    assert {int(re.match(r"\d+", i).group()) for i in ITEMS} == set(range(1, 28))
    for r in rows:
        assert r["status"].startswith(STATUSES), r
        if r["status"] == "author to complete":
            assert r["link"] is None, r
        else:  # a covered row links to a part of the page that has content
            assert r["link"] and r["target"] > 0, r


def test_report_opens_offline_in_chromium(train_report, tmp_path):
    _require_chromium()
    from playwright.sync_api import sync_playwright

    from mmrisk.report import TRIPOD_AI_ITEMS

    assert [it.item for it in TRIPOD_AI_ITEMS] == ITEMS
    blocked, errors = _Blocked(), []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            context = browser.new_context(viewport={"width": 1200, "height": 900})
            context.route("**/*", blocked)
            page = context.new_page()
            page.on("console", lambda m: errors.append(f"console: {m.text}")
                    if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
            page.goto(train_report.as_uri(), wait_until="load")
            n_images = page.evaluate("() => document.images.length")
            broken = page.evaluate(_BROKEN_IMAGES)
            n_svgs = page.evaluate("() => document.querySelectorAll('svg').length")
            empty_svgs = page.evaluate(_EMPTY_SVGS)
            checklist = page.evaluate(_CHECKLIST)
            pdf = page.pdf(format="A4", print_background=True)
            page.emulate_media(media="print")
            page.set_viewport_size({"width": A4_PX[0], "height": A4_PX[1]})
            shot = tmp_path / "report_page1.png"
            page.screenshot(path=str(shot), full_page=False)
            page_errors = list(errors)
            # The guard itself: a request to another host is caught (and aborted).
            page.evaluate("() => fetch('https://example.org/x').catch(() => null)")
        finally:
            browser.close()
    assert blocked.attempts == ["https://example.org/x"]  # nothing but the probe
    assert page_errors == []
    assert n_images >= 5 and broken == []
    assert n_svgs >= 1 and empty_svgs == []
    _check_checklist(checklist)
    assert sum(r["status"] == "reported" for r in checklist) >= 20
    assert pdf.startswith(b"%PDF-") and len(pdf) > 50_000
    assert shot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n") and shot.stat().st_size > 10_000
    (tmp_path / "report.pdf").write_bytes(pdf)
    _keep(shot)
