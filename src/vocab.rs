//! The shared vocabularies every stage speaks: SDMX codes, statuses, rule names and the ways a
//! file can be written. They sit at the bottom of the crate so that a code means one thing
//! everywhere: `F` is `Sex::Female`, `ConfStatus::Free` or `Reliability::TooUnreliable`, never
//! a bare string compared with `==`.
//!
//! Each type writes itself as the code of its standard (SDMX global code lists, Frictionless
//! error names), so files and manifests read exactly as before the types existed.

use std::fmt;

use serde::Serialize;

/// An enum of keywords as the pipeline file and the command line write them. Each gets its
/// `NAMES`, `name()`, `parse()`, `Display`, `FromStr` (used by clap), a serde `Deserialize`
/// (used by the pipeline file) whose error names what is expected, and a JSON Schema (the
/// names as an `enum`, the doc comments as its description), so one list of names serves every
/// place a keyword is read or documented.
///
/// The enum and its variants take doc comments only, which are read as text for the schema: a
/// `macro_rules!` pattern cannot tell a doc comment from another attribute taken as a `meta`, so
/// a trait such as `Default` is implemented by hand.
macro_rules! keywords {
    (
        $(#[doc = $doc:literal])*
        $vis:vis enum $name:ident as $what:literal {
            $($(#[doc = $vdoc:literal])* $variant:ident = $text:literal),+ $(,)?
        }
    ) => {
        $(#[doc = $doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis enum $name {
            $($(#[doc = $vdoc])* $variant),+
        }

        impl $name {
            pub const NAMES: &'static [&'static str] = &[$($text),+];

            pub fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            pub fn parse(name: &str) -> Option<$name> {
                match name {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                $name::parse(s).ok_or_else(|| {
                    format!("unknown {} `{s}`; known: {}", $what, $name::NAMES.join(", "))
                })
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.name())
            }
        }

        impl schemars::JsonSchema for $name {
            // defined once under `definitions`, with the description of each keyword
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }

            fn schema_id() -> std::borrow::Cow<'static, str> {
                concat!(module_path!(), "::", stringify!($name)).into()
            }

            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                let description = $crate::vocab::keyword_description(
                    &[$($doc),*],
                    &[$(($text, &[$($vdoc),*])),+],
                );
                schemars::json_schema!({
                    "description": description,
                    "type": "string",
                    "enum": $name::NAMES,
                })
            }
        }
    };
}
pub(crate) use keywords;

/// The description of a keyword enum in the JSON Schema: the enum's doc comment, then a list
/// item for each keyword that has its own, such as ``- `iso2`: Only ISO alpha-2 codes.``.
pub(crate) fn keyword_description(doc: &[&str], keywords: &[(&str, &[&str])]) -> String {
    let mut text = doc_text(doc);
    let documented: Vec<String> = keywords
        .iter()
        .filter(|(_, doc)| !doc.is_empty())
        .map(|(name, doc)| format!("- `{name}`: {}", doc_text(doc).replace('\n', " ")))
        .collect();
    if !documented.is_empty() {
        text.push_str("\n\n");
        text.push_str(&documented.join("\n"));
    }
    text
}

/// The lines of a doc comment (`#[doc = " text"]` each) as one text, as rustdoc reads it.
fn doc_text(lines: &[&str]) -> String {
    lines
        .iter()
        .map(|line| line.strip_prefix(' ').unwrap_or(line).trim_end())
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_string()
}

/// The total of a dimension (SDMX `_T`), which marsad computes itself.
pub const TOTAL: &str = "_T";
/// Unknown (SDMX `_U`): a missing or unstated value, kept visible rather than dropped.
pub const UNKNOWN: &str = "_U";
/// Other (SDMX `_O`).
pub const OTHER: &str = "_O";
/// Not applicable (SDMX `_Z`).
pub const NOT_APPLICABLE: &str = "_Z";

/// SDMX `CL_SEX` codes that every sex-disaggregated table shows.
pub mod sex {
    /// Female.
    pub const FEMALE: &str = "F";
    /// Male.
    pub const MALE: &str = "M";
    /// The rows every table by sex has for each combination of the other dimensions, so that
    /// unknown sex stays visible: `_T = F + M + _U`.
    pub const COMPLETE: [&str; 3] = [FEMALE, MALE, super::UNKNOWN];
}

/// SDMX `CL_OBS_STATUS` codes a published cell can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ObsStatus {
    /// `A`: normal value.
    Normal,
    /// `Q`: missing value; suppressed by disclosure control.
    Suppressed,
    /// `U`: low reliability (survey estimates flagged `E` or `F`).
    LowReliability,
}

impl ObsStatus {
    pub const fn code(self) -> &'static str {
        match self {
            ObsStatus::Normal => "A",
            ObsStatus::Suppressed => "Q",
            ObsStatus::LowReliability => "U",
        }
    }
}

/// SDMX `CL_CONF_STATUS` codes a published cell can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConfStatus {
    /// `F`: free for publication.
    Free,
    /// `C`: confidential statistical information (a sensitive cell).
    Confidential,
    /// `D`: secondary confidentiality, hidden to protect a confidential cell.
    Secondary,
}

impl ConfStatus {
    pub const fn code(self) -> &'static str {
        match self {
            ConfStatus::Free => "F",
            ConfStatus::Confidential => "C",
            ConfStatus::Secondary => "D",
        }
    }
}

/// Statistics Canada's quality letter for a survey estimate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reliability {
    /// `A`: published as is.
    Acceptable,
    /// `E`: published, use with caution.
    UseWithCaution,
    /// `F`: too unreliable to be published.
    TooUnreliable,
}

impl Reliability {
    pub fn code(self) -> &'static str {
        match self {
            Reliability::Acceptable => "A",
            Reliability::UseWithCaution => "E",
            Reliability::TooUnreliable => "F",
        }
    }

    pub fn from_code(code: &str) -> Option<Reliability> {
        [
            Reliability::Acceptable,
            Reliability::UseWithCaution,
            Reliability::TooUnreliable,
        ]
        .into_iter()
        .find(|r| r.code() == code)
    }
}

/// What a run ended as, written into the manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Not decided yet (never written).
    #[default]
    #[serde(rename = "")]
    Open,
    /// `marsad run` published every output.
    Published,
    /// `marsad validate` read and checked every source.
    Validated,
    /// More rows were rejected than `max_rejected` allows: nothing was published.
    Rejected,
    /// `marsad run` found every output's current release made from the same inputs.
    #[serde(rename = "up to date")]
    UpToDate,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Open => "",
            Status::Published => "published",
            Status::Validated => "validated",
            Status::Rejected => "rejected",
            Status::UpToDate => "up to date",
        })
    }
}

/// How a table was protected, as the manifest and the report name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Method {
    /// Not protected yet (never written).
    #[default]
    Open,
    Suppress,
    Round {
        base: u32,
    },
    Reliability,
    None,
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Method::Open => Ok(()),
            Method::Suppress => f.write_str("suppress"),
            Method::Round { base } => write!(f, "round (base {base})"),
            Method::Reliability => f.write_str("reliability"),
            Method::None => f.write_str("none"),
        }
    }
}

impl Serialize for Method {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The rule a quarantined row broke. Structural and schema rules are named as Frictionless
/// names its errors and constraints; pipeline rules carry the pipeline's own name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rule {
    MissingCell,
    ExtraCell,
    BlankRow,
    UnterminatedQuote,
    Type,
    Required,
    Minimum,
    Maximum,
    MinLength,
    MaxLength,
    Pattern,
    Enum,
    Unique,
    PrimaryKey,
    /// A key not found among the referenced source's (Table Schema `foreignKeys`).
    ForeignKey,
    /// A number a table sums or the survey design reads is NaN or infinite.
    Finite,
    /// A `[[check]]` of the pipeline (or a survey design check), by its name.
    Check(String),
    /// A value not found in the named code list.
    Codelist(String),
}

impl Rule {
    /// The rule's name as written in the quarantine: `minimum`, `check:<name>`, ...
    pub fn name(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Rule::MissingCell => "missing-cell",
            Rule::ExtraCell => "extra-cell",
            Rule::BlankRow => "blank-row",
            Rule::UnterminatedQuote => "unterminated-quote",
            Rule::Type => "type",
            Rule::Required => "required",
            Rule::Minimum => "minimum",
            Rule::Maximum => "maximum",
            Rule::MinLength => "minLength",
            Rule::MaxLength => "maxLength",
            Rule::Pattern => "pattern",
            Rule::Enum => "enum",
            Rule::Unique => "unique",
            Rule::PrimaryKey => "primaryKey",
            Rule::ForeignKey => "foreignKey",
            Rule::Finite => "finite",
            Rule::Check(name) => return write!(f, "check:{name}"),
            Rule::Codelist(list) => return write!(f, "codelist:{list}"),
        };
        f.write_str(name)
    }
}

keywords! {
    /// The character encodings marsad reads, as the pipeline file and `--encoding` name them.
    pub enum Encoding as "encoding" {
        /// UTF-8, or Windows-1252 for a file that is not valid UTF-8 (the default).
        Auto = "auto",
        /// UTF-8 only: a byte that is not valid UTF-8 is an error.
        Utf8 = "utf-8",
        /// Windows-1252 (Western European), as Excel on Windows saves CSV files.
        Windows1252 = "windows-1252",
        /// ISO-8859-1 (Latin-1), read as Windows-1252, from which it differs only in control
        /// characters.
        Iso88591 = "iso-8859-1",
        /// Windows-1256 (Arabic), as Excel on an Arabic-locale Windows saves CSV files.
        Windows1256 = "windows-1256",
        /// UTF-16 little-endian; a file starting with its byte-order mark is read so under any
        /// setting (Excel's "Unicode text").
        Utf16Le = "utf-16le",
        /// UTF-16 big-endian; likewise recognised by its byte-order mark.
        Utf16Be = "utf-16be",
    }
}

// `keywords!` takes doc comments only, so the default variant cannot be marked `#[default]`
#[allow(clippy::derivable_impls)]
impl Default for Encoding {
    fn default() -> Self {
        Encoding::Auto
    }
}

/// One ASCII byte separating fields (or quoting them): `,`, `;`, `|`, or a tab written `\t`
/// or `tab`. The pipeline file and the command line read it the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delimiter(pub u8);

impl Delimiter {
    pub fn parse(raw: &str) -> Result<Delimiter, String> {
        let value = match raw {
            "\\t" | "tab" => "\t",
            other => other,
        };
        match value.as_bytes() {
            [b] if b.is_ascii() => Ok(Delimiter(*b)),
            _ => Err(format!(
                "must be one ASCII character such as `,` `;` or `\\t`, not `{raw}`"
            )),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Delimiter {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Delimiter::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl std::str::FromStr for Delimiter {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Delimiter::parse(s).map_err(|e| format!("the delimiter {e}"))
    }
}

/// Written as the character itself, so that the JSON Schema shows the default (`","`).
impl serde::Serialize for Delimiter {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_char(char::from(self.0))
    }
}

/// One ASCII character, or `tab` or `\t` (backslash, t) for a tab, as [`Delimiter::parse`]
/// reads it.
impl schemars::JsonSchema for Delimiter {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Delimiter".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": r"^(?:[\x00-\x7F]|tab|\\t)$",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_are_written_as_frictionless_names_them() {
        assert_eq!(Rule::MissingCell.to_string(), "missing-cell");
        assert_eq!(Rule::PrimaryKey.to_string(), "primaryKey");
        assert_eq!(Rule::Check("age".into()).to_string(), "check:age");
        assert_eq!(Rule::Codelist("sex".into()).to_string(), "codelist:sex");
    }

    #[test]
    fn delimiters_read_alike_from_file_and_command_line() {
        assert_eq!(Delimiter::parse("tab"), Ok(Delimiter(b'\t')));
        assert_eq!(Delimiter::parse("\\t"), Ok(Delimiter(b'\t')));
        assert_eq!(Delimiter::parse(";"), Ok(Delimiter(b';')));
        assert!(Delimiter::parse(";;").is_err());
        assert!(Delimiter::parse("é").is_err());
    }

    #[test]
    fn one_letter_three_meanings() {
        assert_eq!(sex::FEMALE, "F");
        assert_eq!(ConfStatus::Free.code(), "F");
        assert_eq!(Reliability::TooUnreliable.code(), "F");
        assert_eq!(
            Reliability::from_code("E"),
            Some(Reliability::UseWithCaution)
        );
    }
}

/// Spreadsheet cell references as Excel writes them (`C17`, `A3:F200`): the quarantine names a
/// spreadsheet's bad cell this way, and a pipeline gives a sheet's table this way.
pub mod cells {
    /// `C17` for the cell of a sheet's 0-based column and 1-based row.
    pub fn cell_name(column: u32, row: u64) -> String {
        format!("{}{row}", column_letters(column))
    }

    /// `Titres!C17` for a cell, `Titres!17:17` for a whole row (a structural error); a sheet
    /// name with spaces or punctuation is quoted, as Excel writes it (`'Titres 2024'!C17`).
    pub fn cell_ref(sheet: &str, column: Option<u32>, row: u64) -> String {
        let plain = sheet.chars().all(|c| c.is_alphanumeric() || c == '_');
        let sheet = if plain {
            sheet.to_string()
        } else {
            format!("'{}'", sheet.replace('\'', "''"))
        };
        match column {
            Some(c) => format!("{sheet}!{}", cell_name(c, row)),
            None => format!("{sheet}!{row}:{row}"),
        }
    }

    /// `A` for 0, `Z` for 25, `AA` for 26.
    pub fn column_letters(column: u32) -> String {
        let mut n = column + 1;
        let mut letters = Vec::new();
        while n > 0 {
            let rem = (n - 1) % 26;
            letters.push(b'A' + rem as u8);
            n = (n - 1) / 26;
        }
        letters.reverse();
        String::from_utf8(letters).expect("ASCII letters")
    }

    /// `A3:F200` as 0-based (row, column) corners.
    pub fn parse_range(text: &str) -> Option<((u32, u32), (u32, u32))> {
        let (a, b) = text.trim().split_once(':')?;
        let (a, b) = (parse_cell(a)?, parse_cell(b)?);
        (a.0 <= b.0 && a.1 <= b.1).then_some((a, b))
    }

    fn parse_cell(text: &str) -> Option<(u32, u32)> {
        let text = text.trim().to_ascii_uppercase();
        let split = text.find(|c: char| c.is_ascii_digit())?;
        let (letters, digits) = text.split_at(split);
        if letters.is_empty() || !letters.bytes().all(|b| b.is_ascii_uppercase()) {
            return None;
        }
        let column = letters.bytes().try_fold(0u32, |n, b| {
            n.checked_mul(26)?.checked_add(u32::from(b - b'A' + 1))
        })?;
        let row: u32 = digits.parse().ok()?;
        (row >= 1).then_some((row - 1, column - 1))
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn cells_are_named_as_in_excel() {
            assert_eq!(cell_name(2, 17), "C17");
            assert_eq!(column_letters(25), "Z");
            assert_eq!(column_letters(26), "AA");
            assert_eq!(column_letters(701), "ZZ");
            assert_eq!(column_letters(702), "AAA");
            assert_eq!(cell_ref("Titres", Some(2), 17), "Titres!C17");
            assert_eq!(cell_ref("Titres 2024", None, 9), "'Titres 2024'!9:9");
            assert_eq!(cell_ref("L'an", Some(0), 1), "'L''an'!A1");
            assert_eq!(parse_range("A3:F200"), Some(((2, 0), (199, 5))));
            assert_eq!(parse_range("aa1:ab2"), Some(((0, 26), (1, 27))));
            for bad in ["A3", "F200:A3", "3A:F2", "A0:B2", ":"] {
                assert_eq!(parse_range(bad), None, "{bad}");
            }
        }
    }
}
