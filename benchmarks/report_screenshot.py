"""Page 1 of the TRIPOD+AI report as a PNG (the README picture), and the report as PDF.

By default it runs the ``make run`` job (``configs/default.yaml``: the synthetic registry in
``data/synthetic``, simulated on first use; five models, 5 x 2 CV, 200 bootstrap replicates)
into a temporary MLflow store (``--store DIR`` keeps it), so the local ``mlruns/`` is left
alone, and takes the ``report.html`` that ``train`` logged with the parent run. With ``--run``
it takes an existing train run's report instead. The report is opened offline in headless
Chromium (Debian's ``/usr/bin/chromium`` driven by ``playwright``; every request to another
host is aborted), printed to A4 PDF, and page 1 of that PDF is saved as Chromium's own PDF
viewer draws it, cropped to the page (a 64-colour palette keeps the PNG small).

Usage (from the repository root)::

    .venv/bin/python benchmarks/report_screenshot.py                 # docs/images/report_page1.png
    .venv/bin/python benchmarks/report_screenshot.py --config configs/default.yaml \\
        --out docs/images/report_page1.png --pdf out/report.pdf
    .venv/bin/python benchmarks/report_screenshot.py --run RUN_ID \\
        --tracking-uri sqlite:///mlruns/mlflow.db

Prints the wall time of the job and of the rendering, and the sizes of the files written.
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

CHROMIUM = "/usr/bin/chromium"


def train_report(config: Path, store: Path) -> tuple[str, str]:
    """Run the job of ``config`` into a fresh store; (report.html path, parent run id)."""
    import mlflow

    from mmrisk.config import load_config
    from mmrisk.workflows import train

    uri = f"sqlite:///{store}/mlflow.db"
    result = train(load_config(config), tracking_uri=uri)
    path = mlflow.artifacts.download_artifacts(
        run_id=result.parent_run_id, artifact_path="report.html", dst_path=str(store),
        tracking_uri=uri)
    return path, result.parent_run_id


def existing_report(run_id: str, tracking_uri: str | None, dst: Path) -> str:
    """``report.html`` of an existing train run (rebuilt if the run has none)."""
    from mmrisk.workflows import write_report

    return str(write_report(dst / "report.html", run_id=run_id, tracking_uri=tracking_uri))


def _first_run(mask: np.ndarray) -> tuple[int, int] | None:
    idx = np.flatnonzero(mask)
    if not len(idx):
        return None
    gaps = np.flatnonzero(np.diff(idx) > 1)
    return int(idx[0]), int(idx[gaps[0]] + 1 if len(gaps) else idx[-1] + 1)


def _page_box(png: bytes) -> tuple[int, int, int, int] | None:
    """The first page in a screenshot of the PDF viewer (its background is the colour of the
    left edge), once it is drawn with text on it."""
    im = np.asarray(Image.open(io.BytesIO(png)).convert("L")).astype(int)
    paper = np.abs(im - int(np.median(im[:, 0]))) > 24
    rows = _first_run(paper.mean(axis=1) > 0.5)
    if rows is None or rows[1] - rows[0] < 100:
        return None
    cols = _first_run(paper[rows[0]:rows[1]].mean(axis=0) > 0.5)
    if cols is None or cols[1] - cols[0] < 100:
        return None
    page = im[rows[0]:rows[1], cols[0]:cols[1]]
    return (cols[0], rows[0], cols[1], rows[1]) if (page < 128).mean() > 0.005 else None


def shoot(report: Path, png: Path, pdf: Path, width: int) -> None:
    """Print ``report`` to ``pdf`` offline; save page 1 as Chromium's PDF viewer draws it."""
    from playwright.sync_api import sync_playwright

    blocked: list[str] = []

    def guard(route) -> None:  # the viewer's own chrome: pages pass; no other host
        if route.request.url.startswith(("file:", "data:", "chrome:", "chrome-extension:")):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            context = browser.new_context()
            context.route("**/*", guard)
            page = context.new_page()
            page.goto(Path(report).resolve().as_uri(), wait_until="load")
            page.pdf(path=str(pdf), format="A4", print_background=True)
            viewer = browser.new_context(viewport={"width": width, "height": round(width * 1.45)})
            viewer.route("**/*", guard)
            page = viewer.new_page()
            page.goto(pdf.resolve().as_uri() + "#toolbar=0&navpanes=0&view=Fit",
                      wait_until="load")
            box = shot = previous = None
            for _ in range(60):  # the viewer draws and fits the page asynchronously
                shot = page.screenshot()
                box = _page_box(shot)
                if box is not None and box == previous:
                    break
                previous = box
                page.wait_for_timeout(500)
        finally:
            browser.close()
    if blocked:
        raise SystemExit(f"the report requested other hosts: {blocked}")
    if box is None:
        raise SystemExit("Chromium's PDF viewer drew no page 1")
    png.parent.mkdir(parents=True, exist_ok=True)
    # A palette of 64 greys and blues keeps the picture small; the page is text on white.
    Image.open(io.BytesIO(shot)).crop(box).convert("RGB").quantize(64).save(png, optimize=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, default=Path("configs/default.yaml"))
    ap.add_argument("--run", help="an existing train run instead of running the job")
    ap.add_argument("--tracking-uri", help="the store of --run")
    ap.add_argument("--out", type=Path, default=Path("docs/images/report_page1.png"))
    ap.add_argument("--pdf", type=Path, default=None,
                    help="keep the report printed to this PDF (default: not kept)")
    ap.add_argument("--width", type=int, default=900, help="width of the picture's viewer, px")
    ap.add_argument("--store", type=Path, default=None,
                    help="keep the job's MLflow store in this folder (default: temporary)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="mmrisk-report-shot-") as tmp:
        t0 = time.perf_counter()
        if args.run:
            report = existing_report(args.run, args.tracking_uri, Path(tmp))
            what = f"train run {args.run}"
        else:
            store = args.store or Path(tmp)
            store.mkdir(parents=True, exist_ok=True)
            report, run_id = train_report(args.config, store.resolve())
            what = f"{args.config} (train run {run_id}, store {args.store or 'temporary'})"
        t1 = time.perf_counter()
        pdf = args.pdf or Path(tmp) / "report.pdf"
        pdf.parent.mkdir(parents=True, exist_ok=True)
        shoot(Path(report), args.out, pdf, args.width)
        t2 = time.perf_counter()
        pdf_kb = pdf.stat().st_size / 1024
    print(f"report of {what}: job {t1 - t0:.1f} s, rendering {t2 - t1:.1f} s")
    print(f"{args.out}: {args.out.stat().st_size / 1024:.0f} KB; PDF {pdf_kb:.0f} KB"
          + (f" ({args.pdf})" if args.pdf else ""))


if __name__ == "__main__":
    main()
