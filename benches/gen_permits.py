#!/usr/bin/env python3
"""Synthetic residence-permit register (titres de séjour) generator for marsad.

Writes a register shaped like a Moroccan ministry export: Windows-1252,
';'-separated, CRLF line endings, decimal commas, free-text spellings of sex
and nationality.  About 1% of rows carry exactly one injected defect
(sexe_inconnu, annee_non_numerique, annee_impossible, nationalite_inconnue,
ligne_incomplete); --expected lists them with their physical line numbers.

Output is fully determined by --rows and --seed (random.Random(seed), fixed
chunking, no hash-order or clock dependence).  Rows are streamed in chunks, so
memory stays bounded for any row count.  Standard library only.

Example:
    gen_permits.py --rows 3000 --seed 2024 --out titres.csv --expected rejects.csv
"""

import argparse
import csv
import datetime
import itertools
import os
import random
import sys
import time
import unicodedata

HEADER = "id_titre;date_delivrance;sexe;annee_naissance;nationalite;region;motif;poids"
COLUMNS = HEADER.split(";")
CHUNK = 100_000          # rows per chunk; part of the determinism contract
BAD_RATE = 0.01          # share of rows with exactly one defect
QUOTED_RATE = 0.0005     # share of valid rows whose motif is written "quoted"

# (iso3, French name, weight, masculine adjective, feminine adjective)
COUNTRIES = [
    ("SEN", "Sénégal", 14.0, "sénégalais", "sénégalaise"),
    ("CIV", "Côte d'Ivoire", 11.0, "ivoirien", "ivoirienne"),
    ("GIN", "Guinée", 9.0, "guinéen", "guinéenne"),
    ("MLI", "Mali", 8.0, "malien", "malienne"),
    ("CMR", "Cameroun", 7.0, "camerounais", "camerounaise"),
    ("NGA", "Nigeria", 5.0, "nigérian", "nigériane"),
    ("DZA", "Algérie", 4.0, "algérien", "algérienne"),
    ("TUN", "Tunisie", 3.0, "tunisien", "tunisienne"),
    ("FRA", "France", 4.0, "français", "française"),
    ("ESP", "Espagne", 3.0, "espagnol", "espagnole"),
    ("SYR", "Syrie", 4.0, "syrien", "syrienne"),
    ("YEM", "Yémen", 2.0, "yéménite", "yéménite"),
    ("COD", "République démocratique du Congo", 3.0, "congolais", "congolaise"),
    ("CHN", "Chine", 2.5, "chinois", "chinoise"),
    ("PHL", "Philippines", 2.0, "philippin", "philippine"),
    ("IND", "Inde", 1.5, "indien", "indienne"),
    ("GAB", "Gabon", 2.0, "gabonais", "gabonaise"),
    ("BFA", "Burkina Faso", 2.0, "burkinabé", "burkinabé"),
    ("NER", "Niger", 2.0, "nigérien", "nigérienne"),
    ("TCD", "Tchad", 1.5, "tchadien", "tchadienne"),
    ("SDN", "Soudan", 2.0, "soudanais", "soudanaise"),
    ("EGY", "Égypte", 1.5, "égyptien", "égyptienne"),
    ("MRT", "Mauritanie", 2.0, "mauritanien", "mauritanienne"),
    ("LBY", "Libye", 1.0, "libyen", "libyenne"),
    ("ITA", "Italie", 1.5, "italien", "italienne"),
    ("BEL", "Belgique", 1.0, "belge", "belge"),
    ("DEU", "Allemagne", 1.0, "allemand", "allemande"),
    ("NLD", "Pays-Bas", 0.7, "néerlandais", "néerlandaise"),
    ("COM", "Comores", 1.0, "comorien", "comorienne"),
    ("DJI", "Djibouti", 0.8, "djiboutien", "djiboutienne"),
]

REGIONS = [
    ("Tanger-Tétouan-Al Hoceïma", 14.0),
    ("L'Oriental", 5.0),
    ("Fès-Meknès", 10.0),
    ("Rabat-Salé-Kénitra", 22.0),
    ("Béni Mellal-Khénifra", 2.0),
    ("Casablanca-Settat", 24.0),
    ("Marrakech-Safi", 7.0),
    ("Drâa-Tafilalet", 1.5),
    ("Souss-Massa", 10.0),
    ("Guelmim-Oued Noun", 1.5),
    ("Laâyoune-Sakia El Hamra", 2.0),
    ("Dakhla-Oued Ed-Dahab", 1.0),
]

MOTIFS = [("travail", 35.0), ("études", 20.0), ("famille", 25.0),
          ("régularisation", 8.0), ("réfugié", 4.0), ("autre", 8.0)]

GENDER_P = {"M": 0.545, "F": 0.45, "U": 0.005}   # U = empty sexe (valid, unknown)
SEXE_SPELLINGS = {
    "F": [("F", 50), ("Femme", 15), ("f", 8), ("féminin", 5), ("Féminin", 6),
          ("FEMME", 6), (" F", 2)],
    "M": [("M", 40), ("H", 15), ("Homme", 15), ("m", 8), ("Masculin", 6),
          ("masculin", 5), ("M ", 2), (" Homme ", 2)],
    "U": [("", 1)],
}

DEFECTS = ["sexe_inconnu", "annee_non_numerique", "annee_impossible",
           "nationalite_inconnue", "ligne_incomplete"]
# One block of 40 bad rows: 9 of each field defect, 4 incomplete lines; shuffled.
DEFECT_BLOCK = [d for d in DEFECTS[:4] for _ in range(9)] + ["ligne_incomplete"] * 4
BAD_SEXE = ["X", "9", "FM", "?", "3", "HF", "Q"]
BAD_NAT = ["Atlantide", "XYZ", "Wakanda", "Zzz", "Narnia", "Utopie", "QQQ"]
BAD_YEAR_OLD = [1850, 1890, 1880, 1899, 1801]
BAD_YEAR_FUTURE = [2031, 2035, 2042, 2056, 2099]
BAD_YEAR_FIXED = ["abc", "19xx", "inc"]
DIGIT_LOOKALIKE = {"0": "O", "1": "l", "5": "S", "8": "B", "6": "b", "2": "Z"}


def strip_accents(s):
    return "".join(ch for ch in unicodedata.normalize("NFD", s)
                   if unicodedata.category(ch) != "Mn")


def cum(weights):
    return list(itertools.accumulate(weights))


def nationality_forms(iso, name, adj_m, adj_f, gender):
    """(string, weight) spellings of one country for one gender; weights sum to 1."""
    forms = []
    if iso == "NGA":
        forms += [("Nigeria", 28.0), ("Nigéria", 12.0)]
    else:
        forms.append((name, 40.0))
    forms += [(name + " ", 1.0), (" " + name, 1.0), (iso, 25.0)]
    up_plain, up_acc = strip_accents(name).upper(), name.upper()
    if up_plain == up_acc:
        forms.append((up_plain, 8.0))
    else:
        forms += [(up_plain, 5.0), (up_acc, 3.0)]
    adj = {"M": adj_m, "F": adj_f}.get(gender)
    if adj is None and adj_m == adj_f:          # invariant adjective fits anyone
        adj = adj_m
    if adj is not None:
        cap = adj[0].upper() + adj[1:]
        forms += [(adj, 16.0), (cap, 5.0), (" " + adj, 1.0), (cap + " ", 1.0)]
    total = sum(w for _, w in forms)
    return [(s, w / total) for s, w in forms]


def build_tables():
    t = {}
    cw_total = sum(c[2] for c in COUNTRIES)
    # Joint table of (sexe, nationalite) so one weighted draw gives both,
    # with the nationality adjective agreeing with the sex.
    sn, snw = [], []
    for g, pg in GENDER_P.items():
        spell = SEXE_SPELLINGS[g]
        sw_total = sum(w for _, w in spell)
        for s, sw in spell:
            for iso, name, cw, am, af in COUNTRIES:
                for nat, fw in nationality_forms(iso, name, am, af, g):
                    sn.append((s, nat))
                    snw.append(pg * (sw / sw_total) * (cw / cw_total) * fw)
    t["sn"], t["sn_cum"] = sn, cum(snw)
    # Gender-neutral nationality forms, used when sexe is an unknown code.
    neu, neuw = [], []
    for iso, name, cw, am, af in COUNTRIES:
        for nat, fw in nationality_forms(iso, name, am, af, "U"):
            neu.append(nat)
            neuw.append((cw / cw_total) * fw)
    t["neutral"], t["neutral_cum"] = neu, cum(neuw)
    # Issue dates 2023-01-01 .. 2024-12-31; weekdays dominate.
    dates, dw = [], []
    d, end = datetime.date(2023, 1, 1), datetime.date(2024, 12, 31)
    while d <= end:
        dates.append((d.strftime("%d/%m/%Y"), d.year))
        dw.append({5: 0.15, 6: 0.03}.get(d.weekday(), 1.0))
        d += datetime.timedelta(days=1)
    t["dates"], t["dates_cum"] = dates, cum(dw)
    # Age at issue (issue year - birth year), 0..90, skewed to 18-45.
    ages = list(range(91))
    aw = []
    for a in ages:
        if a < 18:
            w = 1.2
        elif a < 25:
            w = 4.0
        elif a <= 35:
            w = 6.0
        elif a <= 45:
            w = 4.0
        elif a <= 60:
            w = 1.5 - (a - 46) * 0.05
        else:
            w = max(0.05, 0.8 - (a - 61) * 0.026)
        aw.append(w)
    t["ages"], t["ages_cum"] = ages, cum(aw)
    t["regions"], t["regions_cum"] = [r for r, _ in REGIONS], cum(w for _, w in REGIONS)
    t["motifs"], t["motifs_cum"] = [m for m, _ in MOTIFS], cum(w for _, w in MOTIFS)
    # Weights 0,50 .. 3,00, peaked near 1,10.
    cents = range(50, 301)
    t["poids"] = [f"{c // 100},{c % 100:02d}" for c in cents]
    t["poids_cum"] = cum(1.0 / (1.0 + abs(c - 110) / 30.0) for c in cents)
    return t


def mangle_year(rng, year):
    s = str(year)
    pos = [i for i, ch in enumerate(s) if ch in DIGIT_LOOKALIKE]
    if pos and rng.random() < 0.8:
        i = rng.choice(pos)
        return s[:i] + DIGIT_LOOKALIKE[s[i]] + s[i + 1:]
    return rng.choice(BAD_YEAR_FIXED)


def breaks_its_rule(column, value):
    """Whether `value` breaks the schema's rule for `column` (schemas/titres_sejour.json)."""
    if column == "date_delivrance":
        try:
            return datetime.datetime.strptime(value, "%d/%m/%Y").year < 2000
        except ValueError:
            return True
    if column == "annee_naissance":
        return not (value.isdigit() and 1900 <= int(value) <= 2026)
    if column == "region":
        return value not in {r for r, _ in REGIONS}
    if column == "motif":
        return value.strip('"') not in {m for m, _ in MOTIFS} and value != ""
    if column == "poids":
        try:
            return float(value.replace(",", ".")) < 0
        except ValueError:
            return True
    return False


def shifted_cells(fields):
    """The cells of a line missing one field that, read in the columns they fell into,
    break those columns' rules: a validator checks them too (the last column is absent)."""
    names = HEADER.split(";")
    return [(c, v) for c, v in zip(names, fields) if breaks_its_rule(c, v)]


def generate(rows, seed, out_path, expected_path):
    rng = random.Random(seed)
    T = build_tables()
    choices = rng.choices
    counts = {d: 0 for d in DEFECTS}
    n_quoted = 0
    defect_queue = []

    def next_defect():
        if not defect_queue:
            block = DEFECT_BLOCK[:]
            rng.shuffle(block)
            defect_queue.extend(reversed(block))
        return defect_queue.pop()

    exp_f = exp_w = None
    if expected_path:
        exp_f = open(expected_path, "w", encoding="utf-8", newline="")
        exp_w = csv.writer(exp_f, lineterminator="\n")
        exp_w.writerow(["line", "id_titre", "defect", "column", "raw_value"])

    with open(out_path, "wb") as out:
        out.write((HEADER + "\r\n").encode("cp1252"))
        for start in range(0, rows, CHUNK):
            n = min(CHUNK, rows - start)
            dates = choices(T["dates"], cum_weights=T["dates_cum"], k=n)
            ages = choices(T["ages"], cum_weights=T["ages_cum"], k=n)
            sn = choices(T["sn"], cum_weights=T["sn_cum"], k=n)
            regs = choices(T["regions"], cum_weights=T["regions_cum"], k=n)
            mots = choices(T["motifs"], cum_weights=T["motifs_cum"], k=n)
            poids = choices(T["poids"], cum_weights=T["poids_cum"], k=n)
            # Children under 16 come through family reunification.
            lines = [
                f"TS{k:08d};{ds};{s};{dy - a};{nt};{r};{'famille' if a < 16 else m};{p}"
                for k, (ds, dy), a, (s, nt), r, m, p
                in zip(range(start + 1, start + n + 1), dates, ages, sn, regs, mots, poids)
            ]
            # Exact global counts (rounded), distributed chunk by chunk.
            end = start + n
            kb = int(end * BAD_RATE + 0.5) - int(start * BAD_RATE + 0.5)
            kq = int(end * QUOTED_RATE + 0.5) - int(start * QUOTED_RATE + 0.5)
            picked = rng.sample(range(n), kb + kq)
            for j in sorted(picked[kb:]):
                f = lines[j].split(";")
                f[6] = f'"{f[6]}"'
                lines[j] = ";".join(f)
                n_quoted += 1
            rejects = []
            for j in sorted(picked[:kb]):
                f = lines[j].split(";")
                defect = next_defect()
                column = ""
                if defect == "sexe_inconnu":
                    column, f[2] = "sexe", rng.choice(BAD_SEXE)
                    f[4] = choices(T["neutral"], cum_weights=T["neutral_cum"])[0]
                    raw = f[2]
                elif defect == "annee_non_numerique":
                    column, f[3] = "annee_naissance", mangle_year(rng, int(f[3]))
                    raw = f[3]
                elif defect == "annee_impossible":
                    pool = BAD_YEAR_OLD if rng.random() < 0.5 else BAD_YEAR_FUTURE
                    column, f[3] = "annee_naissance", str(rng.choice(pool))
                    raw = f[3]
                elif defect == "nationalite_inconnue":
                    column, f[4] = "nationalite", rng.choice(BAD_NAT)
                    raw = f[4]
                else:  # ligne_incomplete: drop one field other than id_titre
                    del f[rng.randrange(1, 8)]
                lines[j] = ";".join(f)
                if defect == "ligne_incomplete":
                    raw = lines[j]
                counts[defect] += 1
                rejects.append([start + j + 2, f[0], defect, column, raw])
                if defect == "ligne_incomplete":
                    rejects.extend([start + j + 2, f[0], "cellule_decalee", c, v]
                                   for c, v in shifted_cells(f))
            out.write(("\r\n".join(lines) + "\r\n").encode("cp1252"))
            if exp_w:
                exp_w.writerows(rejects)
    if exp_f:
        exp_f.close()
    return counts, n_quoted


def main(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Deterministic for a given --rows/--seed. Prints a one-line summary to stderr.")
    ap.add_argument("--rows", type=int, required=True, help="number of data rows (excluding header)")
    ap.add_argument("--seed", type=int, required=True, help="random seed")
    ap.add_argument("--out", required=True, help="output register (cp1252, ';', CRLF)")
    ap.add_argument("--expected", metavar="PATH",
                    help="also write a UTF-8 CSV of injected bad rows: "
                         "line,id_titre,defect,column,raw_value")
    args = ap.parse_args(argv)
    if args.rows < 0:
        ap.error("--rows must be >= 0")
    if args.rows > 99_999_999:
        ap.error("--rows must be <= 99999999 (id_titre has 8 digits)")
    t0 = time.perf_counter()
    counts, n_quoted = generate(args.rows, args.seed, args.out, args.expected)
    dt = time.perf_counter() - t0
    bad = sum(counts.values())
    detail = ", ".join(f"{k}={v}" for k, v in counts.items())
    print(f"gen_permits: {args.rows} rows, {bad} bad ({detail}), {n_quoted} quoted motif, "
          f"{os.path.getsize(args.out)} bytes -> {args.out} in {dt:.1f}s", file=sys.stderr)


if __name__ == "__main__":
    main()
