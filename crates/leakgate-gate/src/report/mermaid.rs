//! A chart GitHub draws: a Mermaid `xychart-beta` block of one check's
//! judged samples, for `summary.md` (job summaries and PR comments render
//! Mermaid, not SVG files). The title is the only untrusted text and goes
//! through [`crate::escape::mermaid`]; everything else is numbers and our
//! own words, so nothing can end the string or the fence.
//!
//! ```
//! use leakgate_gate::report::{RunInfo, RunReport, chart::ChartData, mermaid};
//! use leakgate_gate::judge::{judge, JudgeOptions};
//! use leakgate_gate::testing::Samples;
//! use leakgate_scenario::{BudgetRule, TypeFilter, budget::Budget};
//!
//! let counts: Vec<Option<u64>> = (0..6).map(|i| Some(100 * i)).collect();
//! let samples = Samples::new(6).finalizable("Leaky", &counts).build();
//! let budget: Budget = serde_saphyr::from_str("metric: finalizable\nmax_growth: 100\n").unwrap();
//! let verdict = judge(&samples, &[BudgetRule::new(budget, 1, 1).unwrap()], &TypeFilter::none(), &JudgeOptions::default());
//! let report = RunReport::judged(RunInfo::new("demo"), samples, verdict, None);
//! let block = mermaid::chart(&ChartData::of(&report, &report.checks()[0])).unwrap();
//! assert!(block.contains("\nxychart-beta\n"));
//! assert!(block.contains("    line [100, 200, 300, 400, 500]\n"));
//! ```

use std::fmt::Write as _;

use super::chart::{ChartData, ChartPoint, nice_ticks, tick_text, time_text};
use crate::escape::mermaid;

/// Points drawn at most: Mermaid labels every x category.
const MAX_POINTS: usize = 30;

/// The block, fenced, or `None` with fewer than two judged samples.
pub fn chart(data: &ChartData) -> Option<String> {
    let judged: Vec<&ChartPoint> = data.judged().collect();
    if judged.len() < 2 {
        return None;
    }
    let shown = evenly(&judged, MAX_POINTS);
    let sc = |v: f64| data.scale.number(v);
    let seconds = shown.last().is_some_and(|p| p.minutes < 2.0);
    let labels: Vec<String> = shown
        .iter()
        .map(|p| format!("\"{}\"", time_text(p.minutes, seconds)))
        .collect();
    let values: Vec<f64> = shown.iter().map(|p| sc(p.value)).collect();
    // The limit lines within reach of the data (a far one would flatten it).
    let (lo, hi) = min_max(&values);
    let reach = (hi - lo).max(hi.abs() * 0.05);
    let limits: Vec<(&str, f64)> = data
        .limits
        .iter()
        .map(|l| (l.label.as_str(), sc(l.value)))
        .filter(|(_, v)| *v >= lo - reach && *v <= hi + reach)
        .collect();
    let (lo, hi) = limits
        .iter()
        .fold((lo, hi), |(a, b), (_, v)| (a.min(*v), b.max(*v)));
    let (y_lo, y_hi) = axis_range(lo, hi);

    // Our palette (Okabe–Ito blue for the value, black for the limit), not
    // the theme's pale default, set in the block's own front matter.
    let mut s = String::from(
        "```mermaid\n---\nconfig:\n  themeVariables:\n    xyChart:\n      plotColorPalette: \"#0072B2, #000000\"\n---\nxychart-beta\n",
    );
    let _ = writeln!(
        s,
        "    title \"{} — {}\"",
        mermaid(&data.title),
        data.status.to_string().to_uppercase()
    );
    let _ = writeln!(
        s,
        "    x-axis \"time since the load started\" [{}]",
        labels.join(", ")
    );
    let _ = writeln!(
        s,
        "    y-axis \"{}\" {} --> {}",
        mermaid(&data.y_title()),
        tick_text(y_lo),
        tick_text(y_hi)
    );
    let _ = writeln!(s, "    line [{}]", numbers(&values));
    for (_, v) in &limits {
        let _ = writeln!(s, "    line [{}]", numbers(&vec![*v; values.len()]));
    }
    s.push_str("```\n");
    let mut caption = format!("Blue line: {} at each judged sample", data.y_title());
    for (label, _) in &limits {
        let _ = write!(caption, "; flat black line: the budget's {label}");
    }
    if let Some(slope) = data.slope_text() {
        let _ = write!(caption, ". Theil–Sen slope {slope}");
    }
    let _ = writeln!(s, "\n<sub>{}.</sub>", crate::escape::md_cell(&caption));
    Some(s)
}

/// At most `max` points, evenly spread, the first and last included.
fn evenly<'a>(points: &[&'a ChartPoint], max: usize) -> Vec<&'a ChartPoint> {
    if points.len() <= max {
        return points.to_vec();
    }
    let last = points.len() - 1;
    (0..max).map(|k| points[k * last / (max - 1)]).collect()
}

fn min_max(v: &[f64]) -> (f64, f64) {
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (lo, hi)
}

/// Round bounds around `lo..=hi`, from 0 when the data sits near it.
fn axis_range(lo: f64, hi: f64) -> (f64, f64) {
    let (mut lo, mut hi) = (lo, hi);
    if hi - lo < 1e-9 {
        let pad = (hi.abs() * 0.1).max(1.0);
        (lo, hi) = (lo - pad, hi + pad);
    }
    if lo > 0.0 && lo < 0.5 * (hi - lo) {
        lo = 0.0;
    }
    let ticks = nice_ticks(lo, hi, 5);
    let step = match ticks.as_slice() {
        [a, b, ..] => b - a,
        _ => (hi - lo) / 5.0,
    };
    ((lo / step).floor() * step, (hi / step).ceil() * step)
}

fn numbers(v: &[f64]) -> String {
    v.iter()
        .map(|x| tick_text(*x))
        .collect::<Vec<_>>()
        .join(", ")
}
