"""``mmrisk serve`` under load, on 127.0.0.1 only: throughput, latency and the server's memory.

Usage::

    .venv/bin/python benchmarks/serve.py [--model URI --tracking-uri URI] [--kind gbsa]
        [--seconds 15] [--max-requests 400] [--clients 1 4 16] [--rows 1 100]

Without ``--model`` a small job is trained first (one model of ``--kind`` on a 600-patient
synthetic registry, in a temporary store) and its champion is served. The server is the real
command, ``mmrisk serve --model URI --port P`` (MLflow's scoring app behind mmrisk's checks,
one uvicorn worker), in its own process group, stopped at the end.

For each request size (rows per request, real cohort rows with their missing values sent as
JSON ``null``, ``dataframe_split``) and each number of concurrent clients (threads with one
keep-alive connection each), requests are sent until ``--max-requests`` have been answered or
``--seconds`` have passed, whichever comes first (a few warm-up requests are not counted). Every
answer must be HTTP 200 with one prediction per row. Reported per cell: requests, requests per
second, rows per second, p50 and p99 latency (ms). Memory: the peak of the summed resident set
of the server's process tree (sampled every 50 ms) and each process's own peak (``VmHWM``).
The clients run in this process, on the same machine: on a small machine they compete with the
server for CPU, so the figures are a lower bound.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil

HOST = "127.0.0.1"
CONFIG = """
name: serve-bench
seed: 1
data: {{synthetic_dir: {data}, simulate_n: 600, simulate_seed: 3}}
cohort: {{landmark: lm_start, endpoint: pfs}}
baseline: null
models:
  {kind}: {spec}
validation: {{n_splits: 2, n_repeats: 1, n_bootstrap: 0}}
horizons: [12, 24, 36]
explain: {{n_samples: 0}}
tracking: {{experiment: serve-bench, registered_model: serve-bench}}
"""
SPECS = {"cox": "{kind: cox}", "coxnet": "{kind: coxnet, params: {l1_ratio: 0.5}}",
         "gbsa": "{kind: gbsa, params: {n_estimators: 100, max_depth: 3}}",
         "rsf": "{kind: rsf, params: {n_estimators: 100, min_samples_leaf: 15}}"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _train_tiny(root: Path, kind: str) -> tuple[str, str, Path]:
    from mmrisk.config import load_config
    from mmrisk.workflows import train

    data = root / "data"
    cfg = root / "bench.yaml"
    cfg.write_text(CONFIG.format(data=data, kind=kind, spec=SPECS[kind]))
    uri = f"sqlite:///{root}/store/mlflow.db"
    res = train(load_config(cfg), tracking_uri=uri)
    return f"models:/{res.registered['name']}@{res.registered['alias']}", uri, data


def _rows(model: str, uri: str, data: Path | None, n: int) -> tuple[list[str], list[list]]:
    """``n`` real input rows (cycled) as JSON-ready lists: the model's columns, NaN as None."""
    from mmrisk.cohort import build_cohort
    from mmrisk.config import CohortSpec
    from mmrisk.registry import read_extract, simulate_registry
    from mmrisk.tracking import load_model

    loaded = load_model(model, uri)
    if data is None:
        data = Path(tempfile.mkdtemp(prefix="serve-bench-data-"))
        simulate_registry(data, n=600, seed=3)
    cohort = build_cohort(read_extract(data), CohortSpec(**loaded.meta["cohort"]))
    X = cohort.data[loaded.features]
    table = X.astype(object).where(X.notna(), None).to_numpy().tolist()
    return loaded.features, [table[i % len(table)] for i in range(n)]


class _Memory(threading.Thread):
    """Sample the summed RSS of a process tree every 50 ms; keep the peak."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.root, self.peak, self.stop, self.pids = psutil.Process(pid), 0, False, set()

    def _tree(self) -> list[psutil.Process]:
        try:
            return [self.root, *self.root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def run(self) -> None:
        while not self.stop:
            total = 0
            for p in self._tree():
                try:
                    total += p.memory_info().rss
                    self.pids.add(p.pid)
                except psutil.NoSuchProcess:
                    continue
            self.peak = max(self.peak, total)
            time.sleep(0.05)

    def hwm(self) -> dict[str, int]:
        """Each live process's own peak RSS (VmHWM, bytes), by a short name of its command."""
        peaks = {}
        for p in self._tree():
            try:
                cmd = " ".join(p.cmdline())
                name = ("mmrisk serve" if "mmrisk.cli" in cmd
                        else "uvicorn worker" if "uvicorn" in cmd or "multiprocessing" in cmd
                        else "model server" if "mmrisk.tracking._serving" in cmd
                        else cmd[:40])
                for line in Path(f"/proc/{p.pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peaks[f"{name} ({p.pid})"] = int(line.split()[1]) * 1024
            except (OSError, psutil.NoSuchProcess):
                continue
        return peaks


def _client(port: int, body: bytes, n_rows: int, stop_at: float, budget: list[int],
            lock: threading.Lock, latencies: list[float], errors: list[str]) -> None:
    conn = http.client.HTTPConnection(HOST, port, timeout=120)
    headers = {"Content-Type": "application/json"}
    try:
        while time.monotonic() < stop_at:
            with lock:
                if budget[0] <= 0:
                    return
                budget[0] -= 1
            t = time.perf_counter()
            conn.request("POST", "/invocations", body=body, headers=headers)
            resp = conn.getresponse()
            payload = resp.read()
            dt = time.perf_counter() - t
            if resp.status != 200 or len(json.loads(payload)["predictions"]) != n_rows:
                errors.append(f"HTTP {resp.status}: {payload[:200]!r}")
                return
            latencies.append(dt)
    finally:
        conn.close()


def _cell(port: int, body: bytes, n_rows: int, clients: int, seconds: float,
          max_requests: int) -> dict:
    latencies: list[float] = []
    errors: list[str] = []
    budget, lock = [max_requests], threading.Lock()
    start = time.monotonic()
    threads = [threading.Thread(target=_client, args=(port, body, n_rows, start + seconds,
                                                      budget, lock, latencies, errors))
               for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - start
    if errors:
        raise RuntimeError(errors[0])
    lat = np.asarray(latencies) * 1000
    return {"rows": n_rows, "clients": clients, "requests": len(lat), "seconds": wall,
            "req_per_s": len(lat) / wall, "rows_per_s": len(lat) * n_rows / wall,
            "p50_ms": float(np.percentile(lat, 50)), "p99_ms": float(np.percentile(lat, 99))}


def _wait(port: int, proc: subprocess.Popen, timeout: float = 300) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"mmrisk serve exited with {proc.returncode}")
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=2)
            conn.request("GET", "/ping")
            if conn.getresponse().status == 200:
                return time.monotonic() - start
        except OSError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"mmrisk serve did not answer within {timeout} s")


def main() -> None:
    """Train (unless ``--model``), serve, load, print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model")
    ap.add_argument("--tracking-uri")
    ap.add_argument("--data", type=Path, help="registry extract for the request rows")
    ap.add_argument("--kind", default="gbsa", choices=sorted(SPECS))
    ap.add_argument("--seconds", type=float, default=15.0, help="time bound per cell")
    ap.add_argument("--max-requests", type=int, default=400, help="request bound per cell")
    ap.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16])
    ap.add_argument("--rows", type=int, nargs="+", default=[1, 100])
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="serve-bench-") as tmp:
        root = Path(tmp)
        if args.model:
            model, uri, data = args.model, args.tracking_uri or "sqlite:///mlruns/mlflow.db", \
                args.data
        else:
            model, uri, data = _train_tiny(root, args.kind)
        columns, rows = _rows(model, uri, data, max(args.rows))
        port = _free_port()
        env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
        env.update(MMRISK_LOG_FILE=str(root / "libraries.log"), MLFLOW_DISABLE_TELEMETRY="true")
        cmd = [sys.executable, "-c", "from mmrisk.cli import app; app(prog_name='mmrisk')",
               "serve", "--model", model, "--port", str(port), "--tracking-uri", uri]
        log = open(root / "serve.log", "wb")  # noqa: SIM115 - closed in finally
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)
        memory = _Memory(proc.pid)
        memory.start()
        results = []
        try:
            ready = _wait(port, proc)
            for n in args.rows:
                body = json.dumps({"dataframe_split": {"columns": columns,
                                                       "data": rows[:n]}}).encode()
                _cell(port, body, n, 1, 5.0, 5)  # warm-up
                for c in args.clients:
                    results.append(_cell(port, body, n, c, args.seconds, args.max_requests))
            hwm = memory.hwm()
        finally:
            memory.stop = True
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=30)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(proc.pid, signal.SIGKILL)
            log.close()
        print(f"mmrisk serve --model {model} (one uvicorn worker); ready after {ready:.1f} s; "
              f"{os.cpu_count()} CPUs shared with the clients")
        print("| rows/request | clients | requests | req/s | rows/s | p50 ms | p99 ms |")
        print("|---:|---:|---:|---:|---:|---:|---:|")
        for r in results:
            print(f"| {r['rows']} | {r['clients']} | {r['requests']} | {r['req_per_s']:.1f} | "
                  f"{r['rows_per_s']:.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} |")
        print(f"peak memory of the server's process tree: {memory.peak / 2**20:.0f} MB summed "
              f"RSS (sampled); per-process peaks (VmHWM): "
              + ", ".join(f"{k} {v / 2**20:.0f} MB" for k, v in hwm.items()))
        if args.json:
            args.json.write_text(json.dumps({"model": model, "ready_seconds": ready,
                                             "cells": results, "peak_rss_bytes": memory.peak,
                                             "vmhwm_bytes": hwm}, indent=2))


if __name__ == "__main__":
    main()
