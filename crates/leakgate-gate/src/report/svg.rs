//! A small self-contained SVG chart per check: the value per judged sample
//! and the fitted Theil–Sen line. Hand-written so the output is byte-stable
//! for review; names go through [`crate::escape::xml`].

use std::fmt::Write as _;

use crate::escape::xml;
use crate::judge::Check;
use crate::series::Series;
use crate::trend;
use crate::units::human;

/// A small self-contained SVG: the value per sample and the fitted
/// Theil–Sen line. Hand-written so the output is byte-stable for review.
pub fn chart(series: &Series, check: &Check) -> String {
    const W: f64 = 640.0;
    const H: f64 = 320.0;
    const L: f64 = 80.0; // left margin for labels
    const R: f64 = 20.0;
    const T: f64 = 40.0;
    const B: f64 = 40.0;
    let v = series.values();
    let n = v.len();
    let x: Vec<f64> = (0..n).map(|i| i as f64).collect();
    let fit = trend::theil_sen(&x, &v, 0.05);
    let mut lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let mut hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if let Some(f) = fit {
        for xi in [0.0, (n.max(1) - 1) as f64] {
            lo = lo.min(f.intercept + f.slope * xi);
            hi = hi.max(f.intercept + f.slope * xi);
        }
    }
    if !lo.is_finite() {
        (lo, hi) = (0.0, 1.0);
    }
    if hi - lo < 1e-9 {
        hi = lo + 1.0;
    }
    let px = |i: f64| L + (W - L - R) * if n > 1 { i / (n - 1) as f64 } else { 0.5 };
    let py = |y: f64| T + (H - T - B) * (1.0 - (y - lo) / (hi - lo));
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{L}" y="24" font-size="14">{} — {}</text>"#,
        xml(&check.key().to_string()),
        check.status
    );
    let _ = writeln!(
        s,
        r#"<line x1="{L}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="black"/>"#,
        H - B,
        W - R,
        H - B
    );
    let _ = writeln!(
        s,
        r#"<line x1="{L}" y1="{T}" x2="{L}" y2="{:.1}" stroke="black"/>"#,
        H - B
    );
    for y in [lo, hi] {
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            L - 6.0,
            py(y) + 4.0,
            xml(&human(y, series.unit))
        );
    }
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">sample</text>"#,
        (L + W - R) / 2.0,
        H - 10.0
    );
    let pts: Vec<(f64, f64)> = v
        .iter()
        .enumerate()
        .map(|(i, y)| (px(i as f64), py(*y)))
        .collect();
    let line: Vec<String> = pts.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
    let _ = writeln!(
        s,
        r##"<polyline points="{}" fill="none" stroke="#1f77b4" stroke-width="2"/>"##,
        line.join(" ")
    );
    for (cx, cy) in &pts {
        let _ = writeln!(
            s,
            r##"<circle cx="{cx:.1}" cy="{cy:.1}" r="3" fill="#1f77b4"/>"##
        );
    }
    if let Some(f) = fit {
        let x1 = (n - 1) as f64;
        let _ = writeln!(
            s,
            r##"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#d62728" stroke-dasharray="6 4"><title>Theil–Sen fit</title></line>"##,
            px(0.0),
            py(f.intercept),
            px(x1),
            py(f.intercept + f.slope * x1)
        );
    }
    s.push_str("</svg>\n");
    s
}
