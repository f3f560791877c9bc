//! `marsad codes`: look at the embedded code lists and try a whole column against one before
//! writing the pipeline.

use std::collections::HashMap;
use std::io::{BufRead, Write};

use crate::codelist::{self, CodeList, CountryOutput, Crosswalk};
use crate::error::{Error, Result};

fn usage(message: String) -> Error {
    Error::Usage { message }
}

/// A list by name, read through a crosswalk when it is the country list.
pub fn open(name: &str, crosswalk: Option<Crosswalk>) -> Result<CodeList> {
    match (name, crosswalk) {
        ("country", Some(cw)) => Ok(CodeList::country(cw)),
        (_, Some(_)) => Err(usage("--crosswalk applies to the country list only".into())),
        _ => CodeList::builtin(name).ok_or_else(|| {
            usage(format!(
                "unknown code list `{name}`; embedded lists: {}",
                codelist::BUILTIN.join(", ")
            ))
        }),
    }
}

/// `codes list`: the lists with their sizes, or one list's codes and labels.
pub fn list(name: Option<&str>) -> Result<String> {
    let mut out = String::new();
    match name {
        None => {
            for n in codelist::BUILTIN {
                let l = CodeList::builtin(n).expect("embedded");
                out.push_str(&format!("{n}\t{} codes\n", l.codes.len()));
            }
        }
        Some(n) => {
            for c in &open(n, None)?.codes {
                out.push_str(&format!("{}\t{}\n", c.code, c.label));
            }
        }
    }
    Ok(out)
}

/// `codes show`: everything known about one code.
pub fn show(name: &str, code: &str) -> Result<String> {
    let list = open(name, None)?;
    let found = list
        .get(code)
        .or_else(|| list.lookup(code).and_then(|c| list.get(c)))
        .ok_or_else(|| usage(format!("no code `{code}` in the list `{name}`")))?;
    let mut out = format!("code: {}\nlabel: {}\n", found.code, found.label);
    for (k, v) in &found.attrs {
        if !v.is_empty() {
            out.push_str(&format!("{k}: {v}\n"));
        }
    }
    out.push_str(&format!(
        "spellings: {}\n",
        list.spellings(&found.code).join(" | ")
    ));
    Ok(out)
}

/// `codes map`: `raw<TAB>code<TAB>label` for every input value (empty code when unmapped).
/// Each distinct value is looked up once.
pub fn map(
    list: &CodeList,
    output: Option<CountryOutput>,
    input: impl BufRead,
    mut out: impl Write,
) -> Result<MapCounts> {
    let attr = output.and_then(CountryOutput::attr);
    let write_err = |source| Error::Write {
        path: "standard output".into(),
        source,
    };
    let mut cache: HashMap<String, String> = HashMap::new();
    let mut counts = MapCounts::default();
    for line in input.lines() {
        let raw = line.map_err(|source| Error::Read {
            file: "standard input".into(),
            source,
        })?;
        let raw = raw.strip_suffix('\r').unwrap_or(&raw);
        counts.values += 1;
        if !cache.contains_key(raw) {
            let text = match list.lookup(raw) {
                Some(code) => {
                    let label = list.label(code).unwrap_or("");
                    let shown = attr
                        .and_then(|a| {
                            list.get(code)?
                                .attrs
                                .get(a)
                                .filter(|v| !v.is_empty())
                                .cloned()
                        })
                        .unwrap_or_else(|| code.to_string());
                    format!("{raw}\t{shown}\t{label}\n")
                }
                None => format!("{raw}\t\t\n"),
            };
            cache.insert(raw.to_string(), text);
        }
        let text = &cache[raw];
        if text.ends_with("\t\t\n") {
            counts.unmapped += 1;
        }
        out.write_all(text.as_bytes()).map_err(write_err)?;
    }
    out.flush().map_err(write_err)?;
    Ok(counts)
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct MapCounts {
    pub values: u64,
    pub unmapped: u64,
}

/// The values of one column of a CSV file, one per line, for `codes map --csv`.
pub fn csv_column(path: &std::path::Path, column: &str, delimiter: u8) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).map_err(|source| Error::Read {
        file: path.to_path_buf(),
        source,
    })?;
    let (text, _) = crate::ingest::decode(path, &bytes, crate::spec::Encoding::Auto)?;
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers = reader.headers().map_err(|e| Error::Input {
        file: path.to_path_buf(),
        line: 1,
        message: format!("cannot read the header: {e}"),
    })?;
    let index = headers
        .iter()
        .position(|h| h.trim() == column)
        .ok_or_else(|| Error::Input {
            file: path.to_path_buf(),
            line: 1,
            message: format!(
                "no column `{column}` in the header ({})",
                headers.iter().collect::<Vec<_>>().join(", ")
            ),
        })?;
    let mut out = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| Error::Input {
            file: path.to_path_buf(),
            line: e.position().map_or(0, |p| p.line() as usize),
            message: e.to_string(),
        })?;
        out.extend_from_slice(
            record
                .get(index)
                .unwrap_or("")
                .replace('\n', " ")
                .as_bytes(),
        );
        out.push(b'\n');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_prints_code_and_label_and_leaves_unknowns_empty() {
        let list = open("country", None).unwrap();
        let mut out = Vec::new();
        let counts = map(
            &list,
            None,
            "Sénégalaise\nSEN\nAtlantide\nSEN\n".as_bytes(),
            &mut out,
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "Sénégalaise\tSEN\tSenegal\nSEN\tSEN\tSenegal\nAtlantide\t\t\nSEN\tSEN\tSenegal\n"
        );
        assert_eq!(
            counts,
            MapCounts {
                values: 4,
                unmapped: 1
            }
        );
        let mut out = Vec::new();
        map(
            &list,
            Some(CountryOutput::Iso2),
            "Maroc\n".as_bytes(),
            &mut out,
        )
        .unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "Maroc\tMA\tMorocco\n");
    }

    #[test]
    fn unknown_lists_and_codes_are_explained() {
        assert!(open("gender", None)
            .unwrap_err()
            .to_string()
            .contains("sex, country"));
        assert!(open("sex", Some(Crosswalk::Unhcr))
            .unwrap_err()
            .to_string()
            .contains("country list only"));
        assert!(show("country", "ZZZ")
            .unwrap_err()
            .to_string()
            .contains("no code `ZZZ`"));
        let text = show("country", "Maroc").unwrap();
        assert!(text.starts_with("code: MAR\nlabel: Morocco\n"), "{text}");
        assert!(text.contains("marocaine"), "{text}");
    }
}
