#!/usr/bin/env python3
"""Benchmark `marsad codes map country` on generated raw values (default: one million).

The values are real-world spellings of nationalities (names in French and English, ISO codes,
French adjectives, odd spacing and case) drawn with a fixed seed from tests/data/country_spellings.tsv,
plus 1% values that match nothing. The script builds marsad in release mode, runs the command
several times and prints the median wall time.

    python3 benches/codes_map.py [--values 1000000] [--runs 5]
"""
import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--values", type=int, default=1_000_000)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()

    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    env = dict(os.environ, CARGO_TARGET_DIR=target)
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, env=env, check=True)
    binary = os.path.join(target, "release", "marsad")

    spellings = []
    with open(os.path.join(ROOT, "tests/data/country_spellings.tsv"), encoding="utf-8") as f:
        next(f)
        for line in f:
            crosswalk, raw, _ = line.rstrip("\n").split("\t")
            if crosswalk == "iso3":
                spellings.append(raw)
    rng = random.Random(args.seed)
    noise = ["Atlantide", "Wakanda", "XYZ", "Narnia", "Sénégall"]
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", suffix=".txt", delete=False) as out:
        for _ in range(args.values):
            v = rng.choice(noise) if rng.random() < 0.01 else rng.choice(spellings)
            if rng.random() < 0.1:
                v = " " + v.upper() + " "
            out.write(v + "\n")
        path = out.name

    times = []
    try:
        for _ in range(args.runs):
            with open(path, "rb") as stdin:
                start = time.perf_counter()
                subprocess.run([binary, "-q", "codes", "map", "country"], stdin=stdin,
                               stdout=subprocess.DEVNULL, check=True)
                times.append(time.perf_counter() - start)
    finally:
        os.unlink(path)
    print(f"codes map country: {args.values} values, {args.runs} runs, "
          f"median {statistics.median(times):.3f} s, min {min(times):.3f} s, max {max(times):.3f} s")


if __name__ == "__main__":
    sys.exit(main())
