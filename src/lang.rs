//! The languages reports are written in, and their message catalogues.
//!
//! Every sentence a report shows comes from a Fluent catalogue (`i18n/<lang>.ftl`, built into
//! the binary): Fluent is Mozilla's format, and the one Rust projects use, and it carries the
//! CLDR plural rules that Arabic needs (six forms where English has two). Numbers are written
//! here rather than by Fluent, which does not group digits: `12 345` in French, `12,345` in
//! English and Arabic (Morocco writes Western digits in Arabic text).

use fluent_bundle::{FluentArgs, FluentBundle, FluentResource, FluentValue};

use crate::vocab::keywords;

keywords! {
    /// The language of the HTML reports (`lang` in the pipeline file, `--lang` on the command
    /// line): French, Arabic (written right to left) or English.
    pub enum Lang as "language" {
        /// Français.
        Fr = "fr",
        /// العربية, right to left.
        Ar = "ar",
        /// English.
        En = "en",
    }
}

impl Lang {
    pub const ALL: [Lang; 3] = [Lang::Fr, Lang::Ar, Lang::En];

    /// The writing direction, as HTML's `dir` attribute takes it.
    pub fn dir(self) -> &'static str {
        match self {
            Lang::Ar => "rtl",
            Lang::Fr | Lang::En => "ltr",
        }
    }

    pub fn is_rtl(self) -> bool {
        self == Lang::Ar
    }

    fn source(self) -> &'static str {
        match self {
            Lang::Fr => include_str!("../i18n/fr.ftl"),
            Lang::Ar => include_str!("../i18n/ar.ftl"),
            Lang::En => include_str!("../i18n/en.ftl"),
        }
    }

    /// The column of the code lists that holds names in this language (`name_fr`, ...).
    pub fn name_column(self) -> &'static str {
        match self {
            Lang::Fr => "name_fr",
            Lang::Ar => "name_ar",
            Lang::En => "name_en",
        }
    }

    /// A whole number with its thousands grouped as the language writes them.
    pub fn count(self, n: u64) -> String {
        let digits = n.to_string();
        let sep = match self {
            // A narrow no-break space, as the Imprimerie nationale and CLDR write French.
            Lang::Fr => '\u{202f}',
            Lang::Ar | Lang::En => ',',
        };
        let mut out = String::with_capacity(digits.len() + digits.len() / 3);
        for (i, ch) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(sep);
            }
            out.push(ch);
        }
        out
    }

    /// A number with `decimals` digits after the decimal mark (a comma in French).
    pub fn decimal(self, x: f64, decimals: usize) -> String {
        let text = format!("{:.*}", decimals, x.abs());
        let (whole, frac) = text.split_once('.').unwrap_or((&text, ""));
        let whole: u64 = whole.parse().unwrap_or(0);
        let sign = if x < 0.0 && text.chars().any(|c| c.is_ascii_digit() && c != '0') {
            "-"
        } else {
            ""
        };
        let mark = if self == Lang::Fr { "," } else { "." };
        match frac {
            "" => format!("{sign}{}", self.count(whole)),
            _ => format!("{sign}{}{mark}{frac}", self.count(whole)),
        }
    }

    /// A share (0 to 1) as a percentage with one decimal.
    pub fn percent(self, share: f64) -> String {
        let space = if self == Lang::Fr { "\u{202f}" } else { "" };
        format!("{}{space}%", self.decimal(share * 100.0, 1))
    }
}

/// One language's messages.
pub struct Catalogue {
    lang: Lang,
    bundle: FluentBundle<FluentResource>,
}

/// Arguments of a message: `("rows", Arg::Count(12))`.
pub enum Arg<'a> {
    /// A count: written with grouped digits, and it chooses the plural form.
    Count(u64),
    Text(&'a str),
}

impl Catalogue {
    pub fn new(lang: Lang) -> Catalogue {
        let resource = FluentResource::try_new(lang.source().to_string())
            .unwrap_or_else(|(_, errors)| panic!("i18n/{lang}.ftl does not parse: {errors:?}"));
        let id = lang.name().parse().expect("a language identifier");
        let mut bundle = FluentBundle::new(vec![id]);
        // Placeables are wrapped in bidi isolates only where the text runs right to left: there
        // they keep a Latin name or a number from reordering the Arabic around it.
        bundle.set_use_isolating(lang.is_rtl());
        bundle.set_formatter(Some(match lang {
            Lang::Fr => format_fr,
            Lang::Ar => format_ar,
            Lang::En => format_en,
        }));
        bundle
            .add_resource(resource)
            .expect("message ids are unique in a catalogue");
        Catalogue { lang, bundle }
    }

    pub fn lang(&self) -> Lang {
        self.lang
    }

    /// The message `id` with its arguments. A missing message is a bug the catalogue test
    /// catches; in a release it shows its id rather than stopping a run.
    pub fn text(&self, id: &str, args: &[(&str, Arg)]) -> String {
        let Some(pattern) = self.bundle.get_message(id).and_then(|m| m.value()) else {
            return id.to_string();
        };
        let mut fluent = FluentArgs::new();
        for (name, arg) in args {
            match arg {
                Arg::Count(n) => fluent.set(*name, FluentValue::from(*n)),
                Arg::Text(t) => fluent.set(*name, FluentValue::from(*t)),
            }
        }
        let mut errors = Vec::new();
        self.bundle
            .format_pattern(pattern, Some(&fluent), &mut errors)
            .into_owned()
    }

    /// A message without arguments.
    pub fn t(&self, id: &str) -> String {
        self.text(id, &[])
    }
}

fn format_number(lang: Lang, value: &FluentValue) -> Option<String> {
    match value {
        FluentValue::Number(n) if n.value.fract() == 0.0 && n.value >= 0.0 => {
            Some(lang.count(n.value as u64))
        }
        _ => None,
    }
}

fn format_fr(value: &FluentValue, _: &intl_memoizer::IntlLangMemoizer) -> Option<String> {
    format_number(Lang::Fr, value)
}

fn format_ar(value: &FluentValue, _: &intl_memoizer::IntlLangMemoizer) -> Option<String> {
    format_number(Lang::Ar, value)
}

fn format_en(value: &FluentValue, _: &intl_memoizer::IntlLangMemoizer) -> Option<String> {
    format_number(Lang::En, value)
}

#[cfg(test)]
mod tests {
    use super::*;

    use fluent_syntax::ast::{Entry, Expression, InlineExpression, Pattern, PatternElement};
    use std::collections::BTreeMap;

    fn pattern_variables(p: &Pattern<&str>, out: &mut Vec<String>) {
        for element in &p.elements {
            if let PatternElement::Placeable { expression } = element {
                expression_variables(expression, out);
            }
        }
    }

    fn expression_variables(e: &Expression<&str>, out: &mut Vec<String>) {
        let inline = |i: &InlineExpression<&str>, out: &mut Vec<String>| match i {
            InlineExpression::VariableReference { id } => out.push(id.name.to_string()),
            InlineExpression::Placeable { expression } => expression_variables(expression, out),
            _ => {}
        };
        match e {
            Expression::Inline(i) => inline(i, out),
            Expression::Select { selector, variants } => {
                inline(selector, out);
                for v in variants {
                    pattern_variables(&v.value, out);
                }
            }
        }
    }

    #[test]
    fn every_catalogue_has_every_message_and_its_arguments() {
        let variables = |lang: Lang| -> BTreeMap<String, Vec<String>> {
            let resource = fluent_syntax::parser::parse(lang.source())
                .unwrap_or_else(|(_, e)| panic!("{lang}: {e:?}"));
            let mut out = BTreeMap::new();
            for entry in resource.body {
                if let Entry::Message(m) = entry {
                    let mut vars = Vec::new();
                    if let Some(p) = &m.value {
                        pattern_variables(p, &mut vars);
                    }
                    vars.sort();
                    vars.dedup();
                    out.insert(m.id.name.to_string(), vars);
                }
            }
            out
        };
        let en = variables(Lang::En);
        for lang in [Lang::Fr, Lang::Ar] {
            let other = variables(lang);
            let missing: Vec<_> = en.keys().filter(|k| !other.contains_key(*k)).collect();
            let extra: Vec<_> = other.keys().filter(|k| !en.contains_key(*k)).collect();
            assert!(missing.is_empty(), "{lang} lacks {missing:?}");
            assert!(extra.is_empty(), "{lang} has {extra:?} that en lacks");
            for (id, vars) in &en {
                assert_eq!(&other[id], vars, "{lang}: `{id}` takes other arguments");
            }
        }
    }

    #[test]
    fn arabic_chooses_its_plural_forms() {
        let ar = Catalogue::new(Lang::Ar);
        let rows = |n| ar.text("rows", &[("count", Arg::Count(n))]);
        // one, two, few (3–10), many (11–99): four different words.
        let forms: std::collections::BTreeSet<String> = [1, 2, 3, 11]
            .iter()
            .map(|n| rows(*n).replace(|c: char| c.is_ascii_digit() || c == ',', ""))
            .collect();
        assert_eq!(forms.len(), 4, "{forms:?}");
        let fr = Catalogue::new(Lang::Fr);
        assert_eq!(
            fr.text("rows", &[("count", Arg::Count(12345))]),
            "12\u{202f}345 lignes"
        );
        assert_eq!(fr.text("rows", &[("count", Arg::Count(1))]), "1 ligne");
    }

    #[test]
    fn numbers_are_written_as_each_language_writes_them() {
        assert_eq!(Lang::En.count(1234567), "1,234,567");
        assert_eq!(Lang::Fr.decimal(1234.5, 1), "1\u{202f}234,5");
        assert_eq!(Lang::En.percent(0.4567), "45.7%");
        assert_eq!(Lang::Fr.percent(0.5), "50,0\u{202f}%");
        assert_eq!(Lang::En.decimal(-0.04, 1), "0.0");
        assert_eq!(Lang::En.decimal(-2.5, 1), "-2.5");
    }
}
