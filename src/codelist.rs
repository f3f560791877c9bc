//! Code lists: the standard codes a raw value is harmonized into, with the spellings people use.
//!
//! The built-in lists are CSV files under `schemas/codelists/`, compiled into the binary so that a
//! pipeline runs with no network and no data folder beside it. A pipeline can also ship its own
//! CSV list (`code,label,synonyms,parent`). Matching ignores case, accents, punctuation and
//! spacing, and never guesses: near misses are only *suggested* (see `suggest`), unless a pipeline
//! explicitly allows fuzzy matching.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

use crate::error::{Error, Result};
use crate::vocab::keywords;

const SEX_CSV: &str = include_str!("../schemas/codelists/sex.csv");
const COUNTRY_CSV: &str = include_str!("../schemas/codelists/country.csv");
const MOROCCO_REGION_CSV: &str = include_str!("../schemas/codelists/morocco_regions.csv");
const M49_CSV: &str = include_str!("../schemas/codelists/m49_regions.csv");
const AU_CSV: &str = include_str!("../schemas/codelists/au_regions.csv");
const UNHCR_CSV: &str = include_str!("../schemas/codelists/unhcr_codes.csv");
const UNDESA_CSV: &str = include_str!("../schemas/codelists/undesa_codes.csv");

/// Names of the embedded code lists, as a pipeline refers to them.
pub const BUILTIN: &[&str] = &[
    "sex",
    "country",
    "morocco-region",
    "m49-region",
    "au-region",
];

/// One standard code, its display label and the other columns of its row (alpha-2, parent,
/// regions...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Code {
    pub code: String,
    pub label: String,
    pub attrs: BTreeMap<String, String>,
}

/// A known spelling and the code it stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Spelling {
    code: String,
    written: String,
}

keywords! {
    /// How the raw values of a country column are written, and so how its codes are read.
    pub enum Crosswalk as "crosswalk" {
        /// ISO 3166-1 codes of any kind, names, adjectives (the default).
        Iso3 = "iso3",
        /// Only ISO alpha-2 codes.
        Iso2 = "iso2",
        /// Only ISO / M49 numeric codes, with or without leading zeros.
        M49Numeric = "m49-numeric",
        /// UNHCR's own 3-letter codes first (`MOR` Morocco, `MAR` Martinique), then ISO.
        Unhcr = "unhcr",
        /// UN DESA's codes first (`XXX` others, `CHI` Channel Islands), then ISO.
        Undesa = "undesa",
    }
}

keywords! {
    /// The code system written into a harmonized country column.
    pub enum CountryOutput as "country code system" {
        Iso3 = "iso3",
        Iso2 = "iso2",
        M49Numeric = "m49-numeric",
    }
}

impl CountryOutput {
    /// The column of `country.csv` holding this code, if not the alpha-3 code itself.
    pub fn attr(self) -> Option<&'static str> {
        match self {
            CountryOutput::Iso3 => None,
            CountryOutput::Iso2 => Some("alpha2"),
            CountryOutput::M49Numeric => Some("numeric"),
        }
    }
}

/// A code list with a lookup from normalized spellings to codes.
#[derive(Debug, Clone)]
pub struct CodeList {
    pub name: String,
    pub codes: Vec<Code>,
    index: HashMap<String, usize>,
    /// Normalized spelling -> code.
    lookup: HashMap<String, Spelling>,
    /// Exact (trimmed, upper-cased) codes read before the spellings: pseudo-codes such as `_U`,
    /// whose normalized form would be a bare letter, and crosswalk codes.
    exact: HashMap<String, String>,
    /// When set, only `exact` is consulted (strict crosswalks such as alpha-2 only).
    strict: bool,
}

/// Fold a raw value so that case, accents, punctuation and spacing do not matter:
/// `" Côte-d'Ivoire "` and `"COTE D IVOIRE"` both become `"cote d ivoire"`.
pub fn normalize(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut pending_space = false;
    for ch in raw.nfd() {
        if is_combining_mark(ch) {
            continue;
        }
        if ch.is_alphanumeric() {
            if pending_space && !out.is_empty() {
                out.push(' ');
            }
            pending_space = false;
            out.extend(ch.to_lowercase());
        } else {
            pending_space = true;
        }
    }
    out
}

fn exact_key(raw: &str) -> String {
    raw.trim().to_uppercase()
}

/// A spelling close to an unmapped value, offered to the statistician, never applied silently.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Suggestion {
    pub spelling: String,
    pub code: String,
    pub distance: usize,
}

/// Edit distance (insertions, deletions, substitutions) between two strings, by characters.
pub fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

keywords! {
    /// Age classifications, as SDMX-style codes (`Y15T19`, `Y_GE85`), each with `_U` "not stated".
    pub enum AgeScheme as "age scheme" {
        /// UN five-year groups 0-4 ... 80-84, 85+.
        FiveYear = "five-year",
        /// Broad groups 0-14, 15-64, 65+.
        Broad = "broad",
        /// UNHCR's bands 0-4, 5-11, 12-17, 18-59, 60+.
        Unhcr = "unhcr",
    }
}

impl AgeScheme {
    /// Lower bounds of the groups; the last group is open-ended.
    pub fn lower_bounds(self) -> Vec<i64> {
        match self {
            AgeScheme::FiveYear => (0..=85).step_by(5).collect(),
            AgeScheme::Broad => vec![0, 15, 65],
            AgeScheme::Unhcr => vec![0, 5, 12, 18, 60],
        }
    }

    /// The groups as (lower bound, code), with the open-ended one last.
    pub fn groups(self) -> Vec<(i64, String)> {
        let bounds = self.lower_bounds();
        bounds
            .iter()
            .enumerate()
            .map(|(i, lo)| match bounds.get(i + 1) {
                Some(next) => (*lo, format!("Y{lo}T{}", next - 1)),
                None => (*lo, format!("Y_GE{lo}")),
            })
            .collect()
    }
}

keywords! {
    /// Geographic aggregates a harmonized ISO alpha-3 country column can be rolled up to.
    pub enum RegionLevel as "region scheme" {
        /// UN M49 region (002 Africa, 019 Americas, 142 Asia, 150 Europe, 009 Oceania).
        M49Region = "m49-region",
        /// UN M49 sub-region (015 Northern Africa, 202 Sub-Saharan Africa...).
        M49Subregion = "m49-subregion",
        /// UN M49 intermediate region (011 Western Africa...), where M49 has one.
        M49Intermediate = "m49-intermediate",
        /// African Union region (northern, eastern, central, southern, western), members only.
        Au = "au",
    }
}

impl RegionLevel {
    /// The column of `country.csv` holding this level.
    pub fn attr(self) -> &'static str {
        match self {
            RegionLevel::M49Region => "m49_region",
            RegionLevel::M49Subregion => "m49_subregion",
            RegionLevel::M49Intermediate => "m49_intermediate",
            RegionLevel::Au => "au_region",
        }
    }

    /// The region of a country code: `_U` for an unknown country, `_O` for "other countries",
    /// `_Z` (not applicable) for a country outside this classification (a non-member of the AU,
    /// stateless people, Antarctica).
    pub fn of(self, countries: &CodeList, code: &str) -> String {
        if code == "_U" || code == "_O" {
            return code.to_string();
        }
        match countries.get(code) {
            None => "_U".into(),
            Some(c) => match c.attrs.get(self.attr()).map(String::as_str) {
                Some(v) if !v.is_empty() => v.to_string(),
                _ => "_Z".into(),
            },
        }
    }
}

impl CodeList {
    /// An embedded list by name.
    pub fn builtin(name: &str) -> Option<CodeList> {
        let text = match name {
            "sex" => SEX_CSV,
            "country" => COUNTRY_CSV,
            "morocco-region" => MOROCCO_REGION_CSV,
            "m49-region" => M49_CSV,
            "au-region" => AU_CSV,
            _ => return None,
        };
        // The embedded files are checked by unit tests, so a failure here is a build defect.
        Some(
            parse(name, text)
                .unwrap_or_else(|e| panic!("embedded code list `{name}` is invalid: {e}")),
        )
    }

    /// The country list read through a crosswalk.
    pub fn country(crosswalk: Crosswalk) -> CodeList {
        let mut list = CodeList::builtin("country").expect("country is embedded");
        let table = |text: &str, from: &str| -> Vec<(String, String)> {
            csv_rows(text)
                .unwrap_or_else(|e| panic!("embedded crosswalk is invalid: {e}"))
                .iter()
                .map(|r| (field(r, from).to_string(), field(r, "iso3").to_string()))
                .filter(|(k, v)| !k.is_empty() && !v.is_empty())
                .collect()
        };
        // Strict crosswalks still accept the pseudo-codes (`_U`, `_O`) written as such.
        let pseudo: Vec<(String, String)> = list
            .exact
            .iter()
            .filter(|(k, _)| k.starts_with('_'))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        match crosswalk {
            Crosswalk::Iso3 => {}
            Crosswalk::Unhcr => list.exact.extend(table(UNHCR_CSV, "unhcr")),
            Crosswalk::Undesa => list.exact.extend(table(UNDESA_CSV, "code")),
            Crosswalk::Iso2 | Crosswalk::M49Numeric => {
                let attr = if crosswalk == Crosswalk::Iso2 {
                    "alpha2"
                } else {
                    "numeric"
                };
                list.exact = pseudo.into_iter().collect();
                for c in &list.codes {
                    if let Some(v) = c.attrs.get(attr).filter(|v| !v.is_empty()) {
                        list.exact.insert(exact_key(v), c.code.clone());
                        if attr == "numeric" {
                            list.exact
                                .insert(v.trim_start_matches('0').to_string(), c.code.clone());
                        }
                    }
                }
                list.strict = true;
            }
        }
        list
    }

    /// A pipeline's own list from a CSV file with columns `code,label,synonyms` (and `parent`).
    pub fn from_file(path: &Path) -> Result<CodeList> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            file: path.to_path_buf(),
            source,
        })?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        parse(&name, &text).map_err(|message| Error::Schema {
            file: path.to_path_buf(),
            message,
        })
    }

    /// An empty list, for harmonizing with a pipeline's own mappings only.
    pub fn empty(name: &str) -> CodeList {
        CodeList {
            name: name.to_string(),
            codes: Vec::new(),
            index: HashMap::new(),
            lookup: HashMap::new(),
            exact: HashMap::new(),
            strict: false,
        }
    }

    /// The code for a raw value, ignoring case, accents, punctuation and surrounding spaces.
    pub fn lookup(&self, raw: &str) -> Option<&str> {
        if let Some(code) = self.exact.get(&exact_key(raw)) {
            return Some(code);
        }
        if self.strict {
            return None;
        }
        self.lookup.get(&normalize(raw)).map(|s| s.code.as_str())
    }

    pub fn get(&self, code: &str) -> Option<&Code> {
        self.index.get(code).map(|i| &self.codes[*i])
    }

    pub fn label(&self, code: &str) -> Option<&str> {
        self.get(code).map(|c| c.label.as_str())
    }

    pub fn contains_code(&self, code: &str) -> bool {
        self.index.contains_key(code)
    }

    /// Every spelling that maps to `code`, as written in the list.
    pub fn spellings(&self, code: &str) -> Vec<String> {
        let mut out: Vec<String> = self
            .lookup
            .values()
            .filter(|s| s.code == code)
            .map(|s| s.written.clone())
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Up to `n` known spellings closest to `raw`, within an edit distance that grows with its
    /// length (a third of it, at least 1, and less than the length itself).
    pub fn suggest(&self, raw: &str, n: usize) -> Vec<Suggestion> {
        let key = normalize(raw);
        if key.is_empty() {
            return Vec::new();
        }
        let length = key.chars().count();
        let limit = (length / 3).max(1);
        let mut found: Vec<Suggestion> = self
            .lookup
            .iter()
            .filter(|(k, _)| k.len().abs_diff(key.len()) <= limit + 2)
            .map(|(k, s)| Suggestion {
                spelling: s.written.clone(),
                code: s.code.clone(),
                distance: levenshtein(&key, k),
            })
            // within the limit, and not a different word altogether ("X" is not close to "F")
            .filter(|s| s.distance <= limit && s.distance < length)
            .collect();
        found.sort_by(|a, b| {
            a.distance
                .cmp(&b.distance)
                .then(a.code.cmp(&b.code))
                .then(a.spelling.cmp(&b.spelling))
        });
        let mut seen = Vec::new();
        found.retain(|s| {
            let new = !seen.contains(&s.code);
            seen.push(s.code.clone());
            new
        });
        found.truncate(n);
        found
    }

    /// Add spellings from the pipeline (`[harmonize.extra]`); these win over the embedded ones.
    pub fn with_extra<'a>(mut self, extra: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        for (raw, code) in extra {
            self.exact.insert(exact_key(raw), code.to_string());
            self.lookup.insert(
                normalize(raw),
                Spelling {
                    code: code.to_string(),
                    written: raw.to_string(),
                },
            );
        }
        self
    }

    fn add(&mut self, spelling: &str, code: &str) -> std::result::Result<(), String> {
        let key = normalize(spelling);
        if key.is_empty() {
            return Ok(());
        }
        match self.lookup.get(&key) {
            Some(existing) if existing.code != code => Err(format!(
                "the spelling `{spelling}` (normalized `{key}`) maps to both `{}` and `{code}`",
                existing.code
            )),
            Some(_) => Ok(()),
            None => {
                self.lookup.insert(
                    key,
                    Spelling {
                        code: code.to_string(),
                        written: spelling.to_string(),
                    },
                );
                Ok(())
            }
        }
    }
}

fn csv_rows(text: &str) -> std::result::Result<Vec<BTreeMap<String, String>>, String> {
    let mut reader = csv::ReaderBuilder::new().from_reader(text.as_bytes());
    let headers = reader.headers().map_err(|e| e.to_string())?.clone();
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| format!("line {}: {e}", i + 2))?;
        rows.push(
            headers
                .iter()
                .zip(record.iter())
                .map(|(h, v)| (h.to_string(), v.trim().to_string()))
                .collect(),
        );
    }
    Ok(rows)
}

fn field<'a>(row: &'a BTreeMap<String, String>, name: &str) -> &'a str {
    row.get(name).map(String::as_str).unwrap_or("")
}

/// Columns whose single value is a spelling of the code.
const NAME_COLUMNS: &[&str] = &[
    "label", "name_en", "name_fr", "name_ar", "alpha2", "numeric",
];
/// Columns holding `|`-separated spellings.
const LIST_COLUMNS: &[&str] = &["synonyms", "adjectives_fr"];

/// Any code list file: the code in `code` (or `alpha3`), the label in `label` (or `name_en`),
/// spellings in the name and synonym columns, every column kept as an attribute.
fn parse(name: &str, text: &str) -> std::result::Result<CodeList, String> {
    let mut list = CodeList::empty(name);
    for (i, row) in csv_rows(text)?.into_iter().enumerate() {
        let code = match field(&row, "code") {
            "" => field(&row, "alpha3"),
            c => c,
        }
        .to_string();
        if code.is_empty() {
            return Err(format!("line {}: the row has no code", i + 2));
        }
        if list.index.contains_key(&code) {
            return Err(format!("line {}: the code `{code}` is listed twice", i + 2));
        }
        let label = match field(&row, "label") {
            "" => field(&row, "name_en"),
            l => l,
        }
        .to_string();
        // Pseudo-codes (`_U`, `_T`...) only match exactly: folded, `_U` would become a bare `u`.
        list.exact.insert(exact_key(&code), code.clone());
        if !code.starts_with('_') {
            list.add(&code, &code)?;
        }
        for column in NAME_COLUMNS {
            list.add(field(&row, column), &code)?;
        }
        // Numeric codes are often written without their leading zeros ("4" for Afghanistan).
        let numeric = field(&row, "numeric").trim_start_matches('0');
        list.add(numeric, &code)?;
        for column in LIST_COLUMNS {
            for spelling in field(&row, column).split('|') {
                list.add(spelling, &code)?;
            }
        }
        list.index.insert(code.clone(), list.codes.len());
        list.codes.push(Code {
            code,
            label,
            attrs: row,
        });
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_folds_case_accents_and_punctuation() {
        assert_eq!(normalize("  Côte-d'Ivoire "), "cote d ivoire");
        assert_eq!(normalize("FÉMININ"), "feminin");
        assert_eq!(normalize("Congo (RDC)"), "congo rdc");
        // Arabic hamza is a combining mark after NFD, so both spellings of "female" meet.
        assert_eq!(normalize("أنثى"), normalize("انثى"));
    }

    #[test]
    fn every_embedded_list_loads() {
        for name in BUILTIN {
            let list = CodeList::builtin(name).unwrap();
            assert!(!list.codes.is_empty(), "{name}");
        }
        for cw in Crosswalk::NAMES {
            CodeList::country(Crosswalk::parse(cw).unwrap());
        }
    }

    #[test]
    fn sex_synonyms_in_three_languages() {
        let sex = CodeList::builtin("sex").unwrap();
        for (raw, code) in [
            ("F", "F"),
            (" f ", "F"),
            ("Femme", "F"),
            ("féminin", "F"),
            ("FEMININ", "F"),
            ("female", "F"),
            ("أنثى", "F"),
            ("M", "M"),
            ("H", "M"),
            ("Homme", "M"),
            ("Masculin", "M"),
            ("male", "M"),
            ("ذكر", "M"),
            ("inconnu", "_U"),
            ("_U", "_U"),
            (" _o ", "_O"),
        ] {
            assert_eq!(sex.lookup(raw), Some(code), "raw value {raw:?}");
        }
        // Numeric sex codes differ between surveys, so they are never built in; pseudo-codes
        // match only as written, so a stray "T" or "u" is not taken for a total or unknown.
        for raw in ["1", "2", "X", "T", "u", "t"] {
            assert_eq!(sex.lookup(raw), None, "raw value {raw:?}");
        }
        let codes: Vec<&str> = sex.codes.iter().map(|c| c.code.as_str()).collect();
        assert_eq!(codes, ["F", "M", "_T", "_O", "_U", "_N", "_Z"]);
    }

    #[test]
    fn country_from_codes_names_and_adjectives() {
        let country = CodeList::builtin("country").unwrap();
        assert!(country.codes.len() >= 249, "{}", country.codes.len());
        for (raw, code) in [
            ("SEN", "SEN"),
            ("SN", "SEN"),
            ("686", "SEN"),
            ("Senegal", "SEN"),
            ("Sénégal ", "SEN"),
            ("SENEGAL", "SEN"),
            ("sénégalais", "SEN"),
            ("Sénégalaise", "SEN"),
            ("Côte d'Ivoire", "CIV"),
            ("ivoirienne", "CIV"),
            ("Maroc", "MAR"),
            ("marocaine", "MAR"),
            ("Martinique", "MTQ"),
            ("4", "AFG"),
            ("Algérie", "DZA"),
            ("République démocratique du Congo", "COD"),
            ("nigérian", "NGA"),
            ("nigérienne", "NER"),
            ("Pays-Bas", "NLD"),
            ("Égypte", "EGY"),
            ("apatride", "XXA"),
        ] {
            assert_eq!(country.lookup(raw), Some(code), "raw value {raw:?}");
        }
        assert_eq!(country.lookup("Atlantide"), None);
        assert_eq!(country.lookup("MOR"), None, "UNHCR codes are not ISO codes");
    }

    #[test]
    fn crosswalks_read_codes_their_own_way() {
        let unhcr = CodeList::country(Crosswalk::Unhcr);
        assert_eq!(unhcr.lookup("MOR"), Some("MAR"));
        assert_eq!(unhcr.lookup("MAR"), Some("MTQ"));
        assert_eq!(unhcr.lookup("ALG"), Some("DZA"));
        assert_eq!(unhcr.lookup("ARE"), Some("EGY"));
        assert_eq!(unhcr.lookup("STA"), Some("XXA"));
        assert_eq!(unhcr.lookup("Maroc"), Some("MAR"), "names still work");
        let undesa = CodeList::country(Crosswalk::Undesa);
        assert_eq!(undesa.lookup("XXX"), Some("_O"));
        assert_eq!(undesa.lookup("CHI"), Some("CHI"));
        assert_eq!(undesa.lookup("MAR"), Some("MAR"));
        let iso2 = CodeList::country(Crosswalk::Iso2);
        assert_eq!(iso2.lookup("ma"), Some("MAR"));
        assert_eq!(iso2.lookup("MAR"), None, "strict: only alpha-2 codes");
        assert_eq!(iso2.lookup("Maroc"), None);
        let m49 = CodeList::country(Crosswalk::M49Numeric);
        assert_eq!(m49.lookup("504"), Some("MAR"));
        assert_eq!(m49.lookup("4"), Some("AFG"));
        assert_eq!(m49.lookup("004"), Some("AFG"));
        assert_eq!(m49.lookup("AFG"), None);
    }

    #[test]
    fn m49_and_african_union_regions_where_they_disagree() {
        let c = CodeList::builtin("country").unwrap();
        let at = |code: &str, level: RegionLevel| level.of(&c, code);
        // (ISO3, M49 sub-region, M49 intermediate region, AU region)
        for (code, sub, inter, au) in [
            ("AGO", "202", "017", "southern"),
            ("BDI", "202", "014", "central"),
            ("MRT", "202", "011", "northern"),
            ("SDN", "015", "_Z", "eastern"),
            ("MWI", "202", "014", "southern"),
            ("MOZ", "202", "014", "southern"),
            ("ZMB", "202", "014", "southern"),
            ("ZWE", "202", "014", "southern"),
            // and some where they agree
            ("MAR", "015", "_Z", "northern"),
            ("SEN", "202", "011", "western"),
            ("CMR", "202", "017", "central"),
            ("ZAF", "202", "018", "southern"),
            ("SSD", "202", "014", "eastern"),
            // Western Sahara carries the AU region of the SADR, an AU member
            ("ESH", "015", "_Z", "northern"),
        ] {
            assert_eq!(at(code, RegionLevel::M49Region), "002", "{code}");
            assert_eq!(at(code, RegionLevel::M49Subregion), sub, "{code}");
            assert_eq!(at(code, RegionLevel::M49Intermediate), inter, "{code}");
            assert_eq!(at(code, RegionLevel::Au), au, "{code}");
        }
        // M49 Africa holds territories that are not AU members
        for code in ["REU", "MYT", "SHN", "IOT", "ATF"] {
            assert_eq!(at(code, RegionLevel::M49Region), "002", "{code}");
            assert_eq!(at(code, RegionLevel::Au), "_Z", "{code}");
        }
        // the AU has 55 members: 54 states and the SADR (carried by ESH)
        let members = c
            .codes
            .iter()
            .filter(|x| x.attrs.get("au_region").is_some_and(|v| !v.is_empty()))
            .count();
        assert_eq!(members, 55);
        // outside Africa, and pseudo-countries
        assert_eq!(at("FRA", RegionLevel::M49Subregion), "155");
        assert_eq!(at("FRA", RegionLevel::Au), "_Z");
        assert_eq!(at("SYR", RegionLevel::M49Subregion), "145");
        assert_eq!(at("_U", RegionLevel::Au), "_U");
        assert_eq!(at("_O", RegionLevel::M49Region), "_O");
        assert_eq!(at("XXA", RegionLevel::M49Region), "_Z");
        assert_eq!(at("TIB", RegionLevel::M49Region), "_U");
        // every region code used is in the M49 and AU lists
        let m49 = CodeList::builtin("m49-region").unwrap();
        let au = CodeList::builtin("au-region").unwrap();
        for country in &c.codes {
            for level in [
                RegionLevel::M49Region,
                RegionLevel::M49Subregion,
                RegionLevel::M49Intermediate,
            ] {
                let r = level.of(&c, &country.code);
                assert!(
                    r.starts_with('_') || m49.contains_code(&r),
                    "{} {r}",
                    country.code
                );
            }
            let r = RegionLevel::Au.of(&c, &country.code);
            assert!(
                r.starts_with('_') || au.contains_code(&r),
                "{} {r}",
                country.code
            );
        }
    }

    #[test]
    fn morocco_regions_by_name_code_and_arabic() {
        let r = CodeList::builtin("morocco-region").unwrap();
        assert_eq!(r.codes.len(), 12);
        for (raw, code) in [
            ("Tanger-Tétouan-Al Hoceïma", "MA-01"),
            ("L'Oriental", "MA-02"),
            ("Oriental", "MA-02"),
            ("Fès-Meknès", "MA-03"),
            ("rabat sale kenitra", "MA-04"),
            ("Béni Mellal-Khénifra", "MA-05"),
            ("Casablanca-Settat", "MA-06"),
            ("الدار البيضاء سطات", "MA-06"),
            ("Marrakech-Safi", "MA-07"),
            ("Drâa-Tafilalet", "MA-08"),
            ("Souss-Massa", "MA-09"),
            ("Guelmim-Oued Noun", "MA-10"),
            ("Laâyoune-Sakia El Hamra", "MA-11"),
            ("Dakhla-Oued Ed-Dahab", "MA-12"),
            ("12", "MA-12"),
            ("4", "MA-04"),
        ] {
            assert_eq!(r.lookup(raw), Some(code), "{raw}");
        }
        assert!(r.codes.iter().all(|c| c.attrs["parent"] == "MAR"));
    }

    #[test]
    fn age_schemes_have_contiguous_groups() {
        assert_eq!(AgeScheme::FiveYear.groups().len(), 18);
        assert_eq!(AgeScheme::FiveYear.groups()[17], (85, "Y_GE85".to_string()));
        let broad: Vec<String> = AgeScheme::Broad.groups().into_iter().map(|g| g.1).collect();
        assert_eq!(broad, ["Y0T14", "Y15T64", "Y_GE65"]);
        let unhcr: Vec<String> = AgeScheme::Unhcr.groups().into_iter().map(|g| g.1).collect();
        assert_eq!(unhcr, ["Y0T4", "Y5T11", "Y12T17", "Y18T59", "Y_GE60"]);
    }

    #[test]
    fn extra_mappings_win() {
        let sex = CodeList::builtin("sex")
            .unwrap()
            .with_extra([("1", "M"), ("2", "F")]);
        assert_eq!(sex.lookup("1"), Some("M"));
        assert_eq!(sex.lookup("2"), Some("F"));
    }

    #[test]
    fn suggestions_are_close_spellings_never_applied() {
        let country = CodeList::builtin("country").unwrap();
        assert_eq!(country.lookup("Senegall"), None);
        let s = country.suggest("Senegall", 3);
        assert_eq!(s[0].code, "SEN", "{s:?}");
        assert_eq!(s[0].distance, 1);
        assert!(country
            .suggest("Atlantide", 3)
            .iter()
            .all(|s| s.distance <= 3));
        assert!(country.suggest("zzzzzzzzzz", 3).is_empty());
        let sex = CodeList::builtin("sex").unwrap();
        assert!(
            sex.suggest("X", 3).is_empty(),
            "one letter is close to nothing"
        );
        assert_eq!(sex.suggest("Femmme", 3)[0].code, "F");
        assert_eq!(levenshtein("kitten", "sitting"), 3);
        assert_eq!(levenshtein("", "abc"), 3);
    }

    #[test]
    fn ambiguous_spellings_are_refused() {
        let err = parse("t", "code,label,synonyms\nA,Alpha,x\nB,Beta,X\n").unwrap_err();
        assert!(err.contains("`X`"), "{err}");
        let err = parse("t", "code,label\nA,Alpha\nA,Again\n").unwrap_err();
        assert!(err.contains("twice"), "{err}");
    }
}
