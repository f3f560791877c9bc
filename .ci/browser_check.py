#!/usr/bin/env python3
"""Open marsad's HTML reports in headless Chromium (Debian's chromium and chromium-driver,
driven by selenium from PyPI) and check what a reader sees.

For every report given: the page loads with no console error and a screenshot is taken. For a
publication (a page without a verdict): the direction of the page is the one its language reads
(right to left for Arabic), and every bar of every population pyramid is as long as its value
in the published Parquet table times the figure's scale, as the browser lays it out. For a
provider report (a restricted folder): each cell marked as breaking a rule is highlighted in
the rendered page, and, given --bad-line, that line's row is shown with its cell marked.

Usage: browser_check.py --screens DIR [--readme-pyramid PNG] [--bad-line LINE:COLUMN] REPORT_DIR...
where each REPORT_DIR holds a report.html, written in the language given after a colon
(out/titres:fr).
"""

import argparse
import math
import os
import pathlib
import sys

import duckdb
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By


def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1200,1600"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def console_errors(driver):
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def table_value(folder, table, held, dimension, code, sex, measure):
    """The published cell, None when hidden, 0 when the table does not list it."""
    path = folder / "tables" / f"{table}.parquet"
    source = f"'{path}'" if path.exists() else f"read_parquet('{folder}/tables/{table}/**/*.parquet', hive_partitioning = true)"
    where = dict(held)
    where[dimension] = code
    where["sex"] = sex
    clause = " AND ".join(f"CAST(\"{k}\" AS VARCHAR) = ?" for k in where)
    rows = duckdb.execute(
        f"SELECT \"{measure}\" FROM {source} WHERE {clause}", list(where.values())
    ).fetchall()
    if not rows:
        return 0.0
    assert len(rows) == 1, (table, where, rows)
    return rows[0][0]


def check_publication(driver, folder, lang, problems):
    direction = driver.execute_script(
        "return getComputedStyle(document.documentElement).direction"
    )
    want = "rtl" if lang == "ar" else "ltr"
    if direction != want:
        problems.append(f"{folder}: direction {direction}, want {want}")
    figures = driver.find_elements(By.CSS_SELECTOR, "figure:has(svg.pyramid)")
    checked = 0
    for fig in figures:
        section = fig.find_element(By.XPATH, "./ancestor::section")
        table = section.get_attribute("id")
        dimension = fig.get_attribute("data-dimension")
        held = [kv.split("=", 1) for kv in fig.get_attribute("data-held").split(";") if kv]
        svg = fig.find_element(By.CSS_SELECTOR, "svg")
        scale = float(svg.get_attribute("data-scale"))
        measure = driver.execute_script(
            "return arguments[0].closest('section').dataset.measure", fig
        )
        for bar in fig.find_elements(By.CSS_SELECTOR, "rect.bar"):
            sex, code, value = (bar.get_attribute(a) for a in ("data-sex", "data-code", "data-value"))
            width = driver.execute_script("return arguments[0].getBBox().width", bar)
            published = table_value(folder, table, held, dimension, code, sex, measure)
            if value == "c":
                if published is not None:
                    problems.append(f"{table} {sex} {code}: drawn hidden, published {published}")
                continue
            if published is None or not math.isclose(float(value), published, abs_tol=1e-9):
                problems.append(f"{table} {sex} {code}: drawn {value}, published {published}")
            if abs(width - published * scale) > 0.01:
                problems.append(f"{table} {sex} {code}: {width:.2f} px for {published} at {scale} px")
            checked += 1
    if not figures:
        problems.append(f"{folder}: no pyramid")
    return checked


def check_provider(driver, folder, bad_line, problems):
    marked = driver.find_elements(By.CSS_SELECTOR, "td.bad")
    if not marked:
        problems.append(f"{folder}: no cell marked")
    for td in marked[:50]:
        colour = driver.execute_script("return getComputedStyle(arguments[0]).backgroundColor", td)
        if colour in ("rgba(0, 0, 0, 0)", "transparent", "rgb(255, 255, 255)"):
            problems.append(f"{folder}: a marked cell is not highlighted ({colour})")
            break
    if bad_line:
        line, column = bad_line.split(":", 1)
        cells = driver.find_elements(
            By.CSS_SELECTOR, f'table.rows tr[data-line="{line}"] td.bad[data-column="{column}"]'
        )
        if not cells or not cells[0].is_displayed():
            problems.append(f"{folder}: line {line} is not shown with {column} marked")
        else:
            cells[0].screenshot(str(folder / "bad-cell.png"))
    return len(marked)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--screens", required=True, type=pathlib.Path)
    ap.add_argument("--readme-pyramid", type=pathlib.Path)
    ap.add_argument("--bad-line")
    ap.add_argument("reports", nargs="+")
    args = ap.parse_args()
    args.screens.mkdir(parents=True, exist_ok=True)
    problems = []
    driver = browser()
    try:
        for spec in args.reports:
            folder, lang = spec.rsplit(":", 1)
            # Absolute, but through the output's link (its name says which output it is).
            folder = pathlib.Path(os.path.abspath(folder))
            driver.get((folder / "report.html").as_uri())
            errors = console_errors(driver)
            if errors:
                problems.append(f"{folder}: console errors {errors}")
            shot = args.screens / f"{folder.name}-{lang}.png"
            height = driver.execute_script("return document.documentElement.scrollHeight")
            driver.set_window_size(1200, min(max(height, 800), 12000))
            driver.save_screenshot(str(shot))
            if not driver.find_elements(By.CSS_SELECTOR, "p.verdict"):
                n = check_publication(driver, folder, lang, problems)
                print(f"{folder.name} [{lang}]: {n} pyramid bars checked against the tables")
                if args.readme_pyramid and lang == "fr":
                    pyramid = driver.find_element(By.CSS_SELECTOR, "figure:has(svg.pyramid)")
                    driver.execute_script("arguments[0].scrollIntoView()", pyramid)
                    pyramid.screenshot(str(args.readme_pyramid))
                    args.readme_pyramid = None
            else:
                n = check_provider(driver, folder, args.bad_line, problems)
                print(f"{folder.name} [{lang}]: {n} marked cells highlighted")
    finally:
        driver.quit()
    for p in problems:
        print("PROBLEM:", p, file=sys.stderr)
    print(f"screenshots in {args.screens}")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
