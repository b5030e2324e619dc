"""The TRIPOD+AI report as a reader opens it: headless Chromium, the network blocked.

Two reports of the shared small job (tests/support/trained_job.py): the one ``train`` logs with
its parent run, and the one ``evaluate`` writes for the champion with its evaluation on a new
extract. Each is opened from a ``file:`` URL in Debian's Chromium (``/usr/bin/chromium``,
driven by ``playwright``; no ``playwright install``). Every request that is not ``file:`` (or
``data:``) is aborted and recorded: the page must make none (a probe request at the end shows
the guard catches one). Then: every ``img`` decoded (complete, natural width > 0), every inline
SVG drawn (non-empty bounding box), no console error and no page error, every TRIPOD+AI
checklist row present, covered rows linking to a part of the page that has content, and the
page prints to A4 PDF with nothing wider than the page (Chromium would shrink every page to
fit). Page 1 of that PDF, as Chromium's own PDF viewer draws it (the viewer's
own ``chrome:`` pages are let through, nothing else), is kept as a PNG (an A4 page with text) in
the test's tmp folder and, if ``MMRISK_SCREENSHOT_DIR`` is set, there too.

The checklist is checked against an independent list: the 27 numbered items of TRIPOD+AI
(Collins et al., BMJ 2024;385:e078378, Table 1) and their lettered sub-items, 52 rows; items
only authors can report must say "author to complete", and the items each run knows must not.

Without the browser the test is skipped locally and fails when ``CI`` is set (as
tests/tracking/test_ui_e2e.py).
"""

from __future__ import annotations

import io
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
# What a train run knows (data, outcome, predictors, sample size, analysis, Table 1, flow, the
# model, internal performance with out-of-fold subgroups and centre heterogeneity, scoring
# rules) and what an evaluation adds (how its predictions were made, development vs evaluation
# data and predictor distributions).
COVERED_BY_TRAIN = ("5a", "5b", "6a", "6b", "6c", "7", "8a", "9a", "9b", "10", "11", "12a",
                    "12b", "12c", "12d", "12e", "13", "15", "20a", "20b", "21", "22", "23a",
                    "23b", "27a")
COVERED_BY_EVALUATION = ("12g", "16", "20c")
# The text width of an A4 page with the report's print margins (210 - 2 x 14 mm) in CSS px.
A4_TEXT_WIDTH_PX = round((210 - 2 * 14) / 25.4 * 96)
# Only the authors can report these (title, abstract, introduction, assessors, fairness,
# ethics, open science, patient involvement, discussion).
AUTHORS_ONLY = ("1", "2", "3a", "3b", "3c", "4", "8b", "8c", "9c", "14", "17", "18a", "18b",
                "18c", "18d", "18e", "18f", "19", "25", "26", "27b", "27c")


def _require_chromium() -> None:
    if CHROMIUM.is_file():
        return
    reason = (f"{CHROMIUM} not found: install Debian's browser with `apt-get install chromium` "
              "(.ci/run does this on CI)")
    if os.environ.get("CI"):
        pytest.fail(f"CI is set but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def reports(request, tmp_path_factory) -> dict[str, Path]:
    """``report.html`` as ``train`` logged it with the parent run of the shared job, and as
    ``evaluate`` wrote it (the champion with its evaluation on a new extract).

    Without the browser there is nothing to open: empty at once, without training.
    """
    if not CHROMIUM.is_file():
        return {}
    job = request.getfixturevalue("trained_job")
    evaluated = request.getfixturevalue("evaluated_job")
    dst = tmp_path_factory.mktemp("browser-report")
    train = Path(mlflow.artifacts.download_artifacts(
        run_id=job["result"].parent_run_id, artifact_path="report.html", dst_path=str(dst),
        tracking_uri=job["tracking_uri"]))
    return {"train": train, "evaluation": evaluated["out"] / "report.html"}


def _keep(path: Path) -> None:
    extra = os.environ.get("MMRISK_SCREENSHOT_DIR")
    if extra:
        Path(extra).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(extra) / path.name)


class _Blocked:
    """Aborts every request that is not for a local file, and remembers it.

    ``internal`` also lets the browser's own pages through (its PDF viewer is a
    ``chrome-extension:`` page with ``chrome:`` resources).
    """

    def __init__(self, internal: bool = False) -> None:
        self.attempts: list[str] = []
        self.allowed = ("file:", "data:") + (("chrome:", "chrome-extension:") if internal
                                             else ())

    def __call__(self, route) -> None:
        url = route.request.url
        if url.startswith(self.allowed):
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
_OVERFLOW = """() => { const w = document.body.clientWidth;
    return Array.from(document.querySelectorAll('body *'))
        .filter(e => e.getBoundingClientRect().right > w + 1)
        .map(e => e.tagName + ': ' + (e.textContent || '').trim().slice(0, 40)); }"""
_CHECKLIST = """() => Array.from(document.querySelectorAll('table.checklist tbody tr')).map(tr => {
    const last = tr.cells[tr.cells.length - 1];
    const a = last.querySelector('a');
    const target = a ? document.getElementById(a.getAttribute('href').slice(1)) : null;
    return {id: tr.id, item: tr.cells[0].textContent.trim(), status: last.textContent.trim(),
            link: a ? a.getAttribute('href') : null,
            target: target ? target.textContent.trim().length : -1};
})"""


def _check_checklist(rows: list[dict], covered: tuple[str, ...]) -> None:
    assert [r["item"] for r in rows] == ITEMS
    assert [r["id"] for r in rows] == [f"item-{i}" for i in ITEMS]
    assert {int(re.match(r"\d+", i).group()) for i in ITEMS} == set(range(1, 28))
    status = {r["item"]: r["status"] for r in rows}
    for r in rows:
        assert r["status"].startswith(STATUSES), r
        if r["status"] == "author to complete":
            assert r["link"] is None, r
        else:  # a covered row links to a part of the page that has content
            assert r["link"] and r["target"] > 0, r
    assert [i for i in covered if status[i] == "author to complete"] == []
    assert [i for i in AUTHORS_ONLY if status[i] != "author to complete"] == []


def _first_run(mask) -> tuple[int, int] | None:
    """[start, stop) of the first run of True in a 1-d boolean array."""
    import numpy as np

    idx = np.flatnonzero(mask)
    if not len(idx):
        return None
    gaps = np.flatnonzero(np.diff(idx) > 1)
    return int(idx[0]), int(idx[gaps[0]] + 1 if len(gaps) else idx[-1] + 1)


def _page_box(png: bytes) -> tuple[int, int, int, int] | None:
    """(left, top, right, bottom) of the first page in a screenshot of the PDF viewer, when it
    is drawn and has text on it."""
    import numpy as np
    from PIL import Image

    im = np.asarray(Image.open(io.BytesIO(png)).convert("L")).astype(int)
    # The viewer's dark background is the colour of the left edge; the page is the rest.
    paper = np.abs(im - int(np.median(im[:, 0]))) > 24
    rows = _first_run(paper.mean(axis=1) > 0.5)
    if rows is None or rows[1] - rows[0] < 100:
        return None
    cols = _first_run(paper[rows[0]:rows[1]].mean(axis=0) > 0.5)
    if cols is None or cols[1] - cols[0] < 100:
        return None
    box = (cols[0], rows[0], cols[1], rows[1])
    page = im[box[1]:box[3], box[0]:box[2]]
    return box if (page < 128).mean() > 0.005 else None


def _pdf_page1(browser, pdf: Path, shot: Path) -> list[str]:
    """Page 1 of ``pdf`` as Chromium's own PDF viewer draws it, cropped to the page, as
    ``shot``; returns the requests to other hosts (aborted)."""
    from PIL import Image

    blocked = _Blocked(internal=True)
    context = browser.new_context(viewport={"width": 900, "height": 1300})
    context.route("**/*", blocked)
    page = context.new_page()
    page.goto(pdf.as_uri() + "#toolbar=0&navpanes=0&view=Fit", wait_until="load")
    box = png = previous = None
    for _ in range(40):  # the viewer draws and fits the page asynchronously: wait until stable
        png = page.screenshot()
        box = _page_box(png)
        if box is not None and box == previous:
            break
        previous = box
        page.wait_for_timeout(500)
    assert box is not None, "the PDF viewer drew no page 1 with text"
    Image.open(io.BytesIO(png)).crop(box).save(shot)
    context.close()
    return blocked.attempts


def _open(report: Path, tmp_path: Path, which: str) -> dict:
    """Load the page offline, read what a reader would see, print it to PDF, keep page 1."""
    from playwright.sync_api import sync_playwright

    blocked, errors = _Blocked(), []
    pdf, shot = tmp_path / f"report_{which}.pdf", tmp_path / f"report_{which}_page1.png"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            context = browser.new_context(viewport={"width": 1200, "height": 900})
            context.route("**/*", blocked)
            page = context.new_page()
            page.on("console", lambda m: errors.append(f"console: {m.text}")
                    if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
            page.goto(report.as_uri(), wait_until="load")
            seen = {"images": page.evaluate("() => document.images.length"),
                    "broken": page.evaluate(_BROKEN_IMAGES),
                    "svgs": page.evaluate("() => document.querySelectorAll('svg').length"),
                    "empty_svgs": page.evaluate(_EMPTY_SVGS),
                    "checklist": page.evaluate(_CHECKLIST)}
            pdf.write_bytes(page.pdf(format="A4", print_background=True))
            # Nothing wider than the printed page (else Chromium shrinks every page to fit).
            page.emulate_media(media="print")
            page.set_viewport_size({"width": A4_TEXT_WIDTH_PX, "height": 1000})
            seen["overflow"] = page.evaluate(_OVERFLOW)
            seen["errors"] = list(errors)
            # The guard itself: a request to another host is caught (and aborted).
            page.evaluate("() => fetch('https://example.org/x').catch(() => null)")
            context.close()
            seen["viewer_attempts"] = _pdf_page1(browser, pdf, shot)
        finally:
            browser.close()
    seen.update(attempts=blocked.attempts, pdf=pdf.read_bytes(), shot=shot)
    return seen


@pytest.mark.parametrize(("which", "covered", "min_images"), [
    ("train", COVERED_BY_TRAIN, 5),
    ("evaluation", COVERED_BY_TRAIN + COVERED_BY_EVALUATION, 8),
], ids=["train", "evaluation"])
def test_report_opens_offline_in_chromium(reports, which, covered, min_images, tmp_path):
    _require_chromium()
    from mmrisk.report import TRIPOD_AI_ITEMS

    assert [it.item for it in TRIPOD_AI_ITEMS] == ITEMS
    seen = _open(reports[which], tmp_path, which)
    assert seen["attempts"] == ["https://example.org/x"]  # nothing but the probe
    assert seen["viewer_attempts"] == []
    assert seen["errors"] == []
    assert seen["overflow"] == []
    assert seen["images"] >= min_images and seen["broken"] == []
    assert seen["svgs"] >= 1 and seen["empty_svgs"] == []
    _check_checklist(seen["checklist"], covered)
    pdf = seen["pdf"]
    assert pdf.startswith(b"%PDF-") and len(pdf) > 50_000
    # Page 1 as a PDF renderer draws it: an A4 page (height / width = sqrt 2) with text.
    from PIL import Image

    with Image.open(seen["shot"]) as im:
        width, height = im.size
    assert width > 500 and height / width == pytest.approx(2 ** 0.5, rel=0.02)
    _keep(seen["shot"])
