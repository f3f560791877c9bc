"""An attacker's audit of published count tables, written apart from marsad's own (issue 13).

The attacker holds every public table of one source (the output folders given), knows how the
tables add up (each dimension's `_T`, years that add up to a table without years, nationalities
that add up to their region through the shipped country list) and that a count is never
negative; hidden cells may be zeros (marsad hides zeros where they help), so 0 is the only
bound. For every sensitive cell (`conf_status` C in the restricted tables, with its true value)
this solves, with HiGHS, how high and how low the cell can be, and fails if the largest is below
the threshold or the smallest above the value minus one.

    lp_audit.py --coarse nationality_au_region=nationality:au_region OUT_DIR [OUT_DIR ...]
"""

import argparse
import csv
import glob
import os
import sys
from collections import defaultdict

import highspy
import numpy as np
import pyarrow.dataset as ds

TOTAL = "_T"
STATUS = {"obs_status", "conf_status", "OBS_STATUS", "CONF_STATUS"}


def read_tables(folder):
    """{table name: list of rows} of the Parquet tables of an output folder (partitioned or not)."""
    out = {}
    for path in sorted(glob.glob(os.path.join(folder, "tables", "*"))):
        name = os.path.basename(path).removesuffix(".parquet")
        data = ds.dataset(path, format="parquet", partitioning="hive")
        out[name] = data.to_table().to_pylist()
    return out


def dimensions(rows, measure):
    names = rows[0].keys()
    return [n for n in names if n not in STATUS and n != measure and isinstance(rows[0][n], (str, int)) and n not in ("pct_female", "sex_ratio", "poids")]


def key_of(row, dims):
    return frozenset((d, str(row[d])) for d in dims if str(row[d]) != TOTAL)


def build(public, restricted, measure, coarse):
    """Cells keyed by what they count, with published value (None when hidden) and truth."""
    cells = {}  # key -> [published value or None, true value, sensitive]
    tables = {}
    for name, rows in public.items():
        if not rows or measure not in rows[0]:
            continue
        dims = dimensions(rows, measure)
        truth = {key_of(r, dims): r for r in restricted[name]}
        keys = []
        for r in rows:
            k = key_of(r, dims)
            t = truth[k]
            cell = cells.setdefault(k, [r[measure], t[measure], False])
            if r[measure] is None:
                cell[0] = None
            cell[2] |= t.get("conf_status") == "C"
            keys.append(k)
        tables[name] = (dims, keys)
    equations = set()
    for name, (dims, keys) in tables.items():
        codes = {d: sorted({dict(k).get(d, TOTAL) for k in keys}) for d in dims}
        for d in dims:
            parts = [c for c in codes[d] if c != TOTAL]
            for k in keys:
                if d in dict(k):
                    continue
                # k has d at its total (or d has no total: then k is a cell of another table)
                # a combination the table does not list has no records: it counts 0
                members = [k | {(d, c)} for c in parts if k | {(d, c)} in cells]
                equations.add((k, tuple(sorted(members, key=sorted))))
            if TOTAL not in codes[d]:
                # a variable without a total (years) adds up to the same cell without it
                others = {k - {(d, dict(k)[d])} for k in keys if d in dict(k)}
                for whole in others:
                    members = [whole | {(d, c)} for c in parts if whole | {(d, c)} in cells]
                    if whole in cells and members:
                        equations.add((whole, tuple(sorted(members, key=sorted))))
    for coarse_dim, (fine_dim, mapping) in coarse.items():
        groups = defaultdict(list)
        for fine, group in mapping.items():
            groups[group].append(fine)
        for k in list(cells):
            kd = dict(k)
            if coarse_dim not in kd:
                continue
            base = k - {(coarse_dim, kd[coarse_dim])}
            finer = [base | {(fine_dim, f)} for f in groups.get(kd[coarse_dim], [])]
            present = [f for f in finer if f in cells]
            # the finer cells are listed wherever the fine dimension's table covers `base`
            covered = any(fine_dim in dict(c) and (c - {(fine_dim, dict(c)[fine_dim])}) == base for c in cells)
            if covered:
                equations.add((k, tuple(sorted(present, key=sorted))))
    return cells, equations


def check_truth(cells, equations):
    bad = [e for e in equations if abs(cells[e[0]][1] - sum(cells[m][1] for m in e[1])) > 1e-9]
    if bad:
        sys.exit(f"lp_audit: {len(bad)} equations do not hold on the true values, e.g. {sorted(bad[0][0])}")


class Attack:
    def __init__(self, cells, equations):
        self.hidden = sorted((k for k, c in cells.items() if c[0] is None), key=sorted)
        self.index = {k: i for i, k in enumerate(self.hidden)}
        rows = []
        for whole, parts in equations:
            coef = defaultdict(float)
            rhs = 0.0
            for k, s in [(whole, 1.0)] + [(p, -1.0) for p in parts]:
                if k in self.index:
                    coef[self.index[k]] += s
                else:
                    rhs -= s * cells[k][0]
            coef = {i: a for i, a in coef.items() if a != 0}
            if coef:
                rows.append((coef, rhs))
            elif abs(rhs) > 1e-9:
                sys.exit("lp_audit: a published equation does not hold")
        self.rows = rows

    def solve(self, cost, upper, maximize):
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        n = len(self.hidden)
        inf = highspy.kHighsInf
        lp = highspy.HighsLp()
        lp.num_col_ = n
        lp.num_row_ = len(self.rows)
        lp.col_cost_ = np.array(cost, dtype=float)
        lp.col_lower_ = np.zeros(n)
        lp.col_upper_ = np.array(upper, dtype=float)
        lp.row_lower_ = np.array([r for _, r in self.rows], dtype=float)
        lp.row_upper_ = np.array([r for _, r in self.rows], dtype=float)
        lp.sense_ = highspy.ObjSense.kMaximize if maximize else highspy.ObjSense.kMinimize
        starts, index, value = [0], [], []
        cols = defaultdict(list)
        for r, (coef, _) in enumerate(self.rows):
            for i, a in coef.items():
                cols[i].append((r, a))
        for i in range(n):
            for r, a in cols[i]:
                index.append(r)
                value.append(a)
            starts.append(len(index))
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = np.array(starts)
        lp.a_matrix_.index_ = np.array(index)
        lp.a_matrix_.value_ = np.array(value, dtype=float)
        h.passModel(lp)
        h.run()
        status = h.getModelStatus()
        if status == highspy.HighsModelStatus.kUnbounded:
            return None
        if status != highspy.HighsModelStatus.kOptimal:
            sys.exit(f"lp_audit: HiGHS stopped with {h.modelStatusToString(status)}")
        return list(h.getSolution().col_value)


def audit(cells, equations, threshold):
    attack = Attack(cells, equations)
    n = len(attack.hidden)
    inf = highspy.kHighsInf
    need = {}
    for k, (published, value, sensitive) in cells.items():
        if not sensitive:
            continue
        if published is not None:
            sys.exit(f"lp_audit: sensitive cell {sorted(k)} is published")
        need[attack.index[k]] = (max(value - 1, 0), max(threshold, value))
    reached_high = {i: False for i in need}
    reached_low = {i: False for i in need}
    # One point pushing every pending cell up (capped at its requirement) proves many at once;
    # the cells it leaves short get their own program, whose optimum is the attacker's bound.
    for maximize, reached, side in [(True, reached_high, 1), (False, reached_low, 0)]:
        for _ in range(6):
            pending = [i for i in need if not reached[i]]
            if not pending:
                break
            cost = [0.0] * n
            upper = [inf] * n
            for i in pending:
                cost[i] = 1.0 if maximize else -1.0
                if maximize:
                    upper[i] = need[i][1]
            point = attack.solve(cost, upper, True)
            for i in pending:
                if point is not None and (point[i] >= need[i][1] - 1e-6 if maximize else point[i] <= need[i][0] + 1e-6):
                    reached[i] = True
            if len([i for i in need if not reached[i]]) == len(pending):
                break
        for i in [i for i in need if not reached[i]]:
            cost = [0.0] * n
            cost[i] = 1.0
            point = attack.solve(cost, [inf] * n, maximize)
            got = float("inf") if point is None else point[i]
            reached[i] = got >= need[i][1] - 1e-6 if maximize else got <= need[i][0] + 1e-6
    failed = [attack.hidden[i] for i in need if not (reached_high[i] and reached_low[i])]
    return len(need), n, len(attack.rows), failed


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("folders", nargs="+", help="public output folders of one source")
    parser.add_argument("--measure", default="titres")
    parser.add_argument("--threshold", type=float, default=5)
    parser.add_argument("--coarse", action="append", default=[], help="coarse=fine:column of schemas/codelists/country.csv")
    parser.add_argument("--countries", default="schemas/codelists/country.csv")
    args = parser.parse_args()
    with open(args.countries, newline="", encoding="utf-8") as f:
        countries = list(csv.DictReader(f))
    coarse = {}
    for spec in args.coarse:
        name, rest = spec.split("=")
        fine, column = rest.split(":")
        # the country list's convention: unknown and other stay as they are, a country outside
        # the classification (or stateless) is `_Z`, not applicable
        mapping = {c["alpha3"]: c[column] or "_Z" for c in countries}
        mapping.update({"_U": "_U", "_O": "_O", "XXA": mapping.get("XXA", "_Z")})
        coarse[name] = (fine, mapping)
    public, restricted = {}, {}
    for folder in args.folders:
        public.update(read_tables(folder))
        restricted.update(read_tables(folder + ".restricted"))
    cells, equations = build(public, restricted, args.measure, coarse)
    check_truth(cells, equations)
    sensitive, hidden, rows, failed = audit(cells, equations, args.threshold)
    print(f"lp_audit: {len(public)} tables, {len(cells)} cells, {hidden} hidden, {rows} equations, "
          f"{sensitive} sensitive cells; {len(failed)} not protected")
    for k in failed[:10]:
        print("  not protected:", dict(sorted(k)), "true value", cells[k][1])
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
