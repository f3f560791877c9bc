#!/usr/bin/env python3
"""Writes titres.xlsx (and titres.ods), the workbooks the spreadsheet tests read (run once; the
files are committed).

Shaped like a ministry's Excel export: a notes sheet first, then the register on a sheet named
`Titres` under a merged title row and a blank row, with real Excel dates (serial numbers with a
date format), a region merged down over the rows it covers, one bad birth year, a total row at
the bottom, formatted but empty rows below it, and a summary sheet after it.

    python3 -m venv /tmp/x && /tmp/x/bin/pip install openpyxl==3.1.5
    /tmp/x/bin/python tests/data/spreadsheets/make_workbook.py tests/data/spreadsheets/titres.xlsx

The OpenDocument twin (LibreOffice's format) holds the same register with the region written
on every row (no merged cells) and no formatting: pip install pandas odfpy as well. The .xls
twin (Excel 97-2003) has the merged title and region and the dates: pip install xlwt.
"""
import datetime
import sys

from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill

ROWS = [
    # id, issued, sex, birth year, nationality, region, weight
    ("TS00000001", datetime.date(2024, 1, 15), "F", 1990, "Sénégal", "Casablanca-Settat", 1.5),
    ("TS00000002", datetime.date(2024, 2, 1), "Homme", 1985, "Côte d'Ivoire", None, 1.25),
    ("TS00000003", datetime.date(2024, 2, 29), "Femme", 2001, "SEN", None, 2.0),
    ("TS00000004", datetime.date(2024, 3, 10), "M", "19x5", "France", "Rabat-Salé-Kénitra", 1.0),
    ("TS00000005", datetime.date(2024, 12, 31), "", 1979, "Mali", "Rabat-Salé-Kénitra", 1.75),
    ("TS00000006", datetime.date(2023, 6, 5), "F", 1995, "Guinée", "Fès-Meknès", 1.0),
]


def main(path):
    book = Workbook()
    notes = book.active
    notes.title = "Notes"
    notes["A1"] = "Extraction du registre des titres de séjour, DGSN, 05/01/2025"
    notes["A2"] = "Les données sont sur la feuille Titres."

    sheet = book.create_sheet("Titres")
    sheet["A1"] = "Titres de séjour délivrés en 2024"
    sheet.merge_cells("A1:G1")
    headers = ["id_titre", "date_delivrance", "sexe", "annee_naissance",
               "nationalite", "region", " poids\n"]
    for col, name in enumerate(headers, start=1):
        cell = sheet.cell(row=3, column=col, value=name)
        cell.font = Font(bold=True)
    for r, row in enumerate(ROWS, start=4):
        for c, value in enumerate(row, start=1):
            if value is None:
                continue
            cell = sheet.cell(row=r, column=c, value=value)
            if isinstance(value, datetime.date):
                cell.number_format = "dd/mm/yyyy"
    # Casablanca-Settat covers the first three rows
    sheet.merge_cells("F4:F6")
    total = 4 + len(ROWS)
    sheet.cell(row=total, column=1, value="Total")
    sheet.cell(row=total, column=7, value=f"=SUM(G4:G{total - 1})")
    grey = PatternFill("solid", fgColor="DDDDDD")
    for r in range(total + 1, total + 6):
        for c in range(1, 10):
            sheet.cell(row=r, column=c).fill = grey

    summary = book.create_sheet("Résumé")
    summary["A1"] = "Titres"
    summary["B1"] = len(ROWS)
    book.save(path)


def ods(path):
    import pandas as pd

    rows = []
    for i, row in enumerate(ROWS):
        region = row[5] if row[5] is not None else ROWS[0][5]
        rows.append(row[:5] + (region,) + row[6:])
    frame = pd.DataFrame(rows, columns=["id_titre", "date_delivrance", "sexe", "annee_naissance",
                                        "nationalite", "region", "poids"])
    with pd.ExcelWriter(path, engine="odf") as writer:
        pd.DataFrame({"note": ["Les données sont sur la feuille Titres."]}).to_excel(
            writer, sheet_name="Notes", index=False)
        frame.to_excel(writer, sheet_name="Titres", index=False, startrow=2)


def xls(path):
    """The same register in Excel 97-2003's binary format (BIFF8), as older ministry systems
    still export it: a merged title, Excel dates, the merged region (pip install xlwt)."""
    import xlwt

    book = xlwt.Workbook(encoding="utf-8")
    book.add_sheet("Notes").write(0, 0, "Les données sont sur la feuille Titres.")
    sheet = book.add_sheet("Titres")
    sheet.write_merge(0, 0, 0, 6, "Titres de séjour délivrés en 2024")
    headers = ["id_titre", "date_delivrance", "sexe", "annee_naissance", "nationalite",
               "region", "poids"]
    for c, name in enumerate(headers):
        sheet.write(2, c, name)
    date = xlwt.easyxf(num_format_str="dd/mm/yyyy")
    for r, row in enumerate(ROWS, start=3):
        for c, value in enumerate(row):
            if value is None or c == 5 and r < 6:
                continue
            if isinstance(value, datetime.date):
                sheet.write(r, c, value, date)
            else:
                sheet.write(r, c, value)
    sheet.write_merge(3, 5, 5, 5, ROWS[0][5])
    book.save(path)


if __name__ == "__main__":
    main(sys.argv[1])
    ods(sys.argv[1].replace(".xlsx", ".ods"))
    xls(sys.argv[1].replace(".xlsx", ".xls"))
