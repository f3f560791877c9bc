-- The residence-permit job of pipelines/titres_sejour.toml, written by hand in DuckDB SQL:
-- read the raw register, apply the same schema rules and code lists, and tabulate by
-- sex x nationality x region x five-year age group with totals. The first version of the peer;
-- permits_duckdb.sql is the same job written for speed (issue 17), and
-- `benches/compare_duckdb.py --sql benches/permits_duckdb_plain.sql` still times this one.
-- `{{CSV}}` is replaced by the path of the register and `{{ROOT}}` by the repository root.

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

-- The raw register; rows with the wrong number of fields are skipped (marsad quarantines them).
CREATE OR REPLACE TABLE raw AS
SELECT * FROM read_csv('{{CSV}}', delim = ';', header = true, all_varchar = true,
                       encoding = 'latin-1', ignore_errors = true, quote = '"');

CREATE OR REPLACE TABLE typed AS
SELECT
    id_titre,
    try_strptime(trim(date_delivrance), '%d/%m/%Y')::DATE AS issued,
    nullif(sexe, '') AS sexe,
    try_cast(trim(annee_naissance) AS BIGINT) AS born,
    nullif(nationalite, '') AS nationalite,
    nullif(region, '') AS region,
    nullif(motif, '') AS motif,
    try_cast(replace(trim(poids), ',', '.') AS DOUBLE) AS poids,
    annee_naissance AS born_raw,
    poids AS poids_raw,
    date_delivrance AS issued_raw
FROM raw;

CREATE OR REPLACE TABLE valid AS
WITH dup AS (SELECT id_titre FROM typed GROUP BY id_titre HAVING count(*) > 1),
mapped AS (
    SELECT t.*,
        CASE WHEN t.sexe IS NULL THEN '_U' ELSE s.code END AS sex,
        c.code AS nationality,
        r.code AS region_code,
        year(t.issued) - t.born AS age
    FROM typed t
    LEFT JOIN sex_map s ON s.k = norm(t.sexe)
    LEFT JOIN country_map c ON c.k = norm(t.nationalite)
    LEFT JOIN region_map r ON r.k = norm(t.region)
)
SELECT * FROM mapped
WHERE id_titre IS NOT NULL AND regexp_full_match(id_titre, 'TS[0-9]{8}')
  AND id_titre NOT IN (SELECT id_titre FROM dup)
  AND issued IS NOT NULL AND issued >= DATE '2000-01-01'
  AND born IS NOT NULL AND born BETWEEN 1900 AND 2026
  AND nationalite IS NOT NULL
  AND region IN ('Tanger-Tétouan-Al Hoceïma', 'L''Oriental', 'Fès-Meknès', 'Rabat-Salé-Kénitra',
                 'Béni Mellal-Khénifra', 'Casablanca-Settat', 'Marrakech-Safi', 'Drâa-Tafilalet',
                 'Souss-Massa', 'Guelmim-Oued Noun', 'Laâyoune-Sakia El Hamra', 'Dakhla-Oued Ed-Dahab')
  AND (motif IS NULL OR motif IN ('travail', 'études', 'famille', 'régularisation', 'réfugié', 'autre'))
  AND (poids_raw IS NULL OR trim(poids_raw) = '' OR (poids IS NOT NULL AND poids >= 0))
  AND age >= 0
  AND sex IS NOT NULL AND sex <> '_T'
  AND nationality IS NOT NULL
  AND region_code IS NOT NULL;

CREATE OR REPLACE TABLE cells AS
WITH v AS (
    SELECT sex, nationality, region_code, poids,
        CASE WHEN age IS NULL OR age < 0 THEN '_U'
             WHEN age >= 85 THEN 'Y_GE85'
             ELSE 'Y' || (age // 5 * 5) || 'T' || (age // 5 * 5 + 4) END AS groupe_age
    FROM valid
),
by_sex AS (
    SELECT sex, coalesce(nationality, '_T') AS nationality, coalesce(region_code, '_T') AS region_code,
           coalesce(groupe_age, '_T') AS groupe_age, count(*) AS titres, coalesce(sum(poids), 0) AS poids
    FROM v GROUP BY sex, CUBE (nationality, region_code, groupe_age)
),
total AS (
    SELECT '_T' AS sex, coalesce(nationality, '_T') AS nationality, coalesce(region_code, '_T') AS region_code,
           coalesce(groupe_age, '_T') AS groupe_age, count(*) AS titres, coalesce(sum(poids), 0) AS poids
    FROM v GROUP BY CUBE (nationality, region_code, groupe_age)
),
codes AS (SELECT unnest(['F', 'M', '_U']) AS sex UNION SELECT DISTINCT sex FROM v),
grid AS (
    SELECT c.sex, t.nationality, t.region_code, t.groupe_age FROM total t CROSS JOIN codes c
)
SELECT g.sex, g.nationality, g.region_code, g.groupe_age,
       coalesce(b.titres, 0) AS titres, coalesce(b.poids, 0) AS poids
FROM grid g LEFT JOIN by_sex b USING (sex, nationality, region_code, groupe_age)
UNION ALL
SELECT sex, nationality, region_code, groupe_age, titres, poids FROM total;
