//! Code lists: the standard codes a raw value is harmonized into, with the spellings people use.
//!
//! The built-in lists are CSV files under `schemas/codelists/`, compiled into the binary so that a
//! pipeline runs with no network and no data folder beside it. A pipeline can also name its own
//! CSV list (`code,label,synonyms`).

use std::collections::HashMap;
use std::path::Path;

use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

use crate::error::{Error, Result};

const SEX_CSV: &str = include_str!("../schemas/codelists/sex.csv");
const COUNTRY_CSV: &str = include_str!("../schemas/codelists/country.csv");

/// Names of the embedded code lists, as a pipeline refers to them.
pub const BUILTIN: &[&str] = &["sex", "country"];

/// One standard code and its display label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Code {
    pub code: String,
    pub label: String,
}

/// A code list with a lookup from normalized spellings to codes.
#[derive(Debug, Clone)]
pub struct CodeList {
    pub name: String,
    pub codes: Vec<Code>,
    lookup: HashMap<String, String>,
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

impl CodeList {
    /// An embedded list by name (`sex`, `country`).
    pub fn builtin(name: &str) -> Option<CodeList> {
        let list = match name {
            "sex" => parse_generic("sex", SEX_CSV),
            "country" => parse_country(COUNTRY_CSV),
            _ => return None,
        };
        // The embedded files are checked by unit tests, so a failure here is a build defect.
        Some(list.unwrap_or_else(|e| panic!("embedded code list `{name}` is invalid: {e}")))
    }

    /// A pipeline's own list from a CSV file with columns `code,label,synonyms`.
    pub fn from_file(path: &Path) -> Result<CodeList> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            file: path.to_path_buf(),
            source,
        })?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        parse_generic(&name, &text).map_err(|message| Error::Schema {
            file: path.to_path_buf(),
            message,
        })
    }

    /// An empty list, for harmonizing with a pipeline's own mappings only.
    pub fn empty(name: &str) -> CodeList {
        CodeList {
            name: name.to_string(),
            codes: Vec::new(),
            lookup: HashMap::new(),
        }
    }

    /// The code for a raw value, ignoring case, accents, punctuation and surrounding spaces.
    pub fn lookup(&self, raw: &str) -> Option<&str> {
        self.lookup.get(&normalize(raw)).map(String::as_str)
    }

    pub fn label(&self, code: &str) -> Option<&str> {
        self.codes
            .iter()
            .find(|c| c.code == code)
            .map(|c| c.label.as_str())
    }

    pub fn contains_code(&self, code: &str) -> bool {
        self.codes.iter().any(|c| c.code == code)
    }

    /// Add spellings from the pipeline (`[harmonize.extra]`); these win over the embedded ones.
    pub fn with_extra<'a>(mut self, extra: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        for (raw, code) in extra {
            self.lookup.insert(normalize(raw), code.to_string());
        }
        self
    }

    fn add(&mut self, spelling: &str, code: &str) -> std::result::Result<(), String> {
        let key = normalize(spelling);
        if key.is_empty() {
            return Ok(());
        }
        match self.lookup.get(&key) {
            Some(existing) if existing != code => Err(format!(
                "the spelling `{spelling}` (normalized `{key}`) maps to both `{existing}` and `{code}`"
            )),
            _ => {
                self.lookup.insert(key, code.to_string());
                Ok(())
            }
        }
    }
}

fn csv_rows(text: &str) -> std::result::Result<Vec<HashMap<String, String>>, String> {
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

fn field<'a>(row: &'a HashMap<String, String>, name: &str) -> &'a str {
    row.get(name).map(String::as_str).unwrap_or("")
}

fn parse_generic(name: &str, text: &str) -> std::result::Result<CodeList, String> {
    let mut list = CodeList::empty(name);
    for row in csv_rows(text)? {
        let code = field(&row, "code");
        if code.is_empty() {
            return Err("a row has an empty `code`".into());
        }
        let label = field(&row, "label");
        list.codes.push(Code {
            code: code.to_string(),
            label: label.to_string(),
        });
        list.add(code, code)?;
        list.add(label, code)?;
        for synonym in field(&row, "synonyms").split('|') {
            list.add(synonym, code)?;
        }
    }
    Ok(list)
}

fn parse_country(text: &str) -> std::result::Result<CodeList, String> {
    let mut list = CodeList::empty("country");
    for row in csv_rows(text)? {
        let code = field(&row, "alpha3");
        list.codes.push(Code {
            code: code.to_string(),
            label: field(&row, "name_en").to_string(),
        });
        for column in [
            "alpha3", "alpha2", "numeric", "name_en", "name_fr", "name_ar",
        ] {
            list.add(field(&row, column), code)?;
        }
        // Numeric codes are often written without their leading zeros ("4" for Afghanistan).
        let numeric = field(&row, "numeric").trim_start_matches('0');
        list.add(numeric, code)?;
        for column in ["adjectives_fr", "synonyms"] {
            for spelling in field(&row, column).split('|') {
                list.add(spelling, code)?;
            }
        }
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
        ] {
            assert_eq!(sex.lookup(raw), Some(code), "raw value {raw:?}");
        }
        // Numeric sex codes differ between surveys, so they are never built in.
        assert_eq!(sex.lookup("1"), None);
        assert_eq!(sex.lookup("2"), None);
        assert_eq!(sex.lookup("X"), None);
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
        ] {
            assert_eq!(country.lookup(raw), Some(code), "raw value {raw:?}");
        }
        assert_eq!(country.lookup("Atlantide"), None);
        assert_eq!(country.lookup("MOR"), None, "UNHCR codes are not ISO codes");
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
    fn ambiguous_spellings_are_refused() {
        let err = parse_generic("t", "code,label,synonyms\nA,Alpha,x\nB,Beta,X\n").unwrap_err();
        assert!(err.contains("`X`"), "{err}");
    }
}
