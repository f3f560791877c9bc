//! The pictures of the publication, drawn as inline SVG: a population pyramid, bars by sex of
//! the largest groups, a line by sex over time. A hidden cell is drawn as a hatched stub
//! marked "c", never as a zero; unknown sex is drawn apart, never dropped. Each bar carries its
//! sex, code and value as `data-` attributes and the figure its scale (pixels per unit), so a
//! test in a browser can check lengths against the table. For a right-to-left page every
//! shape is mirrored (x becomes width − x) and text anchors swap, so women and men change sides
//! as readers of Arabic expect while the numbers stay readable.

use std::fmt::Write;

use super::html::esc;
use crate::lang::{Arg, Catalogue};

/// A cell as the publication shows it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    Shown(f64),
    /// Suppressed: drawn hatched, marked "c".
    Hidden,
}

impl Value {
    pub fn shown(self) -> f64 {
        match self {
            Value::Shown(v) => v,
            Value::Hidden => 0.0,
        }
    }
}

/// The three sexes a chart draws, in the SDMX codes of the tables.
pub const SEXES: [(&str, &str); 3] = [("F", "sex-F"), ("M", "sex-M"), ("_U", "sex-U")];

/// One row of a chart: a category (age group, nationality, year) with its value for each of
/// `SEXES`.
#[derive(Debug, Clone)]
pub struct Row {
    pub code: String,
    pub label: String,
    pub by_sex: [Value; 3],
    /// The total over sex (`_T`).
    pub total: Value,
    /// The share of women (0 to 1) where the table publishes it.
    pub share_women: Option<f64>,
}

/// Where shapes go, mirrored for right-to-left pages.
struct Canvas {
    width: f64,
    rtl: bool,
    out: String,
}

const HATCH_STUB: f64 = 16.0;

impl Canvas {
    fn new(width: f64, height: f64, rtl: bool, scale: f64, kind: &str) -> Canvas {
        let mut out = String::new();
        let _ = write!(
            out,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart {kind}\" width=\"{width}\" \
height=\"{height}\" viewBox=\"0 0 {width} {height}\" data-scale=\"{scale}\" role=\"img\">\
<defs><pattern id=\"hatch\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" \
patternTransform=\"rotate(45)\"><rect width=\"6\" height=\"6\" fill=\"#fff\"/>\
<line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\" stroke=\"#555\" stroke-width=\"2\"/></pattern></defs>"
        );
        Canvas { width, rtl, out }
    }

    /// The x of a point, mirrored on a right-to-left page.
    fn x(&self, x: f64) -> f64 {
        if self.rtl {
            self.width - x
        } else {
            x
        }
    }

    /// A bar from `x` to `x + w` (left to right on a left-to-right page).
    fn bar(&mut self, [x, y, w, h]: [f64; 4], sex: &str, code: &str, value: Value) {
        let left = if self.rtl { self.width - x - w } else { x };
        let class = sex.trim_start_matches('_');
        match value {
            Value::Shown(v) => {
                let _ = writeln!(
                    self.out,
                    "<rect class=\"bar {class}\" x=\"{left:.2}\" y=\"{y:.2}\" width=\"{w:.3}\" \
height=\"{h:.2}\" data-sex=\"{sex}\" data-code=\"{code}\" data-value=\"{v}\"/>",
                    code = esc(code),
                );
            }
            Value::Hidden => {
                let _ = writeln!(
                    self.out,
                    "<rect class=\"bar hidden\" x=\"{left:.2}\" y=\"{y:.2}\" width=\"{w:.3}\" \
height=\"{h:.2}\" fill=\"url(#hatch)\" stroke=\"#555\" data-sex=\"{sex}\" data-code=\"{code}\" \
data-value=\"c\"/>",
                    code = esc(code),
                );
            }
        }
    }

    /// Text at `x`, anchored at its start, end or middle. The text inherits the page's
    /// direction, in which "start" is already the right-hand end on a right-to-left page: the
    /// anchor mirrors itself along with x.
    fn text(&mut self, x: f64, y: f64, anchor: &str, text: &str) {
        let _ = writeln!(
            self.out,
            "<text x=\"{:.2}\" y=\"{y:.2}\" text-anchor=\"{anchor}\">{}</text>",
            self.x(x),
            esc(text)
        );
    }

    fn finish(mut self) -> String {
        self.out.push_str("</svg>");
        self.out
    }
}

/// The text beside a bar: the value, or "c".
fn figure(cat: &Catalogue, value: Value) -> String {
    match value {
        Value::Shown(v) if v.fract() == 0.0 && v >= 0.0 => cat.lang().count(v as u64),
        Value::Shown(v) => cat.lang().decimal(v, 1),
        Value::Hidden => cat.t("confidential"),
    }
}

/// Pixels per unit so that the largest value of `rows` fills `room`.
fn scale_for(rows: &[Row], room: f64) -> f64 {
    let max = rows
        .iter()
        .flat_map(|r| r.by_sex.iter().map(|v| v.shown()))
        .fold(0.0, f64::max);
    if max > 0.0 {
        room / max
    } else {
        0.0
    }
}

/// The length of a bar, or the stub of a hidden one.
fn length(value: Value, scale: f64) -> f64 {
    match value {
        Value::Shown(v) => v * scale,
        Value::Hidden => HATCH_STUB,
    }
}

/// A population pyramid: `rows` are age groups from the youngest; men on the left and women on
/// the right of a left-to-right page, unknown sex in a column of its own on the far side, on
/// the same scale.
pub fn pyramid(cat: &Catalogue, rows: &[Row]) -> String {
    const SIDE: f64 = 220.0;
    const LABELS: f64 = 90.0;
    const UNKNOWN: f64 = 130.0;
    const ROW: f64 = 18.0;
    const ROOM_FOR_FIGURES: f64 = 44.0;
    let (left, centre) = (10.0 + ROOM_FOR_FIGURES, 10.0 + ROOM_FOR_FIGURES + SIDE);
    let right = centre + LABELS;
    let unknown = right + SIDE + ROOM_FOR_FIGURES + 16.0;
    let width = unknown + UNKNOWN + ROOM_FOR_FIGURES + 10.0;
    let height = 34.0 + ROW * rows.len() as f64 + 10.0;
    let scale = scale_for(rows, SIDE);
    let mut c = Canvas::new(width, height, cat.lang().is_rtl(), scale, "pyramid");
    c.text(centre - SIDE / 2.0, 14.0, "middle", &cat.t("sex-M"));
    c.text(right + SIDE / 2.0, 14.0, "middle", &cat.t("sex-F"));
    c.text(unknown, 14.0, "start", &cat.t("sex-U"));
    // The oldest group on top.
    for (k, row) in rows.iter().rev().enumerate() {
        let y = 24.0 + ROW * k as f64;
        let [f, m, u] = row.by_sex;
        let h = ROW - 4.0;
        let wm = length(m, scale);
        c.bar([centre - wm, y, wm, h], "M", &row.code, m);
        c.text(centre - wm - 3.0, y + h - 3.0, "end", &figure(cat, m));
        c.text(centre + LABELS / 2.0, y + h - 3.0, "middle", &row.label);
        let wf = length(f, scale);
        c.bar([right, y, wf, h], "F", &row.code, f);
        c.text(right + wf + 3.0, y + h - 3.0, "start", &figure(cat, f));
        let wu = length(u, scale);
        c.bar([unknown, y, wu, h], "_U", &row.code, u);
        c.text(unknown + wu + 3.0, y + h - 3.0, "start", &figure(cat, u));
    }
    let _ = left;
    let axis = |c: &mut Canvas, x: f64| {
        let x = c.x(x);
        let _ = write!(
            c.out,
            "<line class=\"axis\" x1=\"{x:.2}\" y1=\"22\" x2=\"{x:.2}\" y2=\"{:.2}\"/>",
            height - 8.0
        );
    };
    axis(&mut c, centre);
    axis(&mut c, right);
    axis(&mut c, unknown);
    c.finish()
}

/// Bars by sex for each of `rows` (the largest groups of one dimension), each group's share of
/// women beside it.
pub fn bars(cat: &Catalogue, rows: &[Row]) -> String {
    const LABELS: f64 = 170.0;
    const ROOM: f64 = 360.0;
    const BAR: f64 = 9.0;
    let group = BAR * 3.0 + 10.0;
    let (start, width) = (10.0 + LABELS, 10.0 + LABELS + ROOM + 150.0);
    let height = 10.0 + group * rows.len() as f64;
    let scale = scale_for(rows, ROOM);
    let mut c = Canvas::new(width, height, cat.lang().is_rtl(), scale, "bars");
    for (k, row) in rows.iter().enumerate() {
        let y = 6.0 + group * k as f64;
        c.text(
            start - 6.0,
            y + BAR * 1.5 + 4.0,
            "end",
            &shorten(&row.label, 28),
        );
        for (s, (sex, _)) in SEXES.iter().enumerate() {
            let value = row.by_sex[s];
            let w = length(value, scale);
            let top = y + BAR * s as f64;
            c.bar([start, top, w, BAR - 1.0], sex, &row.code, value);
            c.text(
                start + w + 3.0,
                top + BAR - 1.5,
                "start",
                &figure(cat, value),
            );
        }
        if let Some(share) = row.share_women {
            let text = format!("{} {}", cat.t("share-women"), cat.lang().percent(share));
            c.text(width - 8.0, y + BAR * 1.5 + 4.0, "end", &text);
        }
    }
    c.finish()
}

/// A line by sex over `rows` (periods, in order); a hidden value breaks the line and is
/// marked "c" on the axis.
pub fn line(cat: &Catalogue, rows: &[Row]) -> String {
    const PLOT_W: f64 = 520.0;
    const PLOT_H: f64 = 200.0;
    let (x0, y0) = (60.0, 20.0 + PLOT_H);
    let width = x0 + PLOT_W + 40.0;
    let height = y0 + 40.0;
    let scale = scale_for(rows, PLOT_H);
    let step = if rows.len() > 1 {
        PLOT_W / (rows.len() - 1) as f64
    } else {
        0.0
    };
    let mut c = Canvas::new(width, height, cat.lang().is_rtl(), scale, "line");
    let _ = write!(
        c.out,
        "<line class=\"axis\" x1=\"{:.2}\" y1=\"{y0}\" x2=\"{:.2}\" y2=\"{y0}\"/>",
        c.x(x0),
        c.x(x0 + PLOT_W)
    );
    // About one label per 50 pixels, the last period always labelled.
    let every = ((50.0 / step.max(1.0)).ceil() as usize).max(1);
    for (k, row) in rows.iter().enumerate() {
        if (rows.len() - 1 - k).is_multiple_of(every) {
            c.text(x0 + step * k as f64, y0 + 16.0, "middle", &row.label);
        }
    }
    for (s, (sex, _)) in SEXES.iter().enumerate() {
        let class = sex.trim_start_matches('_');
        let mut run: Vec<String> = Vec::new();
        let mut runs = Vec::new();
        for (k, row) in rows.iter().enumerate() {
            let x = c.x(x0 + step * k as f64);
            match row.by_sex[s] {
                Value::Shown(v) => {
                    let y = y0 - v * scale;
                    run.push(format!("{x:.2},{y:.2}"));
                    let _ = write!(
                        c.out,
                        "<circle class=\"{class}\" cx=\"{x:.2}\" cy=\"{y:.2}\" r=\"3\" \
data-sex=\"{sex}\" data-code=\"{}\" data-value=\"{v}\"/>",
                        esc(&row.code)
                    );
                }
                Value::Hidden => {
                    runs.push(std::mem::take(&mut run));
                    let _ = write!(
                        c.out,
                        "<rect class=\"hidden\" x=\"{:.2}\" y=\"{:.2}\" width=\"8\" height=\"8\" \
fill=\"url(#hatch)\" stroke=\"#555\" data-sex=\"{sex}\" data-code=\"{}\" data-value=\"c\"/>",
                        x - 4.0,
                        y0 - 4.0 - 10.0 * s as f64,
                        esc(&row.code)
                    );
                }
            }
        }
        runs.push(run);
        for points in runs.iter().filter(|r| r.len() > 1) {
            let _ = write!(
                c.out,
                "<polyline class=\"{class}\" stroke-width=\"2\" points=\"{}\"/>",
                points.join(" ")
            );
        }
    }
    c.finish()
}

/// A label cut to `max` characters with an ellipsis, so that it fits beside its bars.
fn shorten(label: &str, max: usize) -> String {
    if label.chars().count() <= max {
        return label.to_string();
    }
    let cut: String = label.chars().take(max - 1).collect();
    format!("{}…", cut.trim_end())
}

/// The key to a chart's colours and to "c".
pub fn legend(cat: &Catalogue) -> String {
    let mut s = String::from("<p class=\"legend\">");
    for (sex, id) in SEXES {
        let colour = match sex {
            "F" => "#b5179e",
            "M" => "#3a6ea5",
            _ => "#8d8d8d",
        };
        let _ = write!(
            s,
            "<span><i class=\"swatch\" style=\"background:{colour}\"></i>{}</span>",
            esc(&cat.t(id))
        );
    }
    let _ = write!(
        s,
        "<span><i class=\"swatch\" style=\"background:repeating-linear-gradient(45deg,#555 0 2px,#fff 2px 5px)\"></i>{}</span></p>",
        esc(&cat.t("confidential-legend"))
    );
    s
}

/// An age group's code as people read it: `Y20T24` is 20–24, `Y_GE85` 85+.
pub fn age_label(cat: &Catalogue, code: &str) -> String {
    if let Some(low) = code.strip_prefix("Y_GE") {
        return cat.text("age-open", &[("low", Arg::Text(low))]);
    }
    if let Some((low, high)) = code.strip_prefix('Y').and_then(|r| r.split_once('T')) {
        if low.chars().all(|c| c.is_ascii_digit()) && high.chars().all(|c| c.is_ascii_digit()) {
            // Isolated left to right on an Arabic page, or the range reads backwards (24–20).
            return match cat.lang().is_rtl() {
                true => format!("\u{2066}{low}–{high}\u{2069}"),
                false => format!("{low}–{high}"),
            };
        }
    }
    if code == "_U" {
        return cat.t("age-unknown");
    }
    code.to_string()
}

/// Where an age group sorts: by its lower bound, "not stated" last.
pub fn age_order(code: &str) -> (u32, u32) {
    let digits: String = code
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(|c| c.is_ascii_digit())
        .collect();
    match digits.parse() {
        Ok(low) => (0, low),
        Err(_) => (1, 0),
    }
}

/// Whether every code of a dimension is an age group (`Y0T4`, `Y_GE85`, `_U`, `_T`).
pub fn is_age_dimension<'a>(mut codes: impl Iterator<Item = &'a str>) -> bool {
    let mut any = false;
    let ok = codes.all(|c| {
        let age = c.starts_with("Y_GE")
            || c.strip_prefix('Y')
                .and_then(|r| r.split_once('T'))
                .is_some_and(|(a, b)| {
                    !a.is_empty()
                        && a.chars().all(|x| x.is_ascii_digit())
                        && b.chars().all(|x| x.is_ascii_digit())
                });
        any |= age;
        age || c == "_U" || c == "_T"
    });
    ok && any
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lang::Lang;

    fn rows() -> Vec<Row> {
        let row = |code: &str, f, m, u| Row {
            code: code.into(),
            label: code.into(),
            by_sex: [f, m, u],
            total: Value::Shown(0.0),
            share_women: None,
        };
        vec![
            row(
                "Y0T4",
                Value::Shown(10.0),
                Value::Shown(20.0),
                Value::Shown(1.0),
            ),
            row("Y5T9", Value::Hidden, Value::Shown(5.0), Value::Shown(0.0)),
        ]
    }

    /// (sex, x, width, value) of each bar.
    fn bars(svg: &str) -> Vec<(String, f64, f64, String)> {
        let attr = |tag: &str, name: &str| {
            let start = tag.find(&format!(" {name}=\"")).unwrap() + name.len() + 3;
            tag[start..start + tag[start..].find('"').unwrap()].to_string()
        };
        svg.split("<rect class=\"bar ")
            .skip(1)
            .map(|t| {
                (
                    attr(t, "data-sex"),
                    attr(t, "x").parse().unwrap(),
                    attr(t, "width").parse().unwrap(),
                    attr(t, "data-value"),
                )
            })
            .collect()
    }

    #[test]
    fn a_pyramid_puts_men_left_and_mirrors_for_arabic() {
        let mean_x = |svg: &str, sex: &str| {
            let b: Vec<f64> = bars(svg)
                .into_iter()
                .filter(|b| b.0 == sex)
                .map(|b| b.1)
                .collect();
            b.iter().sum::<f64>() / b.len() as f64
        };
        let ltr = pyramid(&Catalogue::new(Lang::Fr), &rows());
        assert!(mean_x(&ltr, "M") < mean_x(&ltr, "F") && mean_x(&ltr, "F") < mean_x(&ltr, "_U"));
        let rtl = pyramid(&Catalogue::new(Lang::Ar), &rows());
        assert!(mean_x(&rtl, "M") > mean_x(&rtl, "F") && mean_x(&rtl, "F") > mean_x(&rtl, "_U"));
        // The same lengths either way: 20 men fill the side.
        let widths = |svg: &str| bars(svg).iter().map(|b| b.2).collect::<Vec<_>>();
        assert_eq!(widths(&ltr), widths(&rtl));
        assert!(widths(&ltr).contains(&220.0));
    }

    #[test]
    fn a_hidden_cell_is_hatched_never_a_zero() {
        let svg = pyramid(&Catalogue::new(Lang::En), &rows());
        let hidden: Vec<_> = bars(&svg).into_iter().filter(|b| b.3 == "c").collect();
        assert_eq!(hidden.len(), 1);
        assert_eq!(hidden[0].0, "F");
        assert!(hidden[0].2 > 0.0);
        assert!(svg.contains("fill=\"url(#hatch)\""));
        // A zero is a zero: drawn with no length, and its figure says 0.
        assert!(bars(&svg).iter().any(|b| b.3 == "0" && b.2 == 0.0));
    }

    #[test]
    fn age_codes_read_as_ranges() {
        let en = Catalogue::new(Lang::En);
        assert_eq!(age_label(&en, "Y20T24"), "20–24");
        assert_eq!(age_label(&en, "Y_GE85"), "85+");
        assert_eq!(age_label(&en, "_U"), "Age not stated");
        let mut codes = ["Y_GE85", "Y10T14", "_U", "Y0T4"];
        codes.sort_by_key(|c| age_order(c));
        assert_eq!(codes, ["Y0T4", "Y10T14", "Y_GE85", "_U"]);
        assert!(is_age_dimension(["Y0T4", "_T", "_U"].into_iter()));
        assert!(!is_age_dimension(["MAR", "_T"].into_iter()));
    }
}
