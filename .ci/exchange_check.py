#!/usr/bin/env python3
"""Check marsad's published outputs with the tools partners use.

For every output folder given:
  * every resource in datapackage.json exists with the bytes and SHA-256 it declares;
  * every Parquet dataset (single file or Hive-partitioned folder) opens in DuckDB and in pyarrow
    with the declared number of rows, partition columns included;
  * every SDMX-CSV file passes sdmxthon's structural validation against the SDMX-ML structure
    written beside it, and pysdmx reads it with that structure;
  * for the residence-permit table, DuckDB recomputes the table from the raw CSV
    (benches/permits_duckdb.sql) and it must equal marsad's, cell for cell.

    exchange_check.py OUTPUT_DIR [OUTPUT_DIR...]

Ends with a line "N passed, M failed" and exits 1 if anything failed.
"""
import hashlib
import json
import os
import sys
from pathlib import Path

import duckdb
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import sdmxthon
from pysdmx.io import get_datasets

ROOT = Path(__file__).resolve().parent.parent
results = {"passed": 0, "failed": 0}


def check(ok, what):
    results["passed" if ok else "failed"] += 1
    print(("ok    " if ok else "FAIL  ") + what)
    return ok


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def parquet_rows(dataset_path, partitioned):
    con = duckdb.connect()
    if partitioned:
        pattern = str(dataset_path / "**" / "*.parquet")
        duck = con.execute(f"SELECT count(*) FROM read_parquet('{pattern}', hive_partitioning = true)").fetchone()[0]
        cols = [d[0] for d in con.execute(f"SELECT * FROM read_parquet('{pattern}', hive_partitioning = true) LIMIT 0").description]
        table = pads.dataset(str(dataset_path), format="parquet", partitioning="hive").to_table()
    else:
        duck = con.execute("SELECT count(*) FROM read_parquet(?)", [str(dataset_path)]).fetchone()[0]
        cols = [d[0] for d in con.execute("SELECT * FROM read_parquet(?) LIMIT 0", [str(dataset_path)]).description]
        table = pq.read_table(str(dataset_path))
    return duck, table.num_rows, cols, table.column_names


def check_package(out):
    package = json.loads((out / "datapackage.json").read_text())
    check(bool(package.get("resources")), f"{out.name}: datapackage.json lists resources")
    for r in package["resources"]:
        paths = r["path"] if isinstance(r["path"], list) else [r["path"]]
        exist = all((out / p).is_file() for p in paths)
        check(exist, f"{out.name}: {r['name']} files exist")
        if not exist:
            continue
        check(sum((out / p).stat().st_size for p in paths) == r["bytes"], f"{out.name}: {r['name']} bytes")
        if "hash" in r:
            check(r["hash"] == "sha256:" + sha256(out / paths[0]), f"{out.name}: {r['name']} hash")
        if r["format"] == "parquet" and "schema" in r:
            partitioned = len(paths) > 1 or "=" in paths[0]
            dataset = out / (Path(paths[0]).parent.parent if partitioned else paths[0])
            duck, arrow, duck_cols, arrow_cols = parquet_rows(dataset, partitioned)
            check(duck == r["rows"], f"{out.name}: {r['name']} DuckDB reads {duck} rows (declared {r['rows']})")
            check(arrow == r["rows"], f"{out.name}: {r['name']} pyarrow reads {arrow} rows (declared {r['rows']})")
            fields = [f["name"] for f in r["schema"]["fields"]]
            check(sorted(duck_cols) == sorted(fields), f"{out.name}: {r['name']} DuckDB columns {duck_cols}")
            check(sorted(arrow_cols) == sorted(fields), f"{out.name}: {r['name']} pyarrow columns {arrow_cols}")


def check_sdmx(out):
    structure = out / "sdmx" / "structure.xml"
    files = sorted((out / "sdmx").glob("*.csv")) if (out / "sdmx").is_dir() else []
    if not files:
        return
    message = sdmxthon.read_sdmx(str(structure))
    check(not message.payload.get("errors"), f"{out.name}: sdmxthon reads structure.xml")
    flows = message.payload["Dataflows"]
    for f in files:
        data = sdmxthon.read_sdmx(str(f)).payload
        for flow_id, dataset in data.items():
            dataset.structure = flows[flow_id].structure
            errors = [e for e in dataset.structural_validation() if e.get("ErrorLevel") != "WARNING"]
            check(not errors, f"{out.name}: sdmxthon validates {f.name} ({flow_id}) {errors[:2] if errors else ''}")
        rows = sum(1 for _ in open(f, encoding="utf-8")) - 1
        datasets = get_datasets(f, structure)
        check(len(datasets) == 1 and datasets[0].data.shape[0] == rows, f"{out.name}: pysdmx reads {f.name} with its structure ({rows} rows)")


def check_permits(out):
    table = out / "tables" / "titres_sexe_nationalite_region_age.parquet"
    if not table.is_file():
        return
    manifest = json.loads((out / "manifest.json").read_text())
    raw = manifest["sources"][0]["files"][0]["path"]
    sql = (ROOT / "benches" / "permits_duckdb.sql").read_text()
    con = duckdb.connect()
    con.execute(sql.replace("{{CSV}}", str(Path(raw).resolve())).replace("{{ROOT}}", str(ROOT)))
    diff = con.execute(f"""
        SELECT count(*) FROM cells c FULL OUTER JOIN read_parquet('{table}') m
            USING (sex, nationality, region_code, groupe_age)
        WHERE c.titres IS NULL OR m.titres IS NULL OR c.titres <> m.titres
           OR abs(c.poids - m.poids) > 1e-6""").fetchone()[0]
    n = con.execute("SELECT count(*) FROM cells").fetchone()[0]
    check(diff == 0 and n > 0, f"{out.name}: DuckDB recomputes the permit table from the raw CSV: {n} cells, {diff} differ")


def main(dirs):
    for d in dirs:
        out = Path(d)
        check((out / "datapackage.json").is_file(), f"{out}: has datapackage.json")
        check_package(out)
        check_sdmx(out)
        check_permits(out)
    print(f"{results['passed']} passed, {results['failed']} failed")
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1:]))
