-- The lean job of benches/permits_bench_lean.toml, written by hand in DuckDB SQL (issue 17): the
-- checks a plain DuckDB script makes as it reads the register (every field as text, then typed:
-- issue date, birth year in 1900-2026, weight; sex, nationality and region mapped to their codes;
-- the age not negative), bad rows left out, and the same table with totals. No unique id, no id
-- pattern, no list of motives: benches/permits_duckdb.sql is the full job. Written the same
-- fast way as that script (spellings folded once per distinct value, one read, one CUBE).
-- `{{CSV}}` is replaced by the path of the register and `{{ROOT}}` by the repository root;
-- the result is the table `cells`.

-- Rows in any order: the job sorts what it writes.
SET preserve_insertion_order = false;

CREATE OR REPLACE MACRO norm(s) AS
    trim(regexp_replace(lower(strip_accents(s)), '[^[:alnum:]]+', ' ', 'g'));

-- Code lists: every spelling (folded) -> code, as marsad's code lists build them.
CREATE OR REPLACE TABLE country_map AS
SELECT DISTINCT norm(sp) AS k, alpha3 AS code
FROM (
    SELECT alpha3, unnest(
        [CASE WHEN alpha3 LIKE '\_%' ESCAPE '\' THEN NULL ELSE alpha3 END,
         alpha2, numeric, ltrim(numeric, '0'), name_en, name_fr, name_ar]
        || string_split(coalesce(adjectives_fr, ''), '|')
        || string_split(coalesce(synonyms, ''), '|')) AS sp
    FROM read_csv('{{ROOT}}/schemas/codelists/country.csv', all_varchar = true, header = true)
)
WHERE sp IS NOT NULL AND norm(sp) <> '';

CREATE OR REPLACE TABLE sex_map AS
SELECT DISTINCT norm(sp) AS k, code
FROM (
    SELECT code, unnest(
        [CASE WHEN code LIKE '\_%' ESCAPE '\' THEN NULL ELSE code END, label, name_fr, name_ar]
        || string_split(coalesce(synonyms, ''), '|')) AS sp
    FROM read_csv('{{ROOT}}/schemas/codelists/sex.csv', all_varchar = true, header = true)
)
WHERE sp IS NOT NULL AND norm(sp) <> '';

CREATE OR REPLACE TABLE region_map AS
SELECT DISTINCT norm(sp) AS k, code
FROM (
    SELECT code, unnest([code, label] || string_split(coalesce(synonyms, ''), '|')) AS sp
    FROM read_csv('{{ROOT}}/schemas/codelists/morocco_regions.csv', all_varchar = true, header = true)
)
WHERE sp IS NOT NULL AND norm(sp) <> '';

-- The raw register, read once; rows with the wrong number of fields are skipped (marsad
-- quarantines them).
CREATE OR REPLACE TEMP TABLE raw AS
SELECT * FROM read_csv('{{CSV}}', delim = ';', header = true, all_varchar = true,
                       encoding = 'latin-1', ignore_errors = true, quote = '"');

-- Each distinct raw spelling, folded once, to its code (an empty sex is unknown, `_U`).
CREATE OR REPLACE TEMP TABLE sexe_code AS
SELECT d.v, CASE WHEN d.v = '' THEN '_U' ELSE m.code END AS code
FROM (SELECT DISTINCT coalesce(sexe, '') AS v FROM raw) d
LEFT JOIN sex_map m ON m.k = norm(d.v);

CREATE OR REPLACE TEMP TABLE nationalite_code AS
SELECT d.v, m.code
FROM (SELECT DISTINCT nationalite AS v FROM raw WHERE nationalite <> '') d
JOIN country_map m ON m.k = norm(d.v);

CREATE OR REPLACE TEMP TABLE region_code AS
SELECT d.v, m.code
FROM (SELECT DISTINCT region AS v FROM raw) d
JOIN region_map m ON m.k = norm(d.v);

CREATE OR REPLACE TABLE cells AS
WITH typed AS (
    SELECT r.poids AS poids_raw,
        try_strptime(trim(r.date_delivrance), '%d/%m/%Y')::DATE AS issued,
        try_cast(trim(r.annee_naissance) AS BIGINT) AS born,
        try_cast(replace(trim(r.poids), ',', '.') AS DOUBLE) AS poids,
        s.code AS sex, n.code AS nationality, g.code AS region_code
    FROM raw r
    JOIN sexe_code s ON s.v = coalesce(r.sexe, '')
    JOIN nationalite_code n ON n.v = r.nationalite
    JOIN region_code g ON g.v = r.region
),
valid AS (
    SELECT sex, nationality, region_code, poids, year(issued) - born AS age
    FROM typed
    WHERE issued IS NOT NULL
      AND born BETWEEN 1900 AND 2026
      AND (poids_raw IS NULL OR trim(poids_raw) = '' OR poids IS NOT NULL)
      AND year(issued) - born >= 0
      AND sex IS NOT NULL AND sex <> '_T'
),
cube AS (
    SELECT coalesce(sex, '_T') AS sex, coalesce(nationality, '_T') AS nationality,
           coalesce(region_code, '_T') AS region_code, coalesce(groupe_age, '_T') AS groupe_age,
           count(*) AS titres, coalesce(sum(poids), 0) AS poids
    FROM (SELECT sex, nationality, region_code, poids,
                 CASE WHEN age >= 85 THEN 'Y_GE85'
                      ELSE 'Y' || (age // 5 * 5) || 'T' || (age // 5 * 5 + 4) END AS groupe_age
          FROM valid)
    GROUP BY CUBE (sex, nationality, region_code, groupe_age)
),
-- marsad lists every sex code beside each combination that occurs, with 0 where none.
grid AS (
    SELECT s.sex, c.nationality, c.region_code, c.groupe_age
    FROM (SELECT * FROM cube WHERE sex = '_T') c
    CROSS JOIN (SELECT unnest(['F', 'M', '_U']) AS sex UNION SELECT DISTINCT sex FROM cube WHERE sex <> '_T') s
)
SELECT g.sex, g.nationality, g.region_code, g.groupe_age,
       coalesce(c.titres, 0) AS titres, coalesce(c.poids, 0) AS poids
FROM grid g LEFT JOIN cube c USING (sex, nationality, region_code, groupe_age)
UNION ALL
SELECT sex, nationality, region_code, groupe_age, titres, poids FROM cube WHERE sex = '_T';
