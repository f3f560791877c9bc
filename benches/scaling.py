#!/usr/bin/env python3
"""Peak memory as the register grows, and wall time with 1 and 2 threads, for marsad alone.

Runs benches/permits_bench.toml on generated registers of each size (generated once into
$HOME/.cache/marsad/bench/ by gen_permits.py, like compare_duckdb.py) and prints one line per
(rows, threads): median wall time and peak resident memory from /usr/bin/time -v.

    python3 benches/scaling.py [--rows 2000000 10000000 30000000] [--threads 1 2] [--runs 1]
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare_duckdb import ROOT, build_marsad, register, timed  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, nargs="+", default=[2_000_000, 10_000_000, 30_000_000])
    p.add_argument("--threads", type=int, nargs="+", default=[2])
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()

    marsad = build_marsad()
    print(f"{'rows':>12} {'MB':>6} {'threads':>7} {'wall s':>7} {'peak MiB':>9}")
    for rows in args.rows:
        data = register(rows, args.seed)
        for threads in args.threads:
            run_env = dict(os.environ, POLARS_MAX_THREADS=str(threads), RAYON_NUM_THREADS=str(threads))
            runs = []
            for _ in range(args.runs):
                out = tempfile.mkdtemp(prefix="marsad-scaling-")
                cmd = [marsad, "-q", "run", os.path.join(ROOT, "benches", "permits_bench.toml"),
                       "--input", f"titres={data}", "--output", os.path.join(out, "marsad")]
                runs.append(timed(cmd, run_env))
                subprocess.run(["rm", "-rf", out], check=True)
            wall = statistics.median(r[0] for r in runs)
            peak = max(r[1] for r in runs)
            print(f"{rows:>12,} {os.path.getsize(data) / 1e6:>6.0f} {threads:>7} {wall:>7.2f} {peak:>9.0f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
