"""End to end: a small train job into a fresh store, ``mmrisk ui`` over it, headless Chromium.

The experiment must be listed, its parent run must expand to one child run per model, and the
``cv_cindex_uno`` column must show, for every child, the value stored in the tracking store.

Needs Debian's Chromium at /usr/bin/chromium (``apt-get install chromium``; ``.ci/run`` installs
it), driven by the ``playwright`` package; no ``playwright install``. Without the browser the
test is skipped locally but fails when ``CI`` is set. A screenshot of the runs table is saved in
the test's tmp folder and, if ``MMRISK_SCREENSHOT_DIR`` is set, there too.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from servers import free_port, stop_process_group

CHROMIUM = Path("/usr/bin/chromium")
EXPERIMENT = "e2e-ui"
MODELS = ("staging", "cox")
METRIC = "cv_cindex_uno"
MMRISK = Path(sys.executable).with_name("mmrisk")  # the console script of this venv
SERVER_START_TIMEOUT = 240  # s; the UI imports MLflow in 2-3 processes (slow on a busy machine)

CONFIG = """
name: e2e
seed: 3
data: {{synthetic_dir: {data}, simulate_n: 300, simulate_seed: 11}}
cohort: {{landmark: lm_start, endpoint: pfs}}
baseline: staging
models:
  staging: {{kind: staging}}
  cox: {{kind: cox}}
validation: {{n_splits: 2, n_repeats: 1, n_bootstrap: 5}}
horizons: [12, 24]
explain: {{n_samples: 0}}
tracking: {{experiment: {experiment}, registered_model: e2e-ui-model}}
"""


def _require_chromium() -> None:
    if CHROMIUM.is_file():
        return
    reason = (f"{CHROMIUM} not found: install Debian's browser with `apt-get install chromium` "
              "(.ci/run does this on CI)")
    if os.environ.get("CI"):
        pytest.fail(f"CI is set but {reason}", pytrace=False)
    pytest.skip(reason)


def _cli() -> list[str]:
    if MMRISK.is_file():
        return [str(MMRISK)]
    return [sys.executable, "-c", "from mmrisk.cli import app; app(prog_name='mmrisk')"]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    # One uvicorn worker (instead of 4) and no job runner: fewer processes importing MLflow,
    # so the UI answers sooner; the pages below need neither. No usage telemetry from a test.
    env.update(MLFLOW_WORKERS="1", MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false",
               MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true")
    return env


def _wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"mmrisk ui exited with status {proc.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    pytest.fail(f"mmrisk ui did not answer {url} within {timeout:.0f} s:\n{log.read_text()}")


@pytest.fixture(scope="module")
def ui(tmp_path_factory):
    """A trained store and the MLflow UI over it: base URL, experiment id, parent and child runs.

    Without the browser there is nothing to drive: yields None at once (the test then skips, or
    fails on CI), without training or starting anything.
    """
    if not CHROMIUM.is_file():
        yield None
        return
    from mlflow.tracking import MlflowClient

    root = tmp_path_factory.mktemp("ui_e2e")
    cfg_path = root / "e2e.yaml"
    cfg_path.write_text(CONFIG.format(data=root / "data", experiment=EXPERIMENT))
    uri = f"sqlite:///{root}/store/mlflow.db"
    (root / "store").mkdir()
    # Create the store's schema here, once, so that the UI (started next) and the train job
    # (run while the UI boots, to save time) never both migrate an empty database.
    client = MlflowClient(tracking_uri=uri)
    client.search_experiments()

    port = free_port()
    ui_log = root / "ui.log"
    with ui_log.open("wb") as fh:
        proc = subprocess.Popen([*_cli(), "ui", "--port", str(port), "--tracking-uri", uri],
                                stdout=fh, stderr=subprocess.STDOUT, env=_env(), cwd=root,
                                start_new_session=True)
    try:
        # Imported only now: the UI's start (the slowest step) overlaps these imports too.
        from mmrisk.config import load_config
        from mmrisk.workflows import train

        result = train(load_config(cfg_path), tracking_uri=uri)
        base = f"http://127.0.0.1:{port}"
        _wait_http(f"{base}/health", proc, ui_log, SERVER_START_TIMEOUT)
        assert set(result.child_run_ids) == set(MODELS)
        yield {"base": base, "experiment_id": result.experiment_id,
               "parent": client.get_run(result.parent_run_id),
               "children": {name: client.get_run(run_id)
                            for name, run_id in result.child_run_ids.items()}}
    finally:
        stop_process_group(proc)


def _save_screenshot(page, tmp_path: Path) -> Path:
    shot = tmp_path / "mlflow_ui.png"
    page.screenshot(path=str(shot), full_page=True)
    extra = os.environ.get("MMRISK_SCREENSHOT_DIR")
    if extra:
        Path(extra).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(extra) / shot.name)
    return shot


def _browse(page, ui) -> None:
    from playwright.sync_api import expect

    base, exp_id = ui["base"], ui["experiment_id"]
    # The experiments list links to the experiment.
    page.goto(f"{base}/#/experiments")
    link = page.get_by_role("link", name=EXPERIMENT, exact=True)
    expect(link.first).to_be_visible(timeout=60_000)
    assert link.first.get_attribute("href").endswith(f"/experiments/{exp_id}")
    # MLflow 3 opens an experiment on its GenAI overview; the runs table is the "Model
    # training" workflow's page, reached directly.
    page.goto(f"{base}/#/experiments/{exp_id}/runs?workflowType=machine_learning")
    parent_name = ui["parent"].info.run_name
    parent_row = page.locator(f'[role=row][row-id="{ui["parent"].info.run_id}"]').first
    expect(parent_row).to_contain_text(parent_name, timeout=60_000)
    expect(page.get_by_text(EXPERIMENT, exact=True).first).to_be_visible()
    close = page.get_by_role("button", name="Close")  # the MLflow Assistant side panel
    if close.count():
        close.first.click()
    # Child runs are collapsed under the parent: expand it.
    parent_row.locator("button[data-component-id*=runnamecellrenderer]").click()
    for name in MODELS:
        expect(page.get_by_role("link", name=name, exact=True)).to_be_visible(timeout=30_000)
    # Metric columns are hidden by default (there are dozens): add cv_cindex_uno.
    page.get_by_role("button", name="Columns", exact=True).click()
    page.get_by_placeholder("Search columns").fill(METRIC)
    page.get_by_text(METRIC, exact=True).first.click()
    page.keyboard.press("Escape")
    header = page.locator(f'[role=columnheader][col-id="metrics.`{METRIC}`"]')
    expect(header.first).to_contain_text(METRIC, timeout=30_000)


def test_mlflow_ui_shows_experiment_child_runs_and_metric(ui, tmp_path):
    _require_chromium()
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            page = browser.new_page(viewport={"width": 1800, "height": 1000})
            try:
                _browse(page, ui)
                for name, run in ui["children"].items():
                    cell = page.locator(f'[role=row][row-id="{run.info.run_id}"] '
                                        f'[role=gridcell][col-id="metrics.`{METRIC}`"]')
                    expect(cell.first).to_have_text(re.compile(r"^\s*\d"), timeout=30_000)
                    shown = cell.first.inner_text().strip()
                    assert float(shown) == pytest.approx(run.data.metrics[METRIC], rel=1e-9), (
                        name, shown)
            except Exception:
                # Keep what the browser showed for the failure report, then re-raise.
                try:
                    _save_screenshot(page, tmp_path)
                except Exception:  # noqa: BLE001 - the original failure matters more
                    pass
                raise
            shot = _save_screenshot(page, tmp_path)
        finally:
            browser.close()
    assert shot.stat().st_size > 10_000
