#!/usr/bin/env python3
"""Wall time, peak memory and scratch disk as the register grows and as threads are added.

Runs a marsad pipeline (by default benches/permits_bench_open.toml, the job of
compare_duckdb.py without disclosure control) on generated registers of each size (generated
once into $HOME/.cache/marsad/bench/ by gen_permits.py) with each thread count, and with
--duckdb the DuckDB script of the same job with the same thread count. Threads are set with
RAYON_NUM_THREADS and POLARS_MAX_THREADS for marsad and DuckDB's `threads` setting; with
--pin the processes are also held to that many cores with `taskset` (on a machine with fewer
cores than threads, more threads only shows what oversubscription costs). Prints one line per
(rows, threads): each run's wall time, the median, the peak resident memory (/usr/bin/time -v)
and the most disk the output's folders held during the run (sampled every 0.2 s: the key
buckets of `unique`/`primaryKey`, the quarantine's scratch file, the release being written).

    python3 benches/scaling.py [--rows 1000000 10000000 30000000] [--threads 1 2] [--runs 3]
                               [--pipeline benches/permits_bench.toml] [--duckdb] [--pin]
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare_duckdb import ROOT, build_marsad, register, spread, timed, venv_python, write_duckdb_job  # noqa: E402


def disk_used(path):
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_blocks * 512
            except FileNotFoundError:
                pass
    return total


def timed_with_disk(cmd, env, folder):
    """timed(cmd), and the most bytes `folder` held while cmd ran."""
    peak, done = [0], threading.Event()

    def sample():
        while not done.wait(0.2):
            peak[0] = max(peak[0], disk_used(folder))

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        wall, rss = timed(cmd, env)
    finally:
        done.set()
        sampler.join()
    return wall, rss, max(peak[0], disk_used(folder))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000, 30_000_000])
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--pipeline", default=os.path.join(ROOT, "benches", "permits_bench_open.toml"))
    p.add_argument("--duckdb", action="store_true", help="also time the DuckDB script (--sql)")
    p.add_argument("--sql", default=os.path.join(ROOT, "benches", "permits_duckdb.sql"))
    p.add_argument("--pin", action="store_true", help="hold each run to as many cores as threads (taskset)")
    args = p.parse_args()

    marsad = build_marsad()
    python = venv_python() if args.duckdb else None
    print(f"pipeline {os.path.relpath(args.pipeline, ROOT)}, {args.runs} runs each, cores {os.cpu_count()}")
    for rows in args.rows:
        data = register(rows, args.seed)
        for threads in args.threads:
            env = dict(os.environ, POLARS_MAX_THREADS=str(threads), RAYON_NUM_THREADS=str(threads),
                       RUST_LOG=os.environ.get("RUST_LOG", "error"))
            pin = ["taskset", "-c", f"0-{threads - 1}"] if args.pin else []
            m_runs, d_runs = [], []
            for _ in range(args.runs):
                out = tempfile.mkdtemp(prefix="marsad-scaling-")
                cmd = pin + [marsad, "-q", "run", args.pipeline, "--input", f"titres={data}",
                             "--output", os.path.join(out, "marsad")]
                m_runs.append(timed_with_disk(cmd, env, out))
                if args.duckdb:
                    job = os.path.join(out, "duckdb_job.py")
                    write_duckdb_job(job, threads)
                    d_runs.append(timed(pin + [python, job, args.sql, data, ROOT,
                                               os.path.join(out, "duckdb.parquet")], env))
                subprocess.run(["rm", "-rf", out], check=True)
            line = (f"{rows:>11,} rows {os.path.getsize(data) / 1e6:>6.0f} MB, {threads} threads: marsad median "
                    f"{statistics.median(r[0] for r in m_runs):.2f} s ({spread(m_runs)}), peak "
                    f"{max(r[1] for r in m_runs):.0f} MiB, disk {max(r[2] for r in m_runs) / 2**20:.0f} MiB")
            if d_runs:
                ratio = statistics.median(r[0] for r in m_runs) / statistics.median(r[0] for r in d_runs)
                line += (f" | duckdb median {statistics.median(r[0] for r in d_runs):.2f} s ({spread(d_runs)}), "
                         f"peak {max(r[1] for r in d_runs):.0f} MiB | ratio {ratio:.2f}")
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
