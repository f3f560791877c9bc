#!/usr/bin/env python3
"""Synthetic household migration survey (microdata) generator for marsad.

Writes one row per migrant respondent of a stratified two-stage household
survey, in the style of a national household migration survey such as HCP's
Enquete Nationale sur la Migration Internationale (ENMI 2018-19):

* strata = Morocco's 12 regions (ISO 3166-2 MA-01..MA-12) x milieu (U/R),
  24 strata;
* first stage: PSUs (grappes) drawn within each stratum, 4-12 per stratum,
  except one small rural stratum (MA-12-R) that has a single sampled PSU, so
  that the lonely-PSU policy of the variance estimator matters;
* second stage: households with migrants in each PSU, every migrant aged 15+
  in the household interviewed;
* weight = stratum base weight x PSU nonresponse adjustment x household
  nonresponse-class adjustment (so weights vary within PSUs).

Sex and reason for migration are correlated as in ENMI 2018-19 (work is the
main reason for ~69% of men vs ~21% of women; family/marriage ~49% of women
vs ~8% of men), tilted by nationality (asylum for Syrians and Yemenis, study
and regularisation for sub-Saharan nationals, retirement-type 'autre' for
Europeans).

Output is UTF-8, ',' separated, '\\n' line endings, with a header.  It is fully
determined by --seed: a single random.Random(seed) drawn in a fixed order, no
dict-order, hash or clock dependence, only rng.random() is used.  Standard
library only.  A bare run reproduces the committed sample:

    python3 benches/gen_survey.py --seed 2024 \\
        --out sample_data/survey/enquete_migration_2024.csv
"""

import argparse
import math
import os
import random
import sys

SURVEY_YEAR = 2024
HEADER = [
    "id_individu", "id_menage", "strate", "grappe", "grappes_population", "poids",
    "sexe", "age", "nationalite", "pays_naissance", "annee_arrivee", "motif",
    "region", "milieu",
]
MOTIFS = ["travail", "etudes", "famille", "regularisation", "asile", "autre"]

# Sampled PSUs per region and milieu: (urban, rural).  MA-12 rural has ONE PSU.
PSUS = {
    "MA-01": (10, 5),   # Tanger-Tetouan-Al Hoceima
    "MA-02": (9, 6),    # L'Oriental
    "MA-03": (10, 4),   # Fes-Meknes
    "MA-04": (12, 5),   # Rabat-Sale-Kenitra
    "MA-05": (5, 4),    # Beni Mellal-Khenifra
    "MA-06": (12, 5),   # Casablanca-Settat
    "MA-07": (10, 5),   # Marrakech-Safi
    "MA-08": (4, 4),    # Draa-Tafilalet
    "MA-09": (8, 5),    # Souss-Massa
    "MA-10": (4, 4),    # Guelmim-Oued Noun
    "MA-11": (6, 4),    # Laayoune-Sakia El Hamra
    "MA-12": (5, 1),    # Dakhla-Oued Ed-Dahab (rural: the lonely PSU)
}
REGIONS = sorted(PSUS)

# Nationality: (iso3, national weight, group, countries of birth other than iso3)
NATIONALITIES = [
    ("SEN", 14.0, "ssa", ["MAR", "MLI", "GMB"]),
    ("CIV", 10.0, "ssa", ["MAR", "BFA"]),
    ("GIN", 9.0, "ssa", ["SEN", "SLE"]),
    ("MLI", 6.0, "ssa", ["CIV", "SEN"]),
    ("CMR", 6.0, "ssa", ["NGA", "GAB"]),
    ("COD", 5.0, "ssa", ["COG", "AGO"]),
    ("NGA", 5.0, "ssa", ["CMR", "GHA"]),
    ("SYR", 7.0, "asylum", ["LBN", "JOR"]),
    ("YEM", 2.0, "asylum", ["SAU"]),
    ("FRA", 10.0, "europe", ["MAR", "DZA", "SEN"]),
    ("ESP", 6.0, "europe", ["MAR", "FRA"]),
    ("DZA", 5.0, "maghreb", ["MAR", "FRA"]),
    ("TUN", 3.0, "maghreb", ["FRA", "LBY"]),
    ("PHL", 3.0, "asia", ["SAU"]),
    ("CHN", 4.0, "asia", ["HKG"]),
    # Rare nationalities, so that some cells of the table are small.
    ("GAB", 0.4, "ssa", ["CMR"]),
    ("NER", 0.35, "ssa", ["NGA"]),
    ("ITA", 0.5, "europe", ["MAR"]),
    ("TUR", 0.3, "maghreb", ["DEU"]),
]

# Regional tilt of the nationality groups (multiplies the national weight).
REGION_TILT = {
    "MA-01": {"ssa": 1.4, "europe": 1.3},
    "MA-02": {"ssa": 2.0, "maghreb": 2.5, "europe": 0.4},
    "MA-04": {"ssa": 1.3, "asylum": 1.4, "asia": 1.3},
    "MA-06": {"asia": 2.0, "asylum": 1.3},
    "MA-07": {"europe": 2.2, "ssa": 0.7},
    "MA-09": {"europe": 2.0, "ssa": 0.8},
    "MA-10": {"ssa": 1.2, "europe": 0.7},
    "MA-11": {"ssa": 1.8, "europe": 0.6, "asia": 0.3},
    "MA-12": {"ssa": 2.2, "europe": 0.8, "asia": 0.3, "asylum": 0.3},
}

# Main reason for migrating by sex (ENMI 2018-19 orders of magnitude).
MOTIF_BY_SEX = {
    "M": [0.75, 0.08, 0.05, 0.05, 0.04, 0.03],
    "F": [0.24, 0.11, 0.49, 0.05, 0.06, 0.05],
}
# Tilt of the reasons by nationality group (multiplies, then renormalised).
MOTIF_TILT = {
    "ssa": [1.0, 1.4, 0.8, 2.2, 1.0, 0.8],
    "asylum": [0.35, 0.3, 0.7, 0.5, 14.0, 0.5],
    "europe": [0.9, 0.6, 1.0, 0.05, 0.02, 3.5],
    "maghreb": [1.0, 1.2, 1.3, 0.3, 0.2, 1.0],
    "asia": [1.3, 0.4, 0.8, 0.4, 0.05, 0.6],
}

# Age at the survey by reason: (low, high, mode) of a triangular law.
AGE_LAW = {
    "travail": (20, 62, 32),
    "etudes": (18, 32, 21),
    "famille": (15, 75, 30),
    "regularisation": (18, 52, 28),
    "asile": (15, 66, 29),
    "autre": (22, 80, 45),
}

# Household size (migrants aged 15+): 1..5.
HH_SIZE = [0.45, 0.27, 0.16, 0.08, 0.04]
# Household nonresponse class adjustment by size (single-person households respond less).
HH_ADJ = {1: 1.18, 2: 1.06, 3: 1.03, 4: 1.0, 5: 1.0}


def pick(rng, weights):
    """Index drawn with probability proportional to weights (rng.random() only)."""
    total = sum(weights)
    u = rng.random() * total
    acc = 0.0
    for i, w in enumerate(weights):
        acc += w
        if u < acc:
            return i
    return len(weights) - 1


def uniform(rng, lo, hi):
    return lo + (hi - lo) * rng.random()


def triangular(rng, lo, hi, mode):
    u = rng.random()
    c = (mode - lo) / (hi - lo)
    if u < c:
        return lo + math.sqrt(u * (hi - lo) * (mode - lo))
    return hi - math.sqrt((1.0 - u) * (hi - lo) * (hi - mode))


def draw_motif(rng, sex, group):
    base = MOTIF_BY_SEX["F" if sex == "F" else "M"]
    tilt = MOTIF_TILT[group]
    return MOTIFS[pick(rng, [b * t for b, t in zip(base, tilt)])]


def draw_age(rng, motif, group):
    lo, hi, mode = AGE_LAW[motif]
    if motif == "autre" and group == "europe":
        lo, hi, mode = 35, 80, 64          # retirees
    age = int(triangular(rng, lo, hi, mode))
    return min(80, max(15, age))


def draw_arrival(rng, age, motif, iso):
    # Recent arrivals dominate: years since arrival ~ exponential, mean 7.
    years = int(-7.0 * math.log(1.0 - rng.random()))
    year = SURVEY_YEAR - years
    if motif == "asile" and iso == "SYR":
        year = max(year, 2012)
    if motif == "etudes":
        year = max(year, SURVEY_YEAR - 8)
    return max(year, 1990, SURVEY_YEAR - age)


def generate(seed, out_path):
    rng = random.Random(seed)
    rows = []
    menage = 0
    for region in REGIONS:
        tilt = REGION_TILT.get(region, {})
        nat_weights = [w * tilt.get(g, 1.0) for _, w, g, _ in NATIONALITIES]
        for milieu, n_psu in (("U", PSUS[region][0]), ("R", PSUS[region][1])):
            strate = f"{region}-{milieu}"
            # Population PSUs: more of them per sampled PSU in rural areas.
            ratio = uniform(rng, 3.0, 8.0) if milieu == "U" else uniform(rng, 5.0, 12.0)
            pop_psu = max(n_psu + 1, int(round(n_psu * ratio)))
            # Base weight: PSU inverse inclusion probability x within-PSU subsampling.
            base = (pop_psu / n_psu) * uniform(rng, 2.0, 4.5)
            for g in range(1, n_psu + 1):
                grappe = f"G{g:04d}"      # unique only within the stratum
                psu_adj = 1.0 / uniform(rng, 0.75, 0.98)
                n_hh = int(uniform(rng, 20, 38)) if milieu == "U" else int(uniform(rng, 8, 17))
                for _ in range(n_hh):
                    menage += 1
                    id_menage = f"M{menage:06d}"
                    size = 1 + pick(rng, HH_SIZE)
                    weight = round(base * psu_adj * HH_ADJ[size], 4)
                    nat_i = pick(rng, nat_weights)
                    head_sex = "F" if rng.random() < 0.20 else "M"
                    for k in range(1, size + 1):
                        iso, _, group, born_elsewhere = NATIONALITIES[nat_i]
                        if k > 1 and rng.random() < 0.12:
                            # Mixed household: another nationality.
                            iso, _, group, born_elsewhere = NATIONALITIES[pick(rng, nat_weights)]
                        if k == 1:
                            sex = head_sex
                        elif k == 2 and rng.random() < 0.6:
                            sex = "M" if head_sex == "F" else "F"  # spouse
                        else:
                            sex = "F" if rng.random() < 0.33 else "M"
                        motif = draw_motif(rng, sex, group)
                        if k == 2 and sex != head_sex and rng.random() < 0.3:
                            motif = "famille"                        # joined the spouse
                        age = draw_age(rng, motif, group)
                        if rng.random() < 0.9:
                            birth = iso
                        else:
                            birth = born_elsewhere[pick(rng, [1.0] * len(born_elsewhere))]
                        arrival = draw_arrival(rng, age, motif, iso)
                        stated_sex = "" if rng.random() < 0.01 else sex
                        rows.append([
                            f"{id_menage}-{k:02d}", id_menage, strate, grappe, str(pop_psu),
                            f"{weight:.4f}", stated_sex, str(age), iso, birth, str(arrival),
                            motif, region, milieu,
                        ])
    tmp = out_path + ".tmp"
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.write(",".join(HEADER) + "\n")
        for r in rows:
            f.write(",".join(r) + "\n")
    os.replace(tmp, out_path)
    return len(rows)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=2024, help="random seed (default 2024)")
    ap.add_argument("--out", default="sample_data/survey/enquete_migration_2024.csv",
                    help="output CSV (default: the committed sample)")
    args = ap.parse_args(argv)
    d = os.path.dirname(args.out)
    if d:
        os.makedirs(d, exist_ok=True)
    n = generate(args.seed, args.out)
    print(f"wrote {n} rows to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
