//! Cell suppression on a register table of about 100,000 cells:
//! sex (F, M, _U) × nationality (40) × region (12) × five-year age group (10) × year (4), every
//! dimension with its total. Counts are drawn so that about a third of the inner cells are
//! small (1-4) and a third empty, as in a national register cut this finely.
//!
//!     cargo bench --bench suppression
//!
//! Measures primary suppression, hypercube secondary suppression and the audit, separately.

use marsad::disclose::{audit, primary, suppress, CellStats, Cube, Rule, Status};

fn main() {
    divan::main();
}

const CATEGORIES: [usize; 5] = [3, 40, 12, 10, 4];

fn table() -> Cube {
    let mut state: u64 = 2026;
    let mut next = move || {
        state = state.wrapping_add(0x9e3779b97f4a7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
        z ^ (z >> 31)
    };
    Cube::from_inner(&CATEGORIES, &[true; 5], |_| {
        let v = match next() % 3 {
            0 => 0,
            1 => 1 + next() % 4,
            _ => 5 + next() % 200,
        };
        CellStats {
            value: v as f64,
            contributors: v,
            ..CellStats::default()
        }
    })
}

const RULES: [Rule; 1] = [Rule::Threshold { n: 5, zeros: false }];

#[divan::bench(sample_count = 5)]
fn primary_suppression(bencher: divan::Bencher) {
    let cube = table();
    bencher.bench(|| primary(&cube, &RULES));
}

#[divan::bench(sample_count = 3)]
fn secondary_suppression(bencher: divan::Bencher) {
    let cube = table();
    let needs = primary(&cube, &RULES);
    bencher.bench(|| suppress(&cube, &needs, vec![Status::Published; cube.len()]));
}

#[divan::bench(sample_count = 3)]
fn audit_after_suppression(bencher: divan::Bencher) {
    let cube = table();
    let needs = primary(&cube, &RULES);
    let s = suppress(&cube, &needs, vec![Status::Published; cube.len()]);
    eprintln!(
        "{} cells, {} primary, {} hidden",
        cube.len(),
        needs.iter().filter(|n| n.is_some()).count(),
        s.status.iter().filter(|x| x.hidden()).count()
    );
    bencher.bench(|| audit(&cube, &needs, &s.status, &s.certificates).expect("audit passes"));
}
