"""Speed and memory of the synthetic registry generator.

Runs `simulate_registry` for 10k, 100k and 1M patients, each in a fresh process, and prints wall
time, patients per second and peak resident memory (RSS). Targets (issue: foundation): 100,000
patients in under 2 minutes; 1,000,000 patients with peak memory under 4 GB.

    .venv/bin/python benchmarks/simulate.py [--sizes 10000 100000 1000000] [--format parquet]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time

CHILD = """
import json, resource, sys, time
from mmrisk.registry import simulate_registry
n, fmt, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
t = time.perf_counter()
simulate_registry(out, n=n, seed=42, fmt=fmt)
wall = time.perf_counter() - t
rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"n": n, "seconds": wall, "peak_rss_mb": rss_kb / 1024}))
"""


def run(n: int, fmt: str) -> dict:
    with tempfile.TemporaryDirectory() as out:
        t = time.perf_counter()
        res = subprocess.run([sys.executable, "-c", CHILD, str(n), fmt, out], check=True,
                             capture_output=True, text=True)
        r = json.loads(res.stdout.strip().splitlines()[-1])
        r["process_seconds"] = time.perf_counter() - t
        return r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--format", default="parquet", choices=["parquet", "csv"])
    args = ap.parse_args()
    print(f"{'patients':>10} {'seconds':>9} {'patients/s':>11} {'peak RSS (MB)':>14}  target")
    for n in args.sizes:
        r = run(n, args.format)
        target = ""
        if n == 100_000:
            target = f"< 120 s: {'met' if r['seconds'] < 120 else 'MISSED'}"
        if n == 1_000_000:
            target = f"< 4096 MB: {'met' if r['peak_rss_mb'] < 4096 else 'MISSED'}"
        print(f"{n:>10,} {r['seconds']:>9.1f} {n / r['seconds']:>11,.0f} "
              f"{r['peak_rss_mb']:>14,.0f}  {target}", flush=True)


if __name__ == "__main__":
    main()
