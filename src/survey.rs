//! Design-based estimation for household-survey microdata: totals and ratios of a stratified
//! cluster sample with their Taylor-linearized standard errors, as R's `survey` package computes
//! them (`svydesign(ids=~psu, strata=~stratum, weights=~w, fpc=..., nest=TRUE)` with `svytotal` and
//! `svyratio`; checked against survey 4.1.1 to a relative 1e-9 by the tests below).
//!
//! # The variance
//! An estimator is linearized into one score `z_i` per row (`w_i y_i` for a total,
//! `w_i (y_i - R x_i) / X` for a ratio `R = Y / X`, the score of `svyratio`). Scores are summed by
//! PSU (`z_hj`), and with `n_h` sampled PSUs in stratum `h`
//!
//! ```text
//! V = Σ_h (1 - f_h) · n_h / (n_h - 1) · Σ_j (z_hj - z̄_h)²,    z̄_h = Σ_j z_hj / n_h
//! ```
//!
//! over ALL sampled PSUs of the stratum: a PSU with no row of the domain has `z_hj = 0` (domain
//! estimation on the whole design, as `svyby`/`subset` do; rows are never dropped). The first stage
//! is with replacement (`f_h = 0`) unless an fpc is given; then `f_h = n_h / N_h` with `N_h` the
//! number of PSUs in the stratum's population. This is the one-stage ("ultimate cluster")
//! form of R's `svyrecvar` → `onestage` → `onestrat` when only the first stage is described.
//! PSU labels are nested in strata: the same label in two strata is two PSUs (`nest=TRUE`).
//!
//! # Strata with a single PSU
//! What R 4.1.1 does (read from `survey:::onestrat` and `survey:::onestage`; see [`LonelyPsu`]):
//! a lonely stratum's scale is `f_h` alone (no `n/(n-1)`), and
//! - `fail`: error naming the stratum;
//! - `remove`, `certainty`: the PSU is centred at its own mean, so the stratum adds 0;
//! - `adjust`: the PSU total is not centred at all, the stratum adds `(1 - f_h) z_h1²` — R's
//!   "population mean" is the mean of the linearized score, taken as 0 (it is exactly 0 for a
//!   ratio's scores, and R uses 0 for a total too, not the mean of the PSU totals);
//! - `average`: the stratum is left out and the sum over the other strata is multiplied by
//!   `H / (H - L)`, with `H` strata in the design and `L` lonely ones.
//!
//! As in R, a stratum whose sampling fraction is (almost) 1, `1 - f_h < 1e-7`, adds 0 and is not
//! treated as lonely, whatever the policy.
//!
//! # Cost
//! [`Design::new`] does the work that does not depend on the variable: stratum and PSU indices,
//! `n_h` and the scale of each stratum. A [`Design::total`] or [`Design::ratio`] then costs
//! O(k log k) for k listed rows (PSU totals in a small hash map, the touched PSUs sorted so the
//! sums are deterministic); strata and PSUs without listed rows cost nothing. The centred sum of
//! squares is taken as `Σ_listed (z_j - z̄)² + (n_h - m_h) z̄²` for the `m_h` PSUs with listed
//! rows, which is the same O(m_h) as `Σ z² - (Σ z)²/n_h` without its cancellation.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

/// `qnorm(0.975)` in R, the multiplier of `confint()`'s default 95% interval.
const Z_975: f64 = 1.959_963_984_540_054;

/// R's `onestrat` treats a stratum with `1 - f_h < 1e-7` as fully sampled: it adds no variance.
const CENSUS_EPS: f64 = 1e-7;

/// What to do with a stratum that has a single sampled PSU (R: `options(survey.lonely.psu=...)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LonelyPsu {
    /// Refuse the design (R's default).
    #[default]
    Fail,
    /// The stratum adds no variance.
    Remove,
    /// The PSU is a certainty unit: the stratum adds no variance (same as `Remove` for a
    /// one-stage design).
    Certainty,
    /// The PSU total is centred at 0, the population mean of the linearized score, instead of the
    /// stratum mean: the stratum adds `(1 - f_h) z_h1²`.
    Adjust,
    /// The stratum is replaced by the average contribution of the other strata.
    Average,
}

impl LonelyPsu {
    /// Every name the pipeline file takes, in lower case: R's and the two spellings of `centre`
    /// (the JSON Schema lists them).
    pub const NAMES: &'static [&'static str] = &[
        "fail",
        "remove",
        "certainty",
        "adjust",
        "centre",
        "center",
        "average",
    ];

    /// The name R uses in `options(survey.lonely.psu=)`.
    pub fn as_str(self) -> &'static str {
        match self {
            LonelyPsu::Fail => "fail",
            LonelyPsu::Remove => "remove",
            LonelyPsu::Certainty => "certainty",
            LonelyPsu::Adjust => "adjust",
            LonelyPsu::Average => "average",
        }
    }
}

impl fmt::Display for LonelyPsu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for LonelyPsu {
    type Err = SurveyError;

    /// R's names (`fail`, `remove`, `certainty`, `adjust`, `average`), ASCII case-insensitive.
    /// `centre` and `center` are accepted for `adjust`, because what R's `adjust` does is to centre
    /// the lonely stratum at the grand (population) mean of the score rather than at its own mean;
    /// people who know the method by that description find it under either spelling.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let policy = match s.trim().to_ascii_lowercase().as_str() {
            "fail" => LonelyPsu::Fail,
            "remove" => LonelyPsu::Remove,
            "certainty" => LonelyPsu::Certainty,
            "adjust" | "centre" | "center" => LonelyPsu::Adjust,
            "average" => LonelyPsu::Average,
            _ => return Err(SurveyError::UnknownLonelyPsu(s.to_string())),
        };
        Ok(policy)
    }
}

impl<'de> serde::Deserialize<'de> for LonelyPsu {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// [`LonelyPsu::NAMES`], in lower case as the pipeline files write them (the parser also takes
/// them in any case).
impl schemars::JsonSchema for LonelyPsu {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> std::borrow::Cow<'static, str> {
        "LonelyPsu".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "enum": LonelyPsu::NAMES,
        })
    }
}

/// Why a design cannot be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SurveyError {
    #[error(
        "design columns differ in length: {weights} weights, {strata} strata, {psu} PSU labels{}",
        fpc.map(|n| format!(", {n} fpc values")).unwrap_or_default()
    )]
    LengthMismatch {
        weights: usize,
        strata: usize,
        psu: usize,
        fpc: Option<usize>,
    },
    #[error("row {row}: weight {weight} is not a positive finite number")]
    BadWeight { row: usize, weight: f64 },
    #[error(
        "stratum {stratum:?} has only one PSU and the lonely-PSU policy is `fail` \
         (choose remove, certainty, adjust or average)"
    )]
    LonelyPsu { stratum: String },
    #[error("row {row}: fpc {value} is not a positive finite number")]
    BadFpc { row: usize, value: f64 },
    #[error(
        "fpc mixes population PSU counts (> 1) and sampling fractions (< 1): row {row} has {value}"
    )]
    MixedFpc { row: usize, value: f64 },
    #[error("fpc is not constant within stratum {stratum:?}: {first} then {other} at row {row}")]
    FpcNotConstant {
        stratum: String,
        first: f64,
        other: f64,
        row: usize,
    },
    #[error(
        "stratum {stratum:?}: the fpc gives {population} PSUs in the population, \
         fewer than the {sampled} sampled"
    )]
    FpcTooSmall {
        stratum: String,
        population: f64,
        sampled: usize,
    },
    #[error(
        "unknown lonely-PSU policy {0:?}: expected fail, remove, certainty, adjust (or centre) \
         or average"
    )]
    UnknownLonelyPsu(String),
}

/// How a stratum adds to the variance, fixed when the design is built.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Contribution {
    /// `scale · Σ_j (z_hj - z̄_h)²` over the stratum's `n` PSUs.
    Centred { scale: f64 },
    /// `scale · z_h1²`: a lonely PSU under `Adjust`.
    Uncentred { scale: f64 },
    /// Nothing: a fully sampled stratum, or a lonely one under `Remove`, `Certainty`, `Average`.
    Zero,
}

#[derive(Debug, Clone)]
struct Stratum {
    /// Sampled PSUs.
    n: usize,
    contribution: Contribution,
}

/// A stratified cluster sample: one weight, stratum and PSU per row.
#[derive(Debug, Clone)]
pub struct Design {
    weights: Vec<f64>,
    /// Per row: index into `psu_stratum`.
    row_psu: Vec<u32>,
    /// Per PSU: index into `strata`.
    psu_stratum: Vec<u32>,
    strata: Vec<Stratum>,
    /// `H / (H - L)` under `Average`, 1 otherwise.
    multiplier: f64,
    lonely: LonelyPsu,
}

impl Design {
    /// Build a design. `strata` and `psu` are per-row labels; a PSU label is nested in its stratum.
    /// `fpc` (optional) is per row and constant within a stratum: either the number of PSUs in the
    /// stratum's population (when any value is > 1, all are counts and must be ≥ 1) or the
    /// first-stage sampling fraction (all ≤ 1), as R's `svydesign(fpc=)` accepts (`survey:::as.fpc`;
    /// a fraction `p` means `N_h = n_h / p`). Without `fpc` the first stage is with replacement.
    ///
    /// Errors: lengths differ; a weight is not finite or ≤ 0 (the row is named); an fpc is not a
    /// positive finite number, mixes counts and fractions, varies within a stratum, or gives fewer
    /// population PSUs than were sampled; a stratum has a single PSU under [`LonelyPsu::Fail`] (the
    /// stratum is named; R raises this when the variance is computed, which for a domain on the
    /// whole design is always).
    pub fn new(
        weights: Vec<f64>,
        strata: &[&str],
        psu: &[&str],
        fpc: Option<&[f64]>,
        lonely: LonelyPsu,
    ) -> Result<Design, SurveyError> {
        let rows = weights.len();
        if strata.len() != rows || psu.len() != rows || fpc.is_some_and(|f| f.len() != rows) {
            return Err(SurveyError::LengthMismatch {
                weights: rows,
                strata: strata.len(),
                psu: psu.len(),
                fpc: fpc.map(<[f64]>::len),
            });
        }
        if let Some((row, &weight)) = weights
            .iter()
            .enumerate()
            .find(|(_, w)| !(w.is_finite() && **w > 0.0))
        {
            return Err(SurveyError::BadWeight { row, weight });
        }

        // Index strata and (stratum, PSU) pairs in order of first appearance.
        let mut stratum_index: HashMap<&str, u32> = HashMap::new();
        let mut stratum_names: Vec<&str> = Vec::new();
        let mut psu_index: HashMap<(u32, &str), u32> = HashMap::new();
        let mut psu_stratum: Vec<u32> = Vec::new();
        let mut row_psu: Vec<u32> = Vec::with_capacity(rows);
        let mut row_stratum: Vec<u32> = Vec::with_capacity(rows);
        for (&s, &p) in strata.iter().zip(psu) {
            let h = *stratum_index.entry(s).or_insert_with(|| {
                stratum_names.push(s);
                (stratum_names.len() - 1) as u32
            });
            let j = *psu_index.entry((h, p)).or_insert_with(|| {
                psu_stratum.push(h);
                (psu_stratum.len() - 1) as u32
            });
            row_stratum.push(h);
            row_psu.push(j);
        }
        let mut sampled = vec![0usize; stratum_names.len()];
        for &h in &psu_stratum {
            sampled[h as usize] += 1;
        }

        // Per stratum: 1 - f_h.
        let one_minus_f = match fpc {
            None => vec![1.0; stratum_names.len()],
            Some(fpc) => stratum_fpc(fpc, &row_stratum, &stratum_names, &sampled)?,
        };

        let mut lonely_strata = 0usize;
        let mut stratum_list = Vec::with_capacity(stratum_names.len());
        for (h, name) in stratum_names.iter().enumerate() {
            let n = sampled[h];
            let g = one_minus_f[h];
            let contribution = if g < CENSUS_EPS {
                Contribution::Zero
            } else if n > 1 {
                Contribution::Centred {
                    scale: g * n as f64 / (n as f64 - 1.0),
                }
            } else {
                lonely_strata += 1;
                match lonely {
                    LonelyPsu::Fail => {
                        return Err(SurveyError::LonelyPsu {
                            stratum: name.to_string(),
                        })
                    }
                    LonelyPsu::Adjust => Contribution::Uncentred { scale: g },
                    LonelyPsu::Remove | LonelyPsu::Certainty | LonelyPsu::Average => {
                        Contribution::Zero
                    }
                }
            };
            stratum_list.push(Stratum { n, contribution });
        }
        let multiplier = if lonely == LonelyPsu::Average && lonely_strata > 0 {
            // R: sum over the strata that are not NA, × nstrat / nokstrat (NaN if all are lonely).
            let h = stratum_list.len() as f64;
            h / (h - lonely_strata as f64)
        } else {
            1.0
        };

        Ok(Design {
            weights,
            row_psu,
            psu_stratum,
            strata: stratum_list,
            multiplier,
            lonely,
        })
    }

    /// Number of rows of the design.
    pub fn rows(&self) -> usize {
        self.weights.len()
    }

    /// Degrees of freedom of the design, as R's `degf()`: sampled PSUs minus strata.
    pub fn degrees_of_freedom(&self) -> usize {
        self.psu_stratum.len() - self.strata.len()
    }

    /// The lonely-PSU policy the design was built with.
    pub fn lonely_psu(&self) -> LonelyPsu {
        self.lonely
    }

    /// Total `Σ w_i y_i` over the listed `(row, y_i)`; rows not listed count as `y = 0` (domain
    /// estimation without dropping rows, the `svyby`/`subset` way). As `svytotal` on the whole
    /// design. List each row at most once; `respondents` counts the listed rows with `y ≠ 0`.
    ///
    /// # Panics
    /// If a row index is out of range.
    pub fn total(&self, rows: &[(usize, f64)]) -> Estimate {
        let mut estimate = 0.0;
        let mut respondents = 0u64;
        for &(i, y) in rows {
            estimate += self.weights[i] * y;
            respondents += u64::from(y != 0.0);
        }
        let variance = self.variance(rows.iter().map(|&(i, y)| (i, self.weights[i] * y)));
        Estimate {
            estimate,
            se: variance.sqrt(),
            respondents,
        }
    }

    /// Ratio `R = Y / X` of the totals of the numerator and the denominator lists, with its
    /// Taylor-linearized SE from the score `z_i = w_i (y_i - R x_i) / X`, as `svyratio`. A row may
    /// be in either list or both (a share lists the subset in the numerator and the whole in the
    /// denominator); rows not listed are 0. `respondents` counts the denominator rows with
    /// `x ≠ 0`, the observations the ratio rests on. When `X = 0` the ratio is undefined: as in R,
    /// `estimate` is `Y / 0` (NaN for an empty domain) and `se` is NaN.
    ///
    /// # Panics
    /// If a row index is out of range.
    pub fn ratio(&self, numerator: &[(usize, f64)], denominator: &[(usize, f64)]) -> Estimate {
        // Merge the two lists by row: (row, y, x).
        let mut merged: Vec<(usize, f64, f64)> =
            Vec::with_capacity(numerator.len() + denominator.len());
        merged.extend(numerator.iter().map(|&(i, y)| (i, y, 0.0)));
        merged.extend(denominator.iter().map(|&(i, x)| (i, 0.0, x)));
        merged.sort_by_key(|&(i, _, _)| i);
        merged.dedup_by(|next, kept| {
            if next.0 == kept.0 {
                kept.1 += next.1;
                kept.2 += next.2;
                true
            } else {
                false
            }
        });

        let (mut y_total, mut x_total) = (0.0, 0.0);
        let mut respondents = 0u64;
        for &(i, y, x) in &merged {
            let w = self.weights[i];
            y_total += w * y;
            x_total += w * x;
            respondents += u64::from(x != 0.0);
        }
        let r = y_total / x_total;
        let variance = self.variance(
            merged
                .iter()
                .map(|&(i, y, x)| (i, self.weights[i] * ((y - r * x) / x_total))),
        );
        Estimate {
            estimate: r,
            // With X = 0 every score is NaN in R, even when no row is listed.
            se: if x_total == 0.0 {
                f64::NAN
            } else {
                variance.sqrt()
            },
            respondents,
        }
    }

    /// Variance of a linear statistic from its per-row scores `(row, z_i)` (rows not given are 0).
    fn variance(&self, scores: impl Iterator<Item = (usize, f64)>) -> f64 {
        // PSU totals of the touched PSUs, in first-touched order.
        let mut slot: HashMap<u32, usize> = HashMap::new();
        let mut psu_totals: Vec<(u32, u32, f64)> = Vec::new(); // (stratum, psu, Σ z)
        for (i, z) in scores {
            let j = self.row_psu[i];
            let k = *slot.entry(j).or_insert_with(|| {
                psu_totals.push((self.psu_stratum[j as usize], j, 0.0));
                psu_totals.len() - 1
            });
            psu_totals[k].2 += z;
        }
        // Group by stratum, in a fixed order so the sum does not depend on hashing.
        psu_totals.sort_unstable_by_key(|&(h, j, _)| (h, j));

        let mut variance = 0.0;
        for group in psu_totals.chunk_by(|a, b| a.0 == b.0) {
            let stratum = &self.strata[group[0].0 as usize];
            variance += match stratum.contribution {
                Contribution::Zero => 0.0,
                Contribution::Uncentred { scale } => {
                    let z: f64 = group.iter().map(|p| p.2).sum();
                    scale * z * z
                }
                Contribution::Centred { scale } => {
                    let n = stratum.n as f64;
                    let mean = group.iter().map(|p| p.2).sum::<f64>() / n;
                    let listed: f64 = group.iter().map(|p| (p.2 - mean) * (p.2 - mean)).sum();
                    let unlisted = (stratum.n - group.len()) as f64 * mean * mean;
                    scale * (listed + unlisted)
                }
            };
        }
        variance * self.multiplier
    }
}

/// Per stratum `1 - f_h` from a per-row fpc, checked as R's `as.fpc` does (and stricter: an fpc
/// that varies within a stratum is an error, not a warning).
fn stratum_fpc(
    fpc: &[f64],
    row_stratum: &[u32],
    names: &[&str],
    sampled: &[usize],
) -> Result<Vec<f64>, SurveyError> {
    if let Some((row, &value)) = fpc
        .iter()
        .enumerate()
        .find(|(_, v)| !(v.is_finite() && **v > 0.0))
    {
        return Err(SurveyError::BadFpc { row, value });
    }
    // R: counts if any value is > 1, and then all must be >= 1; otherwise all are fractions.
    let counts = fpc.iter().any(|&v| v > 1.0);
    if counts {
        if let Some((row, &value)) = fpc.iter().enumerate().find(|(_, v)| **v < 1.0) {
            return Err(SurveyError::MixedFpc { row, value });
        }
    }
    let mut first: Vec<Option<f64>> = vec![None; names.len()];
    for (row, (&v, &h)) in fpc.iter().zip(row_stratum).enumerate() {
        match first[h as usize] {
            None => first[h as usize] = Some(v),
            Some(f) if f != v => {
                return Err(SurveyError::FpcNotConstant {
                    stratum: names[h as usize].to_string(),
                    first: f,
                    other: v,
                    row,
                })
            }
            Some(_) => {}
        }
    }
    let mut one_minus_f = Vec::with_capacity(names.len());
    for (h, v) in first.into_iter().enumerate() {
        let v = v.expect("every stratum has a row");
        let n = sampled[h] as f64;
        // Population PSUs as R computes them (fraction p: N = n / p), then (N - n) / N.
        let population = if counts { v } else { n / v };
        if population < n {
            return Err(SurveyError::FpcTooSmall {
                stratum: names[h].to_string(),
                population,
                sampled: sampled[h],
            });
        }
        one_minus_f.push((population - n) / population);
    }
    Ok(one_minus_f)
}

/// A point estimate with its standard error.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    pub estimate: f64,
    pub se: f64,
    /// Unweighted number of rows the estimate rests on (listed with a nonzero value).
    pub respondents: u64,
}

impl Estimate {
    /// Coefficient of variation `se / |estimate|`; `None` when the estimate is 0 or either number
    /// is not finite.
    pub fn cv(&self) -> Option<f64> {
        (self.estimate != 0.0 && self.estimate.is_finite() && self.se.is_finite())
            .then(|| self.se / self.estimate.abs())
    }

    /// Normal 95% confidence interval `estimate ± qnorm(0.975) · se`, as R's `confint()` default
    /// for `svytotal`/`svyratio` results.
    pub fn ci95(&self) -> (f64, f64) {
        (
            self.estimate - Z_975 * self.se,
            self.estimate + Z_975 * self.se,
        )
    }
}

// The expected values are R's `sprintf("%.17g")` output pasted verbatim, hence more digits than an
// f64 needs.
#[cfg(test)]
#[allow(clippy::excessive_precision)]
mod tests {
    use super::*;

    /// `|a - b| <= 1e-9 * |b|`, or `|a| <= 1e-9` when `b` is 0.
    fn close(a: f64, b: f64) -> bool {
        if b == 0.0 {
            a.abs() <= 1e-9
        } else {
            (a - b).abs() <= 1e-9 * b.abs()
        }
    }

    #[track_caller]
    fn assert_close(what: &str, got: f64, want: f64) {
        assert!(
            close(got, want),
            "{what}: got {got:.17e}, R gives {want:.17e}"
        );
    }

    // The tiny design, in R:
    //   d <- data.frame(
    //     strat = c("A","A","A","A","A","B","B","B","C","C"),
    //     psu   = c("p1","p1","p2","p3","p3","p1","p2","p2","p1","p1"),
    //     w     = c(10, 12, 8, 9, 11, 20, 25, 22, 30, 35),
    //     y     = c(1, 0, 3, 2, 5, 4, 0, 1, 2, 6),
    //     x     = c(1, 1, 1, 0, 1, 1, 1, 1, 0, 1),
    //     fpc   = c(10,10,10,10,10, 5,5,5, 4,4),
    //     frac  = c(0.3,0.3,0.3,0.3,0.3, 0.4,0.4,0.4, 0.25,0.25),
    //     cens  = c(10,10,10,10,10, 2,2,2, 1,1))
    //   des  <- svydesign(ids=~psu, strata=~strat, weights=~w, nest=TRUE, data=d)
    //   desf <- svydesign(ids=~psu, strata=~strat, weights=~w, nest=TRUE, fpc=~fpc, data=d)
    // Stratum C has one PSU; "p1" is a PSU label in all three strata (nested).
    const STRAT: [&str; 10] = ["A", "A", "A", "A", "A", "B", "B", "B", "C", "C"];
    const PSU: [&str; 10] = ["p1", "p1", "p2", "p3", "p3", "p1", "p2", "p2", "p1", "p1"];
    const W: [f64; 10] = [10., 12., 8., 9., 11., 20., 25., 22., 30., 35.];
    const Y: [f64; 10] = [1., 0., 3., 2., 5., 4., 0., 1., 2., 6.];
    const X: [f64; 10] = [1., 1., 1., 0., 1., 1., 1., 1., 0., 1.];
    const FPC: [f64; 10] = [10., 10., 10., 10., 10., 5., 5., 5., 4., 4.];
    const FRAC: [f64; 10] = [0.3, 0.3, 0.3, 0.3, 0.3, 0.4, 0.4, 0.4, 0.25, 0.25];
    const CENSUS: [f64; 10] = [10., 10., 10., 10., 10., 2., 2., 2., 1., 1.];

    fn tiny(fpc: Option<&[f64]>, lonely: LonelyPsu) -> Result<Design, SurveyError> {
        Design::new(W.to_vec(), &STRAT, &PSU, fpc, lonely)
    }

    fn listed(values: &[f64]) -> Vec<(usize, f64)> {
        values.iter().copied().enumerate().collect()
    }

    /// Checks svytotal(~y) and svyratio(~y, ~x) of the tiny design.
    #[track_caller]
    fn check_tiny(design: &Design, total_se: f64, ratio_se: f64) {
        let t = design.total(&listed(&Y));
        assert_close("total", t.estimate, 479.0);
        assert_close("total se", t.se, total_se);
        assert_eq!(t.respondents, 8);
        let r = design.ratio(&listed(&Y), &listed(&X));
        assert_close("ratio", r.estimate, 3.3496503496503496);
        assert_close("ratio se", r.se, ratio_se);
        assert_eq!(r.respondents, 8);
    }

    #[test]
    fn tiny_design_each_lonely_policy_without_fpc() {
        // options(survey.lonely.psu=p); svytotal(~y, des); svyratio(~y, ~x, des)
        // remove, certainty: 479 (SE 81.529135896316234), 3.3496503496503496 (SE 1.2037710708860454)
        // adjust:  SE 282.04077719365335 = sqrt(81.53² + 270²), ratio SE 1.6094284769645333
        // average: SE 99.852391058001217 = sqrt(81.53² · 3/2),  ratio SE 1.4743124453972452
        for p in [LonelyPsu::Remove, LonelyPsu::Certainty] {
            check_tiny(
                &tiny(None, p).unwrap(),
                81.529135896316234,
                1.2037710708860454,
            );
        }
        check_tiny(
            &tiny(None, LonelyPsu::Adjust).unwrap(),
            282.04077719365335,
            1.6094284769645333,
        );
        check_tiny(
            &tiny(None, LonelyPsu::Average).unwrap(),
            99.852391058001217,
            1.4743124453972452,
        );
        // options(survey.lonely.psu="fail"); svytotal(~y, des)
        // Error in onestrat(...): Stratum (C) has only one PSU at stage 1
        let err = tiny(None, LonelyPsu::Fail).unwrap_err();
        assert_eq!(
            err,
            SurveyError::LonelyPsu {
                stratum: "C".into()
            }
        );
        assert!(err.to_string().contains("\"C\""), "{err}");
    }

    #[test]
    fn tiny_design_with_fpc() {
        // options(survey.lonely.psu=p); svytotal(~y, desf); svyratio(~y, ~x, desf)
        // remove, certainty: SE 65.700076103456681, ratio SE 0.95215094964229441
        // adjust:  SE 242.88165842648553, ratio SE 1.3275872304396437
        // average: SE 80.465831257745663, ratio SE 1.1661419923650311
        for p in [LonelyPsu::Remove, LonelyPsu::Certainty] {
            check_tiny(
                &tiny(Some(&FPC), p).unwrap(),
                65.700076103456681,
                0.95215094964229441,
            );
        }
        check_tiny(
            &tiny(Some(&FPC), LonelyPsu::Adjust).unwrap(),
            242.88165842648553,
            1.3275872304396437,
        );
        check_tiny(
            &tiny(Some(&FPC), LonelyPsu::Average).unwrap(),
            80.465831257745663,
            1.1661419923650311,
        );
        // The same design with the fpc as sampling fractions:
        //   options(survey.lonely.psu="adjust")
        //   svytotal(~y, svydesign(ids=~psu, strata=~strat, weights=~w, nest=TRUE, fpc=~frac, data=d))
        //   479, SE 242.88165842648553; confint(): 2.960697 955.0393
        let design = tiny(Some(&FRAC), LonelyPsu::Adjust).unwrap();
        let t = design.total(&listed(&Y));
        assert_close("total se (fractions)", t.se, 242.88165842648553);
        let (lo, hi) = t.ci95();
        assert!(
            (lo - 2.960697).abs() < 1e-6 && (hi - 955.0393).abs() < 1e-4,
            "{lo} {hi}"
        );
        // A fully sampled stratum adds nothing, and a lonely one is then not an error:
        //   options(survey.lonely.psu="fail")
        //   svytotal(~y, svydesign(ids=~psu, strata=~strat, weights=~w, nest=TRUE, fpc=~cens, data=d))
        //   479, SE 47.938502271139001
        let design = tiny(Some(&CENSUS), LonelyPsu::Fail).unwrap();
        let t = design.total(&listed(&Y));
        assert_close("total se (census strata)", t.se, 47.938502271139001);
    }

    #[test]
    fn tiny_domain_keeps_every_psu() {
        // d$yd <- ifelse((d$strat=="A" & d$psu=="p2") | d$strat=="C", d$y, 0)
        // options(survey.lonely.psu=p); svytotal(~yd, des)
        // remove: 294, SE 23.999999999999996 (PSU totals 0, 24, 0 in A: 3/2 · 384 = 576)
        // adjust: SE 271.06456795383639; average: SE 29.393876913398135
        let domain = [(2, 3.0), (8, 2.0), (9, 6.0)];
        for (p, se) in [
            (LonelyPsu::Remove, 23.999999999999996),
            (LonelyPsu::Adjust, 271.06456795383639),
            (LonelyPsu::Average, 29.393876913398135),
        ] {
            let t = tiny(None, p).unwrap().total(&domain);
            assert_close("domain total", t.estimate, 294.0);
            assert_close(&format!("domain se ({p})"), t.se, se);
            assert_eq!(t.respondents, 3);
        }
    }

    #[test]
    fn ratio_of_empty_domain_is_nan_and_zero_total_is_exact() {
        let design = tiny(None, LonelyPsu::Adjust).unwrap();
        let r = design.ratio(&[], &[]);
        assert!(r.estimate.is_nan() && r.se.is_nan());
        assert_eq!(r.respondents, 0);
        let t = design.total(&[]);
        assert_eq!((t.estimate, t.se, t.respondents), (0.0, 0.0, 0));
        assert_eq!(t.cv(), None);
        assert_eq!(design.rows(), 10);
        assert_eq!(design.degrees_of_freedom(), 6 - 3);
        let e = Estimate {
            estimate: 200.0,
            se: 50.0,
            respondents: 3,
        };
        assert_eq!(e.cv(), Some(0.25));
    }

    #[test]
    fn lonely_policy_names() {
        for (s, p) in [
            ("fail", LonelyPsu::Fail),
            ("remove", LonelyPsu::Remove),
            ("certainty", LonelyPsu::Certainty),
            ("adjust", LonelyPsu::Adjust),
            ("centre", LonelyPsu::Adjust),
            ("center", LonelyPsu::Adjust),
            (" Average ", LonelyPsu::Average),
        ] {
            assert_eq!(s.parse::<LonelyPsu>().unwrap(), p);
        }
        assert_eq!(LonelyPsu::Adjust.to_string(), "adjust");
        // the names the JSON Schema offers are those the parser takes
        for name in LonelyPsu::NAMES {
            assert!(name.parse::<LonelyPsu>().is_ok(), "{name}");
        }
        for p in [
            LonelyPsu::Fail,
            LonelyPsu::Remove,
            LonelyPsu::Certainty,
            LonelyPsu::Adjust,
            LonelyPsu::Average,
        ] {
            assert!(LonelyPsu::NAMES.contains(&p.as_str()), "{p}");
        }
        assert!(matches!(
            "drop".parse::<LonelyPsu>(),
            Err(SurveyError::UnknownLonelyPsu(s)) if s == "drop"
        ));
    }

    #[test]
    fn design_errors() {
        let adjust = LonelyPsu::Adjust;
        let mut w = W.to_vec();
        w[4] = 0.0;
        assert_eq!(
            Design::new(w, &STRAT, &PSU, None, adjust).unwrap_err(),
            SurveyError::BadWeight {
                row: 4,
                weight: 0.0
            }
        );
        let mut w = W.to_vec();
        w[7] = f64::NAN;
        let err = Design::new(w, &STRAT, &PSU, None, adjust).unwrap_err();
        assert!(err.to_string().starts_with("row 7: weight NaN"), "{err}");
        assert!(matches!(
            Design::new(W[..9].to_vec(), &STRAT, &PSU, None, adjust),
            Err(SurveyError::LengthMismatch { weights: 9, .. })
        ));
        assert!(matches!(
            tiny(Some(&FPC[..3]), adjust),
            Err(SurveyError::LengthMismatch { fpc: Some(3), .. })
        ));
        let mut fpc = FPC;
        fpc[6] = 6.0;
        assert_eq!(
            tiny(Some(&fpc), adjust).unwrap_err(),
            SurveyError::FpcNotConstant {
                stratum: "B".into(),
                first: 5.0,
                other: 6.0,
                row: 6
            }
        );
        let mut fpc = FPC;
        fpc[..5].copy_from_slice(&[2.0; 5]);
        assert_eq!(
            tiny(Some(&fpc), adjust).unwrap_err(),
            SurveyError::FpcTooSmall {
                stratum: "A".into(),
                population: 2.0,
                sampled: 3
            }
        );
        let mut fpc = FPC;
        fpc[8..].copy_from_slice(&[0.5; 2]);
        assert!(matches!(
            tiny(Some(&fpc), adjust),
            Err(SurveyError::MixedFpc { row: 8, .. })
        ));
        let mut fpc = FRAC;
        fpc[0] = -0.3;
        assert!(matches!(
            tiny(Some(&fpc), adjust),
            Err(SurveyError::BadFpc { row: 0, .. })
        ));
    }

    /// The committed survey sample as the reference script reads it.
    struct Sample {
        sex: Vec<String>,
        motif: Vec<String>,
        nationality: Vec<String>,
        weights: Vec<f64>,
        strata: Vec<String>,
        psu: Vec<String>,
        fpc: Vec<f64>,
    }

    fn manifest_path(rel: &str) -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
    }

    fn read_sample() -> Sample {
        let path = manifest_path("sample_data/survey/enquete_migration_2024.csv");
        let mut reader = csv::Reader::from_path(&path).expect("survey sample");
        let headers = reader.headers().unwrap().clone();
        let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
        let (c_sex, c_motif, c_nat) = (col("sexe"), col("motif"), col("nationalite"));
        let (c_w, c_strata, c_psu, c_fpc) = (
            col("poids"),
            col("strate"),
            col("grappe"),
            col("grappes_population"),
        );
        let mut s = Sample {
            sex: vec![],
            motif: vec![],
            nationality: vec![],
            weights: vec![],
            strata: vec![],
            psu: vec![],
            fpc: vec![],
        };
        for record in reader.records() {
            let r = record.unwrap();
            let sex = &r[c_sex];
            s.sex
                .push(if sex.is_empty() { "_U" } else { sex }.to_string());
            s.motif.push(r[c_motif].to_string());
            s.nationality.push(r[c_nat].to_string());
            s.weights.push(r[c_w].parse().unwrap());
            s.strata.push(r[c_strata].to_string());
            s.psu.push(r[c_psu].to_string());
            s.fpc.push(r[c_fpc].parse().unwrap());
        }
        s
    }

    fn sample_design(s: &Sample, fpc: bool, lonely: LonelyPsu) -> Result<Design, SurveyError> {
        let strata: Vec<&str> = s.strata.iter().map(String::as_str).collect();
        let psu: Vec<&str> = s.psu.iter().map(String::as_str).collect();
        let fpc = fpc.then_some(s.fpc.as_slice());
        Design::new(s.weights.clone(), &strata, &psu, fpc, lonely)
    }

    impl Sample {
        /// Indicator of a cell of the table (`_T` = any), listed the sparse way.
        fn cell(&self, sex: &str, motif: &str, nat: &str) -> Vec<(usize, f64)> {
            let is = |code: &str, value: &String| code == "_T" || code == value;
            (0..self.weights.len())
                .filter(|&i| {
                    is(sex, &self.sex[i])
                        && is(motif, &self.motif[i])
                        && is(nat, &self.nationality[i])
                })
                .map(|i| (i, 1.0))
                .collect()
        }
    }

    /// A reference field: None when empty (not applicable or undefined).
    fn field(record: &csv::StringRecord, i: usize) -> Option<f64> {
        let s = &record[i];
        (!s.is_empty()).then(|| s.parse().unwrap())
    }

    #[track_caller]
    fn check_ratio(
        cell: &str,
        what: &str,
        got: &Estimate,
        est: Option<f64>,
        se: Option<f64>,
        k: f64,
    ) {
        match (est, se) {
            (Some(est), Some(se)) => {
                assert_close(&format!("{cell} {what}"), k * got.estimate, est);
                assert_close(&format!("{cell} {what}_se"), k * got.se, se);
            }
            _ => assert!(
                got.estimate.is_nan(),
                "{cell} {what}: R has none, got {}",
                got.estimate
            ),
        }
    }

    /// Every cell of tests/data/survey_reference.csv (written by tests/r/survey_reference.R).
    #[test]
    fn sample_table_matches_r_survey() {
        let s = read_sample();
        assert_eq!(s.weights.len(), 6510);
        let design = sample_design(&s, true, LonelyPsu::Adjust).unwrap();
        let path = manifest_path("tests/data/survey_reference.csv");
        let mut reader = csv::Reader::from_path(&path).expect("survey reference");
        assert_eq!(
            reader.headers().unwrap(),
            vec![
                "sex",
                "motif",
                "nationalite",
                "estimate",
                "se",
                "respondents",
                "pct_female",
                "pct_female_se",
                "share",
                "share_se"
            ]
        );
        let mut cells = 0;
        for record in reader.records() {
            let r = record.unwrap();
            let (sex, motif, nat) = (&r[0], &r[1], &r[2]);
            let name = format!("{sex},{motif},{nat}");
            let members = s.cell(sex, motif, nat);
            let t = design.total(&members);
            assert_close(
                &format!("{name} estimate"),
                t.estimate,
                field(&r, 3).unwrap(),
            );
            assert_close(&format!("{name} se"), t.se, field(&r, 4).unwrap());
            assert_eq!(
                t.respondents,
                r[5].parse::<u64>().unwrap(),
                "{name} respondents"
            );
            if sex == "_T" {
                // women among those whose sex is stated: F / (F + M)
                let mut stated = s.cell("F", motif, nat);
                stated.extend(s.cell("M", motif, nat));
                let female = design.ratio(&s.cell("F", motif, nat), &stated);
                check_ratio(
                    &name,
                    "pct_female",
                    &female,
                    field(&r, 6),
                    field(&r, 7),
                    100.0,
                );
            } else {
                assert!(r[6].is_empty() && r[7].is_empty(), "{name}");
            }
            if motif != "_T" {
                let share = design.ratio(&members, &s.cell(sex, "_T", nat));
                check_ratio(&name, "share", &share, field(&r, 8), field(&r, 9), 1.0);
            } else {
                assert!(r[8].is_empty() && r[9].is_empty(), "{name}");
            }
            cells += 1;
        }
        // 4 sexes x 7 motifs x (19 nationalities + _T).
        assert_eq!(cells, 4 * 7 * 20);
    }

    /// Overall total and the share of women among Senegalese, under each lonely-PSU policy. In R:
    ///   d <- read.csv("sample_data/survey/enquete_migration_2024.csv", colClasses="character",
    ///                 na.strings=character(0))
    ///   d$poids <- as.numeric(d$poids); d$grappes_population <- as.numeric(d$grappes_population)
    ///   d$one <- 1; d$sen <- as.numeric(d$nationalite=="SEN")
    ///   d$fsen <- as.numeric(d$sexe=="F" & d$nationalite=="SEN")
    ///   options(survey.lonely.psu=p)
    ///   des <- svydesign(ids=~grappe, strata=~strate, weights=~poids, fpc=~grappes_population,
    ///                    nest=TRUE, data=d)            # and the same without fpc=
    ///   svytotal(~one, des); svyratio(~fsen, ~sen, des)
    #[test]
    fn sample_lonely_psu_policies_match_r_survey() {
        const TOTAL: f64 = 159441.02299999999;
        const RATIO: f64 = 0.32835064365225275;
        // (policy, fpc, total SE, ratio SE)
        let cases = [
            (
                LonelyPsu::Remove,
                true,
                3005.1726438024198,
                0.012369865855361411,
            ),
            (
                LonelyPsu::Certainty,
                true,
                3005.1726438024198,
                0.012369865855361411,
            ),
            (
                LonelyPsu::Adjust,
                true,
                3149.7304964509499,
                0.012455735635509387,
            ),
            (
                LonelyPsu::Average,
                true,
                3069.8074069132135,
                0.012635914912783265,
            ),
            (
                LonelyPsu::Remove,
                false,
                3262.2594795290088,
                0.013387942892765899,
            ),
            (
                LonelyPsu::Certainty,
                false,
                3262.2594795290088,
                0.013387942892765899,
            ),
            (
                LonelyPsu::Adjust,
                false,
                3412.2271232500684,
                0.013477212432835698,
            ),
            (
                LonelyPsu::Average,
                false,
                3332.4236243744458,
                0.013675888585070572,
            ),
        ];
        let s = read_sample();
        for (policy, fpc, total_se, ratio_se) in cases {
            let design = sample_design(&s, fpc, policy).unwrap();
            let what = format!("{policy}, fpc {fpc}");
            let t = design.total(&s.cell("_T", "_T", "_T"));
            assert_close(&format!("total ({what})"), t.estimate, TOTAL);
            assert_close(&format!("total se ({what})"), t.se, total_se);
            let r = design.ratio(&s.cell("F", "_T", "SEN"), &s.cell("_T", "_T", "SEN"));
            assert_close(&format!("ratio ({what})"), r.estimate, RATIO);
            assert_close(&format!("ratio se ({what})"), r.se, ratio_se);
        }
        // options(survey.lonely.psu="fail"); svytotal(~one, des)
        // Error in onestrat(...): Stratum (MA-12-R) has only one PSU at stage 1
        for fpc in [true, false] {
            let err = sample_design(&s, fpc, LonelyPsu::Fail).unwrap_err();
            assert_eq!(
                err,
                SurveyError::LonelyPsu {
                    stratum: "MA-12-R".into()
                }
            );
        }
    }
}
