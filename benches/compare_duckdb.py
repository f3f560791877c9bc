#!/usr/bin/env python3
"""Time marsad against the same job written for DuckDB, on the same generated permit register.

The job: read the `;`-separated Windows-1252 register, validate it against its schema, set bad
rows aside, harmonize sex, nationality and region, derive the five-year age group and tabulate by
sex x nationality x region x age group with counts, sums of `poids` and totals, written to Parquet.
marsad runs benches/permits_bench.toml; DuckDB runs benches/permits_duckdb.sql and COPYs the table
to Parquet. The two run alternately; the script prints the median wall time, the peak memory
(maximum resident set size from /usr/bin/time -v), the ratio marsad / DuckDB, whether the two
tables are equal cell for cell (DuckDB's against marsad's table as computed, in the restricted
folder), and whether every cell with 1 to 4 permits is empty in marsad's published table.

    python3 benches/compare_duckdb.py [--rows 10000000] [--runs 3] [--threads N]

DuckDB comes from PyPI, into $HOME/.cache/marsad/venv (created if missing). The register is
generated once per size and seed into $HOME/.cache/marsad/bench/ (about 70 bytes a row).
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.path.expanduser("~/.cache/marsad")


def venv_python(*packages):
    """The venv's python, with `packages` (pinned; DuckDB by default) installed from PyPI."""
    venv = os.environ.get("MARSAD_VENV", os.path.join(CACHE, "venv"))
    python = os.path.join(venv, "bin", "python")
    if not os.path.exists(python):
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    *(packages or ["duckdb==2.0.0"])], check=True)
    return python


def spread(runs):
    """Each run's wall time, as the README shows them."""
    return ", ".join(f"{r[0]:.2f}" for r in runs)


def write_duckdb_job(path, threads=0):
    """Write the DuckDB runner to `path`, limited to `threads` (0: all cores)."""
    job = DUCKDB_JOB
    if threads:
        job = job.replace("con = duckdb.connect()", f"con = duckdb.connect(config={{'threads': {threads}}})")
    with open(path, "w") as f:
        f.write(job)


def timed(cmd, env):
    """Run cmd under /usr/bin/time -v; return (wall seconds, peak RSS in MiB)."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as t:
        subprocess.run(["/usr/bin/time", "-v", "-o", t.name] + cmd, env=env, check=True,
                       stdout=subprocess.DEVNULL)
        text = t.read()
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)", text)
    seconds = int(wall.group(1) or 0) * 3600 + int(wall.group(2)) * 60 + float(wall.group(3))
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1))
    return seconds, rss_kb / 1024


def build_marsad():
    """Build marsad in release mode; the path of the binary. The build goes where cargo puts it
    (CARGO_TARGET_DIR, else the clone's target/), so that an existing build is reused."""
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    env = dict(os.environ, CARGO_TARGET_DIR=target)
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, env=env, check=True)
    return os.path.join(target, "release", "marsad")


def register(rows, seed):
    """The generated permit register of this size and seed, generated once."""
    bench = os.path.join(CACHE, "bench")
    os.makedirs(bench, exist_ok=True)
    data = os.path.join(bench, f"permits_{rows}_{seed}.csv")
    if not os.path.exists(data):
        subprocess.run([sys.executable, os.path.join(ROOT, "benches", "gen_permits.py"), "--rows", str(rows),
                        "--seed", str(seed), "--out", data + ".tmp"], check=True)
        os.replace(data + ".tmp", data)
    return data


DUCKDB_JOB = """
import duckdb, sys
sql = open(sys.argv[1]).read().replace("{{CSV}}", sys.argv[2]).replace("{{ROOT}}", sys.argv[3])
con = duckdb.connect()
con.execute(sql)
con.execute(f"COPY (SELECT * FROM cells ORDER BY ALL) TO '{sys.argv[4]}' (FORMAT parquet, COMPRESSION zstd)")
"""


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=10_000_000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=0, help="limit both engines to N threads (0: all cores)")
    p.add_argument("--pipeline", default=os.path.join(ROOT, "benches", "permits_bench.toml"),
                   help="marsad's side (permits_bench_open.toml: the same job without disclosure control; "
                        "permits_bench_lean.toml: the lean job, with --sql permits_duckdb_lean.sql)")
    p.add_argument("--sql", default=os.path.join(ROOT, "benches", "permits_duckdb.sql"),
                   help="DuckDB's side (permits_duckdb_plain.sql: the first, plainer script; "
                        "permits_duckdb_lean.sql: the lean job)")
    args = p.parse_args()

    python = venv_python()
    marsad = build_marsad()
    data = register(args.rows, args.seed)
    size = os.path.getsize(data)

    run_env = dict(os.environ)
    if args.threads:
        run_env.update(POLARS_MAX_THREADS=str(args.threads), RAYON_NUM_THREADS=str(args.threads))
    out = tempfile.mkdtemp(prefix="marsad-bench-")
    duck_parquet = os.path.join(out, "duckdb.parquet")
    job = os.path.join(out, "duckdb_job.py")
    write_duckdb_job(job, args.threads)

    # --force: every run publishes a new release, as the first does (same inputs are otherwise
    # "up to date" and skip publishing)
    marsad_cmd = [marsad, "-q", "run", args.pipeline,
                  "--input", f"titres={data}", "--output", os.path.join(out, "marsad"), "--force"]
    duck_cmd = [python, job, args.sql, data, ROOT, duck_parquet]
    m_runs, d_runs = [], []
    for i in range(args.runs):
        m_runs.append(timed(marsad_cmd, run_env))
        d_runs.append(timed(duck_cmd, run_env))
        print(f"run {i + 1}: marsad {m_runs[-1][0]:.2f} s {m_runs[-1][1]:.0f} MiB | "
              f"duckdb {d_runs[-1][0]:.2f} s {d_runs[-1][1]:.0f} MiB", flush=True)

    # marsad's table as computed (before disclosure control) is in the restricted folder beside
    # the published one; DuckDB's job computes, it does not protect.
    table = "titres_sexe_nationalite_region_age.parquet"
    check = subprocess.run([python, "-c", f"""
import duckdb
m = "{os.path.join(out, 'marsad.restricted', 'tables', table)}"
p = "{os.path.join(out, 'marsad', 'tables', table)}"
d = "{duck_parquet}"
con = duckdb.connect()
diff = con.execute(f'''SELECT count(*) FROM read_parquet('{{m}}') a FULL OUTER JOIN read_parquet('{{d}}') b
  USING (sex, nationality, region_code, groupe_age)
  WHERE a.titres IS NULL OR b.titres IS NULL OR a.titres <> b.titres
     OR abs(a.poids - b.poids) > 1e-6''').fetchone()[0]
n = con.execute(f"SELECT count(*) FROM read_parquet('{{m}}')").fetchone()[0]
small, leaks = con.execute(f'''SELECT count(*), count(*) FILTER (WHERE p.titres IS NOT NULL
    OR p.poids IS NOT NULL OR p.obs_status IS DISTINCT FROM 'Q' OR p.conf_status IS DISTINCT FROM 'C')
  FROM read_parquet('{{d}}') b LEFT JOIN read_parquet('{{p}}') p
  USING (sex, nationality, region_code, groupe_age)
  WHERE b.titres BETWEEN 1 AND 4''').fetchone()
print(n, diff, small, leaks)
"""], capture_output=True, text=True, check=True)
    cells, differ, small, leaks = map(int, check.stdout.split())

    m_wall = statistics.median(r[0] for r in m_runs)
    d_wall = statistics.median(r[0] for r in d_runs)
    print(f"\nrows {args.rows:,} ({size / 1e6:.0f} MB), threads {args.threads or os.cpu_count()}, runs {args.runs}")
    print(f"marsad: median {m_wall:.2f} s ({spread(m_runs)}), peak RSS {max(r[1] for r in m_runs):.0f} MiB")
    print(f"duckdb: median {d_wall:.2f} s ({spread(d_runs)}), peak RSS {max(r[1] for r in d_runs):.0f} MiB")
    print(f"ratio marsad/duckdb: {m_wall / d_wall:.2f}")
    print(f"tables equal cell for cell: {'yes' if differ == 0 else 'NO'} ({cells:,} cells, {differ} differ)")
    with open(args.pipeline, "rb") as f:
        protected = tomllib.load(f).get("disclosure", {}).get("method") != "none"
    if protected:
        print(f"cells with 1 to 4 permits hidden in the published table: {'yes' if leaks == 0 else 'NO'} "
              f"({small:,} cells, {leaks} published)")
    else:
        leaks = 0
        print("published without disclosure control (the same job as DuckDB's)")
    return 0 if differ == 0 and leaks == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
