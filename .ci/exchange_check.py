#!/usr/bin/env python3
"""Check marsad's published outputs with the tools partners use.

For every output folder given:
  * every resource in datapackage.json exists with the bytes and SHA-256 it declares;
  * every Parquet dataset (single file or Hive-partitioned folder) opens in DuckDB and in pyarrow
    with the declared number of rows, partition columns included;
  * every SDMX-CSV file passes sdmxthon's structural validation against the SDMX-ML structure
    written beside it (its observations with a value: see check_sdmx), and pysdmx reads it with
    that structure; the observations hidden by disclosure control (empty OBS_VALUE, OBS_STATUS Q,
    CONF_STATUS C or D) are checked against the structure's code lists here;
  * for the residence-permit table, DuckDB recomputes the table from the raw CSV
    (benches/permits_duckdb.sql) and it must equal the table as computed (in the restricted
    folder `<dir>.restricted/`), cell for cell; and every cell with 1 to 4 permits must be empty
    in the published table, flagged `Q` / `C`, with every published value equal to DuckDB's.

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


# Observations hidden by disclosure control: no value, OBS_STATUS Q (missing value; suppressed)
# and CONF_STATUS C (confidential) or D (secondary confidentiality), as in the SDMX global code
# lists CL_OBS_STATUS and CL_CONF_STATUS.
HIDDEN_OBS = "Q"
HIDDEN_CONF = {"C", "D"}


def check_hidden(out, f, schema, data):
    """The hidden observations, as pysdmx read them with the structure, checked by hand: every
    coded value is in its code list, the value is empty, the flags are Q and C or D; the others
    carry a value. Both status attributes must be attached to the observation."""
    for attribute in ("OBS_STATUS", "CONF_STATUS"):
        c = schema.components[attribute]
        check(c.attachment_level == "O" and c.enumeration is not None,
              f"{out.name}: {f.name}: {attribute} is an observation-level attribute with a code list")
    hidden = data[data["OBS_STATUS"] == HIDDEN_OBS]
    shown = data[data["OBS_STATUS"] != HIDDEN_OBS]
    check(bool(hidden["OBS_VALUE"].isna().all()), f"{out.name}: {f.name}: {len(hidden)} hidden observations have no OBS_VALUE")
    check(bool(hidden["CONF_STATUS"].isin(HIDDEN_CONF).all()), f"{out.name}: {f.name}: hidden observations are CONF_STATUS C or D")
    check(bool(shown["OBS_VALUE"].notna().all()) and not shown["CONF_STATUS"].isin(HIDDEN_CONF).any(),
          f"{out.name}: {f.name}: {len(shown)} other observations have a value and are not confidential")
    wrong = []
    for c in schema.components:
        if c.id in data.columns and c.enumeration is not None:
            codes = {item.id for item in c.enumeration.items}
            bad = set(hidden[c.id].dropna().astype(str)) - codes
            wrong += [f"{c.id}={b}" for b in sorted(bad)]
    check(not wrong, f"{out.name}: {f.name}: hidden observations use declared codes {wrong[:5]}")
    return len(hidden)


def check_sdmx(out):
    structure = out / "sdmx" / "structure.xml"
    files = sorted((out / "sdmx").glob("*.csv")) if (out / "sdmx").is_dir() else []
    if not files:
        return
    message = sdmxthon.read_sdmx(str(structure))
    check(not message.payload.get("errors"), f"{out.name}: sdmxthon reads structure.xml")
    flows = message.payload["Dataflows"]
    for f in files:
        rows = sum(1 for _ in open(f, encoding="utf-8")) - 1
        datasets = get_datasets(f, structure)
        check(len(datasets) == 1 and datasets[0].data.shape[0] == rows, f"{out.name}: pysdmx reads {f.name} with its structure ({rows} rows)")
        hidden = check_hidden(out, f, datasets[0].structure, datasets[0].data)
        # sdmxthon 2.6.11 accepts an observation without OBS_VALUE only when its OBS_STATUS is
        # "M" (missing value; data cannot exist): the test is hard-coded in
        # sdmxthon/parsers/data_validations.py (process_measure_errors), whatever the structure
        # says. We checked that neither a Mandatory OBS_STATUS attached to the observation, nor
        # a Double, String or absent text format for OBS_VALUE, makes it accept OBS_STATUS "Q"
        # (error SS02). So sdmxthon validates the observations that have a value, and the hidden
        # ones are checked above, with pysdmx and by hand.
        data = sdmxthon.read_sdmx(str(f)).payload
        for flow_id, dataset in data.items():
            dataset.structure = flows[flow_id].structure
            frame = dataset.data
            dataset.data = frame[frame["OBS_STATUS"] != HIDDEN_OBS].reset_index(drop=True)
            errors = [e for e in dataset.structural_validation() if e.get("ErrorLevel") != "WARNING"]
            check(not errors, f"{out.name}: sdmxthon validates {f.name} ({flow_id}, {len(dataset.data)} observations with a value, {hidden} hidden) {errors[:2] if errors else ''}")


def restricted(out):
    """The restricted sibling of an output folder: the tables as computed and the quarantine."""
    return out.parent / (out.name + ".restricted")


def check_permits(out):
    name = "titres_sexe_nationalite_region_age.parquet"
    published = out / "tables" / name
    if not published.is_file():
        return
    computed = restricted(out) / "tables" / name
    check(computed.is_file(), f"{out.name}: the permit table as computed is in {restricted(out).name}/")
    check(not (out / "quarantine").exists(), f"{out.name}: no quarantine in the publishable folder")
    if not computed.is_file():
        return
    manifest = json.loads((out / "manifest.json").read_text())
    raw = manifest["sources"][0]["files"][0]["path"]
    sql = (ROOT / "benches" / "permits_duckdb.sql").read_text()
    con = duckdb.connect()
    con.execute(sql.replace("{{CSV}}", str(Path(raw).resolve())).replace("{{ROOT}}", str(ROOT)))
    diff = con.execute(f"""
        SELECT count(*) FROM cells c FULL OUTER JOIN read_parquet('{computed}') m
            USING (sex, nationality, region_code, groupe_age)
        WHERE c.titres IS NULL OR m.titres IS NULL OR c.titres <> m.titres
           OR abs(c.poids - m.poids) > 1e-6""").fetchone()[0]
    n = con.execute("SELECT count(*) FROM cells").fetchone()[0]
    check(diff == 0 and n > 0, f"{out.name}: DuckDB recomputes the permit table (as computed) from the raw CSV: {n} cells, {diff} differ")
    # The published table: the same cells; every cell with 1 to 4 permits empty and flagged as
    # confidential; every value shown equal to DuckDB's.
    small, shown, leaks, wrong, missing = con.execute(f"""
        SELECT count(*) FILTER (WHERE c.titres BETWEEN 1 AND 4),
               count(*) FILTER (WHERE p.titres IS NOT NULL),
               count(*) FILTER (WHERE c.titres BETWEEN 1 AND 4 AND (p.titres IS NOT NULL
                   OR p.poids IS NOT NULL OR p.obs_status <> 'Q' OR p.conf_status <> 'C')),
               count(*) FILTER (WHERE p.titres IS NOT NULL AND (p.titres <> c.titres
                   OR abs(p.poids - c.poids) > 1e-6)),
               count(*) FILTER (WHERE c.titres IS NULL OR p.sex IS NULL)
        FROM cells c FULL OUTER JOIN read_parquet('{published}') p
            USING (sex, nationality, region_code, groupe_age)""").fetchone()
    check(small > 0 and leaks == 0, f"{out.name}: DuckDB finds {small} cells with 1 to 4 permits, {leaks} of them published")
    check(shown > 0 and wrong == 0 and missing == 0, f"{out.name}: {shown} published cells equal DuckDB's ({wrong} differ, {missing} cells missing)")


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
