//! The chart of one check as a self-contained SVG, for `charts/*.svg` and
//! inline in `report.html`: every sample over time (requests sent under the
//! time axis), warm-up samples shaded and hollow, the Theil–Sen fit with its
//! slope interval, the budget's limit lines, units on the y axis, a legend.
//! Hand-written so the output is byte-stable for review; names go through
//! [`crate::escape::xml`]. Colours are the Okabe–Ito palette, and every
//! mark also differs in shape or dash, so the chart reads without colour.

use std::fmt::Write as _;

use super::chart::{ChartData, ChartPoint, nice_ticks, requests_text, tick_text, time_text};
use crate::escape::xml;

const W: f64 = 720.0;
const H: f64 = 380.0;
/// The plot area: left, right, top and bottom margins.
const L: f64 = 76.0;
const R: f64 = 24.0;
const T: f64 = 76.0;
const B: f64 = 66.0;
const DATA: &str = "#0072B2"; // blue
const FIT: &str = "#D55E00"; // vermillion
const LIMIT: &str = "#000000";
/// More samples than this are drawn as a line without markers.
const MAX_MARKERS: usize = 120;
/// Longest title drawn, in characters (the full one is the SVG's `<title>`).
const TITLE_CHARS: usize = 84;

/// The chart of one check. See the module docs.
pub fn chart(data: &ChartData) -> String {
    let frame = Frame::of(data);
    let mut s = String::new();
    let full_title = format!("{} — {}", data.title, status_word(data));
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12" role="img">"#
    );
    let _ = writeln!(s, "<title>{}</title>", xml(&full_title));
    let _ = writeln!(s, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{L}" y="22" font-size="14" font-weight="bold">{}</text>"#,
        xml(&shortened(&full_title, TITLE_CHARS))
    );
    legend(&mut s, data);
    warmup_shading(&mut s, data, &frame);
    axes(&mut s, data, &frame);
    band(&mut s, data, &frame);
    limits(&mut s, data, &frame);
    values_line(&mut s, data, &frame);
    fit_line(&mut s, data, &frame);
    markers(&mut s, data, &frame);
    off_chart_limits(&mut s, data, &frame);
    s.push_str("</svg>\n");
    s
}

fn status_word(data: &ChartData) -> String {
    data.status.to_string().to_uppercase()
}

fn shortened(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let head: String = text.chars().take(max - 1).collect();
        format!("{head}…")
    }
}

/// Data coordinates (minutes; values in the scale's unit) to pixels.
struct Frame {
    x_max: f64,
    y_lo: f64,
    y_hi: f64,
    y_step: f64,
    seconds: bool,
}

impl Frame {
    fn of(data: &ChartData) -> Frame {
        let sc = |v: f64| data.scale.number(v);
        let mut ys: Vec<f64> = data.points.iter().map(|p| sc(p.value)).collect();
        if let Some(f) = data.fit {
            ys.push(sc(f.line.at(f.from)));
            ys.push(sc(f.line.at(f.to)));
        }
        let (mut lo, mut hi) = min_max(&ys).unwrap_or((0.0, 1.0));
        let reach = (hi - lo).max(hi.abs() * 0.05);
        for l in &data.limits {
            let v = sc(l.value);
            if v >= lo - reach && v <= hi + reach {
                lo = lo.min(v);
                hi = hi.max(v);
            }
        }
        if hi - lo < 1e-9 {
            let pad = (hi.abs() * 0.1).max(1.0);
            (lo, hi) = (lo - pad, hi + pad);
        }
        if lo > 0.0 && lo < 0.5 * (hi - lo) {
            lo = 0.0; // close to zero: start there, growth reads true to scale
        }
        let ticks = nice_ticks(lo, hi, 5);
        let y_step = match ticks.as_slice() {
            [a, b, ..] => b - a,
            _ => (hi - lo) / 5.0,
        };
        let y_lo = (lo / y_step).floor() * y_step;
        let y_hi = (hi / y_step).ceil() * y_step;
        let x_max = data
            .points
            .iter()
            .map(|p| p.minutes)
            .fold(0.0, f64::max)
            .max(1.0 / 60.0);
        Frame {
            x_max,
            y_lo,
            y_hi,
            y_step,
            seconds: x_max < 2.0,
        }
    }

    fn px(&self, minutes: f64) -> f64 {
        L + (W - L - R) * minutes / self.x_max
    }

    /// `value` in the chart's unit (already scaled).
    fn py(&self, value: f64) -> f64 {
        T + (H - T - B) * (1.0 - (value - self.y_lo) / (self.y_hi - self.y_lo))
    }

    fn y_ticks(&self) -> Vec<f64> {
        let n = ((self.y_hi - self.y_lo) / self.y_step).round() as i64;
        (0..=n)
            .map(|k| self.y_lo + k as f64 * self.y_step)
            .collect()
    }

    fn inside(&self, value: f64) -> bool {
        value >= self.y_lo && value <= self.y_hi
    }
}

fn min_max(v: &[f64]) -> Option<(f64, f64)> {
    let lo = v
        .iter()
        .copied()
        .filter(|x| x.is_finite())
        .reduce(f64::min)?;
    let hi = v
        .iter()
        .copied()
        .filter(|x| x.is_finite())
        .reduce(f64::max)?;
    Some((lo, hi))
}

fn legend(s: &mut String, data: &ChartData) {
    let mut items: Vec<(Glyph, String)> = vec![(Glyph::Value, "value per sample".into())];
    if data.points.iter().any(|p| p.warmup) {
        items.push((Glyph::Warmup, "warm-up, not judged".into()));
    }
    if let Some(slope) = data.slope_text() {
        items.push((Glyph::Fit, format!("fit {slope}")));
    }
    if data.fit.is_some_and(|f| f.band.is_some()) {
        items.push((Glyph::Band, "slope interval".into()));
    }
    if !data.limits.is_empty() {
        items.push((Glyph::Limit, "budget limit".into()));
    }
    let (mut x, mut y) = (L, 42.0);
    for (glyph, text) in items {
        // About 5.5 px per character at 11 px, plus the glyph and a gap.
        let width = 36.0 + 5.5 * text.chars().count() as f64;
        if x > L && x + width > W - R {
            (x, y) = (L, y + 16.0);
        }
        glyph.draw(s, x, y);
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" font-size="11">{}</text>"#,
            x + 22.0,
            y + 4.0,
            xml(&text)
        );
        x += width;
    }
}

enum Glyph {
    Value,
    Warmup,
    Fit,
    Band,
    Limit,
}

impl Glyph {
    fn draw(&self, s: &mut String, x: f64, y: f64) {
        let _ = match self {
            Glyph::Value => writeln!(
                s,
                r#"<line x1="{x:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{DATA}" stroke-width="2"/><circle cx="{:.1}" cy="{y:.1}" r="3.5" fill="{DATA}"/>"#,
                x + 16.0,
                x + 8.0
            ),
            Glyph::Warmup => writeln!(
                s,
                r#"<circle cx="{:.1}" cy="{y:.1}" r="3.5" fill="white" stroke="{DATA}" stroke-width="1.5"/>"#,
                x + 8.0
            ),
            Glyph::Fit => writeln!(
                s,
                r#"<line x1="{x:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{FIT}" stroke-width="2" stroke-dasharray="6 3"/>"#,
                x + 16.0
            ),
            Glyph::Band => writeln!(
                s,
                r#"<rect x="{x:.1}" y="{:.1}" width="16" height="10" fill="{FIT}" fill-opacity="0.14"/>"#,
                y - 5.0
            ),
            Glyph::Limit => writeln!(
                s,
                r#"<line x1="{x:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{LIMIT}" stroke-width="1.5" stroke-dasharray="2 3"/>"#,
                x + 16.0
            ),
        };
    }
}

fn warmup_shading(s: &mut String, data: &ChartData, f: &Frame) {
    let Some(first_judged) = data.judged().next() else {
        return;
    };
    if !data.points.iter().any(|p| p.warmup) {
        return;
    }
    let (x0, x1) = (f.px(0.0), f.px(first_judged.minutes));
    let _ = writeln!(
        s,
        r##"<rect x="{x0:.1}" y="{T}" width="{:.1}" height="{:.1}" fill="#000000" fill-opacity="0.07"/>"##,
        x1 - x0,
        H - T - B
    );
    if x1 - x0 >= 56.0 {
        let _ = writeln!(
            s,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="11" fill="#444444">warm-up</text>"##,
            (x0 + x1) / 2.0,
            T + 14.0
        );
    }
}

fn axes(s: &mut String, data: &ChartData, f: &Frame) {
    let bottom = H - B;
    for v in f.y_ticks() {
        let y = f.py(v);
        let _ = writeln!(
            s,
            r##"<line x1="{L}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#dddddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            W - R,
            L - 6.0,
            y + 4.0,
            tick_text(v)
        );
    }
    let _ = writeln!(
        s,
        r#"<line x1="{L}" y1="{bottom:.1}" x2="{:.1}" y2="{bottom:.1}" stroke="black"/>"#,
        W - R
    );
    let _ = writeln!(
        s,
        r#"<line x1="{L}" y1="{T}" x2="{L}" y2="{bottom:.1}" stroke="black"/>"#
    );
    let mid_y = (T + bottom) / 2.0;
    let _ = writeln!(
        s,
        r#"<text x="16" y="{mid_y:.1}" text-anchor="middle" transform="rotate(-90 16 {mid_y:.1})">{}</text>"#,
        xml(&data.y_title())
    );
    // Two rows under the axis: time ticks, then requests sent at samples.
    let (time_row, request_row) = (bottom + 16.0, bottom + 31.0);
    let ticks = if f.seconds {
        nice_ticks(0.0, f.x_max * 60.0, 6)
            .into_iter()
            .map(|sec| sec / 60.0)
            .collect()
    } else {
        nice_ticks(0.0, f.x_max, 6)
    };
    for m in ticks {
        let x = f.px(m);
        let _ = writeln!(
            s,
            r#"<line x1="{x:.1}" y1="{bottom:.1}" x2="{x:.1}" y2="{:.1}" stroke="black"/><text x="{x:.1}" y="{time_row:.1}" text-anchor="middle">{}</text>"#,
            bottom + 4.0,
            time_text(m, f.seconds)
        );
    }
    let mut last_label = f64::NEG_INFINITY;
    for p in &data.points {
        let x = f.px(p.minutes);
        if x - last_label >= 60.0 {
            let _ = writeln!(
                s,
                r##"<text x="{x:.1}" y="{request_row:.1}" text-anchor="middle" font-size="11" fill="#444444">{}</text>"##,
                requests_text(p.requests)
            );
            last_label = x;
        }
    }
    let _ = writeln!(
        s,
        r##"<text x="{:.1}" y="{time_row:.1}" text-anchor="end" font-size="11" fill="#444444">time</text><text x="{:.1}" y="{request_row:.1}" text-anchor="end" font-size="11" fill="#444444">requests</text>"##,
        L - 24.0,
        L - 24.0
    );
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">time since the load started (requests sent by each sample)</text>"#,
        (L + W - R) / 2.0,
        H - 8.0
    );
}

/// The slope interval: clipped to the plot by a nested <svg> (no ids, so
/// many charts can share one HTML page), as a wide interval leaves it.
fn band(s: &mut String, data: &ChartData, f: &Frame) {
    let Some(fit) = data.fit else {
        return;
    };
    let Some([lo, hi]) = fit.band else {
        return;
    };
    let sc = |v: f64| data.scale.number(v);
    // The lines may cross inside the span: the band lies between their
    // upper and lower envelopes.
    let mut xs = vec![fit.from];
    let ds = hi.slope_per_min - lo.slope_per_min;
    if ds.abs() > 0.0 {
        let cross = (lo.intercept - hi.intercept) / ds;
        if cross > fit.from && cross < fit.to {
            xs.push(cross);
        }
    }
    xs.push(fit.to);
    let upper = xs.iter().map(|&m| (m, lo.at(m).max(hi.at(m))));
    let lower = xs.iter().rev().map(|&m| (m, lo.at(m).min(hi.at(m))));
    let pts: Vec<String> = upper
        .chain(lower)
        .map(|(m, v)| format!("{:.1},{:.1}", f.px(m), f.py(sc(v))))
        .collect();
    let (pw, ph) = (W - L - R, H - T - B);
    let _ = writeln!(
        s,
        r#"<svg x="{L}" y="{T}" width="{pw:.1}" height="{ph:.1}" viewBox="{L} {T} {pw:.1} {ph:.1}"><polygon points="{}" fill="{FIT}" fill-opacity="0.14"/></svg>"#,
        pts.join(" ")
    );
}

/// Drawn over the values, so it shows even where it matches them.
fn fit_line(s: &mut String, data: &ChartData, f: &Frame) {
    let Some(fit) = data.fit else {
        return;
    };
    let sc = |v: f64| data.scale.number(v);
    let _ = writeln!(
        s,
        r#"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{FIT}" stroke-width="2" stroke-dasharray="6 3"/>"#,
        f.px(fit.from),
        f.py(sc(fit.line.at(fit.from))),
        f.px(fit.to),
        f.py(sc(fit.line.at(fit.to)))
    );
}

fn limits(s: &mut String, data: &ChartData, f: &Frame) {
    for l in &data.limits {
        let v = data.scale.number(l.value);
        if !f.inside(v) {
            continue;
        }
        let y = f.py(v);
        let _ = writeln!(
            s,
            r#"<line x1="{L}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{LIMIT}" stroke-width="1.5" stroke-dasharray="2 3"/>"#,
            W - R
        );
        // Below the line when it is at the top of the plot, else above.
        let label_y = if y - T < 16.0 { y + 14.0 } else { y - 5.0 };
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{label_y:.1}" text-anchor="end" font-size="11" stroke="white" stroke-width="3" paint-order="stroke">{}</text>"#,
            W - R - 4.0,
            xml(&l.label)
        );
    }
}

/// Limits too far from the data to draw without flattening it: named
/// above the plot.
fn off_chart_limits(s: &mut String, data: &ChartData, f: &Frame) {
    let mut notes = Vec::new();
    for l in &data.limits {
        let v = data.scale.number(l.value);
        if !f.inside(v) {
            let side = if v > f.y_hi { "↑ above" } else { "↓ below" };
            notes.push(format!("{side} the chart: {}", l.label));
        }
    }
    if notes.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="end" font-size="11">{}</text>"#,
        W - R,
        T - 6.0,
        xml(&notes.join("; "))
    );
}

fn values_line(s: &mut String, data: &ChartData, f: &Frame) {
    let sc = |v: f64| data.scale.number(v);
    let line: Vec<String> = thinned(&data.points, f)
        .iter()
        .map(|p| format!("{:.1},{:.1}", f.px(p.minutes), f.py(sc(p.value))))
        .collect();
    let _ = writeln!(
        s,
        r#"<polyline points="{}" fill="none" stroke="{DATA}" stroke-width="2"/>"#,
        line.join(" ")
    );
}

/// A dot per judged sample, a hollow one per warm-up sample.
fn markers(s: &mut String, data: &ChartData, f: &Frame) {
    if data.points.len() > MAX_MARKERS {
        return;
    }
    let sc = |v: f64| data.scale.number(v);
    for p in &data.points {
        let (cx, cy) = (f.px(p.minutes), f.py(sc(p.value)));
        let _ = if p.warmup {
            writeln!(
                s,
                r#"<circle cx="{cx:.1}" cy="{cy:.1}" r="3.5" fill="white" stroke="{DATA}" stroke-width="1.5"/>"#
            )
        } else {
            writeln!(
                s,
                r#"<circle cx="{cx:.1}" cy="{cy:.1}" r="3.5" fill="{DATA}"/>"#
            )
        };
    }
}

/// At most the lowest and highest point per pixel column, in time order:
/// a 10,000-sample series keeps its shape in a few hundred points.
fn thinned<'a>(points: &'a [ChartPoint], f: &Frame) -> Vec<&'a ChartPoint> {
    if points.len() <= 2 * (W - L - R) as usize {
        return points.iter().collect();
    }
    let mut out: Vec<&ChartPoint> = Vec::new();
    let mut column: Vec<&ChartPoint> = Vec::new();
    let flush = |column: &mut Vec<&'a ChartPoint>, out: &mut Vec<&'a ChartPoint>| {
        let lo = column
            .iter()
            .copied()
            .min_by(|a, b| a.value.total_cmp(&b.value));
        let hi = column
            .iter()
            .copied()
            .max_by(|a, b| a.value.total_cmp(&b.value));
        if let (Some(lo), Some(hi)) = (lo, hi) {
            let (a, b) = if lo.minutes <= hi.minutes {
                (lo, hi)
            } else {
                (hi, lo)
            };
            out.push(a);
            if !std::ptr::eq(a, b) {
                out.push(b);
            }
        }
        column.clear();
    };
    let mut current = None;
    for p in points {
        let col = f.px(p.minutes).floor() as i64;
        if current != Some(col) {
            flush(&mut column, &mut out);
            current = Some(col);
        }
        column.push(p);
    }
    flush(&mut column, &mut out);
    out
}
