//! The frame every HTML report shares: one self-contained page (inline CSS and SVG, no script,
//! no network) that opens by double-click and prints cleanly to PDF.

use crate::lang::Lang;

/// Text made safe inside HTML elements and double-quoted attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// A whole page in `lang`, its direction set on the root so that the browser mirrors the
/// layout (tables, lists, text) for Arabic; the charts mirror themselves.
pub fn page(lang: Lang, title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"{lang}\" dir=\"{dir}\">\n<head>\n<meta charset=\"utf-8\">\n\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{title}</title>\n\
<style>\n{STYLE}</style>\n</head>\n<body>\n{body}</body>\n</html>\n",
        dir = lang.dir(),
        title = esc(title),
    )
}

const STYLE: &str = "\
body { font-family: 'Noto Sans', 'Noto Naskh Arabic', 'Segoe UI', Tahoma, Arial, sans-serif; \
margin: 2rem auto; max-width: 62rem; padding: 0 1rem; color: #1b1b1b; line-height: 1.45; }
h1 { font-size: 1.7rem; margin-bottom: .2rem; }
h2 { font-size: 1.3rem; border-bottom: 2px solid #d8d8d8; padding-bottom: .2rem; margin-top: 2.2rem; }
h3 { font-size: 1.05rem; margin-top: 1.4rem; }
.meta, .note { color: #555; font-size: .9rem; }
.verdict { font-size: 1.15rem; padding: .8rem 1rem; border-radius: 4px; }
.accepted { background: #e6f4ea; border-inline-start: 6px solid #1e7d32; }
.refused { background: #fdecea; border-inline-start: 6px solid #b3261e; }
table { border-collapse: collapse; margin: .6rem 0; font-size: .9rem; }
th, td { border: 1px solid #ccc; padding: .25rem .5rem; text-align: start; vertical-align: top; }
th { background: #f2f2f2; }
td.num { text-align: end; font-variant-numeric: tabular-nums; }
td.bad { background: #ffd7d2; outline: 2px solid #b3261e; font-weight: bold; }
code { font-family: 'Noto Sans Mono', Consolas, monospace; }
.raw { white-space: pre-wrap; unicode-bidi: plaintext; }
figure { margin: 1rem 0; padding: .4rem; }
figcaption { font-size: .9rem; color: #333; margin-bottom: .3rem; }
svg text { font-size: 11px; fill: #222; }
svg .F { fill: #b5179e; } svg .M { fill: #3a6ea5; } svg .U { fill: #8d8d8d; }
svg line.F, svg polyline.F { stroke: #b5179e; fill: none; }
svg line.M, svg polyline.M { stroke: #3a6ea5; fill: none; }
svg polyline.U { stroke: #8d8d8d; fill: none; }
svg .axis { stroke: #999; }
.legend span { display: inline-block; margin-inline-end: 1rem; font-size: .85rem; }
.swatch { display: inline-block; width: .8rem; height: .8rem; margin-inline-end: .3rem; vertical-align: middle; }
@media print { body { margin: 0; max-width: none; } h2 { break-after: avoid; } figure, table { break-inside: avoid; } }
";
