#!/usr/bin/env python3
"""Writes enquete.dta and enquete.sav, the survey microdata the dataset tests read (run once;
the files are committed).

A small migration survey as a statistics office distributes it: a coded sex with value labels
(1 = "Homme", 2 = "Femme", 9 = "Non déclaré"), a code with no label (3), a nationality in
words, an interview date, a weight, and an age with a missing value (Stata's `.`, SPSS's
system missing; in the .sav, 99 is also declared user-missing).

    python3 -m venv /tmp/x && /tmp/x/bin/pip install pyreadstat==1.3.8 pandas
    /tmp/x/bin/python tests/data/datasets/make_datasets.py tests/data/datasets
"""
import datetime
import os
import sys

import pandas as pd
import pyreadstat

ROWS = [
    # id, sex code, nationality, interview date, weight, age
    (1, 1, "Sénégal", datetime.date(2024, 3, 1), 120.5, 31.0),
    (2, 2, "Mali", datetime.date(2024, 3, 2), 98.25, 27.0),
    (3, 2, "Côte d'Ivoire", datetime.date(2024, 3, 2), 110.0, None),
    (4, 9, "Guinée", datetime.date(2024, 3, 5), 87.75, 45.0),
    (5, 3, "Cameroun", datetime.date(2024, 3, 6), 101.0, 99.0),
    (6, 1, "Sénégal", datetime.date(2024, 3, 8), 95.5, 38.0),
]
LABELS = {"sexe": {1: "Homme", 2: "Femme", 9: "Non déclaré"}}


def main(folder):
    frame = pd.DataFrame(ROWS, columns=["id", "sexe", "nationalite", "date_entretien",
                                        "poids", "age"])
    frame["id"] = frame["id"].astype("int32")
    frame["sexe"] = frame["sexe"].astype("int8")
    pyreadstat.write_dta(frame, os.path.join(folder, "enquete.dta"),
                         variable_value_labels=LABELS, version=15)
    pyreadstat.write_sav(frame, os.path.join(folder, "enquete.sav"),
                         variable_value_labels=LABELS,
                         missing_ranges={"age": [99]})


if __name__ == "__main__":
    main(sys.argv[1])
