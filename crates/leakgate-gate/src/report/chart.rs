//! What a chart of one check shows, before any drawing: every sample of the
//! series over time (warm-up ones marked), the check's Theil–Sen fit with
//! its slope interval, and the budget's limit lines. [`super::svg`] and
//! [`super::mermaid`] draw it; nothing here knows pixels.
//!
//! ```
//! use leakgate_gate::report::{RunInfo, RunReport, chart::ChartData};
//! use leakgate_gate::judge::{judge, JudgeOptions};
//! use leakgate_gate::testing::Samples;
//! use leakgate_scenario::{BudgetRule, TypeFilter, budget::Budget};
//!
//! let samples = Samples::new(6).finalizable("Leaky", &[Some(0), Some(9), Some(100), Some(200), Some(300), Some(400)]).build();
//! let budget: Budget = serde_saphyr::from_str("metric: finalizable\nmax_growth: 100\n").unwrap();
//! let verdict = judge(&samples, &[BudgetRule::new(budget, 1, 1).unwrap()], &TypeFilter::none(), &JudgeOptions::default());
//! let report = RunReport::judged(RunInfo::new("demo"), samples, verdict, None);
//! let chart = ChartData::of(&report, &report.checks()[0]);
//! assert_eq!(chart.points.iter().filter(|p| p.warmup).count(), 1);
//! assert_eq!(chart.limits[0].value, 109.0); // the first judged value + max_growth
//! assert!(chart.fit.unwrap().slope_per_min > 0.0);
//! ```

use leakgate_scenario::budget::{Metric, Unit};

use super::RunReport;
use crate::judge::{Check, Status};
use crate::units::{binary_unit, human, human_signed};

/// One sample of the series.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChartPoint {
    /// Minutes since the load started.
    pub minutes: f64,
    /// Requests sent by then.
    pub requests: u64,
    pub value: f64,
    /// Taken before the judged samples: shown, not judged.
    pub warmup: bool,
}

/// A straight line `value = intercept + slope · minutes`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Line {
    pub slope_per_min: f64,
    pub intercept: f64,
}

impl Line {
    pub fn at(&self, minutes: f64) -> f64 {
        self.intercept + self.slope_per_min * minutes
    }

    /// The line of `slope` through the points: intercept = median(y − slope·x),
    /// as Theil–Sen places its line.
    fn through(points: &[ChartPoint], slope: f64) -> Line {
        let mut r: Vec<f64> = points.iter().map(|p| p.value - slope * p.minutes).collect();
        r.sort_by(f64::total_cmp);
        let n = r.len();
        let intercept = match n {
            0 => 0.0,
            _ if n % 2 == 1 => r[n / 2],
            _ => (r[n / 2 - 1] + r[n / 2]) / 2.0,
        };
        Line {
            slope_per_min: slope,
            intercept,
        }
    }
}

/// The check's Theil–Sen fit over the judged samples.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fit {
    pub slope_per_min: f64,
    pub line: Line,
    /// The lines of the interval's lower and upper slope, each placed as
    /// Theil–Sen places its line; the band between them.
    pub band: Option<[Line; 2]>,
    /// The judged span, in minutes: the fit is drawn over it only.
    pub from: f64,
    pub to: f64,
}

/// A horizontal budget line.
#[derive(Clone, Debug, PartialEq)]
pub struct LimitLine {
    /// What the line is, for a label: `max 64.0 MiB`.
    pub label: String,
    pub value: f64,
}

/// How values read on the y axis: bytes in one binary unit, or counts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scale {
    pub divisor: f64,
    /// `MiB`, `KiB`, `B`, or `objects`.
    pub unit: &'static str,
}

impl Scale {
    fn of(unit: Unit, largest: f64) -> Scale {
        match unit {
            Unit::Bytes => {
                let (divisor, unit) = binary_unit(largest);
                Scale { divisor, unit }
            }
            Unit::Count => Scale {
                divisor: 1.0,
                unit: "objects",
            },
        }
    }

    /// A value in the scale's unit, without the unit: `36.2`, `1200`.
    pub fn number(&self, v: f64) -> f64 {
        v / self.divisor
    }
}

/// Everything a chart of one check shows.
#[derive(Clone, Debug, PartialEq)]
pub struct ChartData {
    /// `metric` or `metric type` (untrusted: escape when drawing).
    pub title: String,
    pub metric: Metric,
    pub status: Status,
    pub unit: Unit,
    pub scale: Scale,
    pub points: Vec<ChartPoint>,
    pub fit: Option<Fit>,
    pub limits: Vec<LimitLine>,
}

impl ChartData {
    /// The chart of `check`: all of the run's samples of its series.
    pub fn of(report: &RunReport, check: &Check) -> ChartData {
        let series = check.series(&report.samples);
        let judged_from = report
            .verdict
            .as_ref()
            .and_then(|v| report.samples.get(v.judged_from))
            .map_or(0, |s| s.index);
        let points: Vec<ChartPoint> = series
            .points
            .iter()
            .map(|p| ChartPoint {
                minutes: p.elapsed_secs / 60.0,
                requests: p.requests,
                value: p.value,
                warmup: p.index < judged_from,
            })
            .collect();
        let judged: Vec<ChartPoint> = points.iter().copied().filter(|p| !p.warmup).collect();
        let fit = check.slope_per_min.and_then(|slope| {
            let (first, last) = (judged.first()?, judged.last()?);
            Some(Fit {
                slope_per_min: slope,
                line: Line::through(&judged, slope),
                band: check
                    .theil_sen_ci_per_min
                    .map(|[lo, hi]| [Line::through(&judged, lo), Line::through(&judged, hi)]),
                from: first.minutes,
                to: last.minutes,
            })
        });
        let h = |v: f64| human(v, check.unit);
        let mut limits = Vec::new();
        if let Some(max) = check.limits.max {
            limits.push(LimitLine {
                label: format!("max {}", h(max)),
                value: max,
            });
        }
        if let Some(ceiling) = check.limits.growth_ceiling {
            limits.push(LimitLine {
                label: format!(
                    "max_growth {} from the first judged value",
                    human_signed(ceiling - check.first, check.unit)
                ),
                value: ceiling,
            });
        }
        let largest = points.iter().map(|p| p.value.abs()).fold(0.0, f64::max);
        ChartData {
            title: check.key().to_string(),
            metric: check.metric,
            status: check.status,
            unit: check.unit,
            scale: Scale::of(check.unit, largest),
            points,
            fit,
            limits,
        }
    }

    /// The samples the verdict judged.
    pub fn judged(&self) -> impl Iterator<Item = &ChartPoint> {
        self.points.iter().filter(|p| !p.warmup)
    }

    /// The fit's slope for a legend: `+300/min`, `+8.0 MiB/min`.
    pub fn slope_text(&self) -> Option<String> {
        let text = |v: f64| match self.unit {
            // Three significant digits: a fitted count is not exact.
            Unit::Count => {
                let digits = if v.abs() >= 100.0 {
                    0
                } else if v.abs() >= 10.0 {
                    1
                } else {
                    2
                };
                let s = format!("{v:.digits$}");
                if v > 0.0 { format!("+{s}") } else { s }
            }
            Unit::Bytes => human_signed(v, self.unit),
        };
        self.fit.map(|f| format!("{}/min", text(f.slope_per_min)))
    }

    /// What the y axis measures: `committed.unknown (MiB)`.
    pub fn y_title(&self) -> String {
        format!("{} ({})", self.metric, self.scale.unit)
    }
}

/// About `target` round steps covering `lo..=hi`: 1, 2 or 5 × 10^k.
pub fn nice_ticks(lo: f64, hi: f64, target: usize) -> Vec<f64> {
    if !lo.is_finite() || !hi.is_finite() || hi <= lo {
        return vec![lo];
    }
    let raw = (hi - lo) / target.max(1) as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last).map(|k| k as f64 * step).collect()
}

/// A tick value without float noise: `0.3`, not `0.30000000000000004`.
pub fn tick_text(v: f64) -> String {
    let rounded = (v * 1e6).round() / 1e6;
    if rounded == rounded.trunc() {
        format!("{}", rounded as i64)
    } else {
        let s = format!("{rounded:.6}");
        s.trim_end_matches('0').to_string()
    }
}

/// Minutes for an axis: `45 s` under two minutes, else `2.5 min`.
pub fn time_text(minutes: f64, in_seconds: bool) -> String {
    if in_seconds {
        format!("{} s", tick_text(minutes * 60.0))
    } else {
        format!("{} min", tick_text(minutes))
    }
}

/// Requests for an axis: `950`, `12.5k`, `3.2M`.
pub fn requests_text(n: u64) -> String {
    match n {
        0..1_000 => n.to_string(),
        1_000..1_000_000 => format!("{}k", tick_text((n as f64 / 100.0).round() / 10.0)),
        _ => format!("{}M", tick_text((n as f64 / 100_000.0).round() / 10.0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_inside() {
        assert_eq!(nice_ticks(0.0, 10.0, 5), [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        assert_eq!(nice_ticks(3.2, 41.0, 4), [10.0, 20.0, 30.0, 40.0]);
        assert_eq!(tick_text(0.1 + 0.2), "0.3");
        assert_eq!(requests_text(12_345), "12.3k");
        assert_eq!(requests_text(999), "999");
        assert_eq!(time_text(0.5, true), "30 s");
    }
}
