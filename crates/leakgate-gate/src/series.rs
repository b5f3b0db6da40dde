//! Samples in, series out: one series per (metric, type).
//!
//! A sample is what the runner measured at one moment; a series is one
//! number followed across samples. Per-type metrics give one series per
//! type; a type absent from a sample counts 0 there (it had no objects yet).
//!
//! ```
//! use std::collections::BTreeMap;
//! use leakgate_gate::series::{self, SampleMetrics};
//! use leakgate_scenario::budget::Metric;
//!
//! let samples: Vec<SampleMetrics> = (0..3)
//!     .map(|i| SampleMetrics {
//!         index: i,
//!         elapsed_secs: 60.0 * i as f64,
//!         requests: 1000 * i as u64,
//!         values: BTreeMap::from([(Metric::Resident, 100.0 + 10.0 * i as f64)]),
//!         ..Default::default()
//!     })
//!     .collect();
//! let s = series::scalar(&samples, Metric::Resident).unwrap();
//! assert_eq!(s.values(), vec![100.0, 110.0, 120.0]);
//! assert_eq!(s.growth_per_minute(), Some(10.0));
//! assert_eq!(s.growth_per_1k_requests(), Some(10.0));
//! ```

use std::collections::{BTreeMap, BTreeSet};

use leakgate_record::GcCommitted;
use leakgate_record::SampleTimings;
use leakgate_scenario::budget::{Metric, Unit};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What the runner measured at one sampling point. Plain data so the
/// runner can fill it without knowing about budgets.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
pub struct SampleMetrics {
    pub index: usize,
    /// Seconds since load started.
    pub elapsed_secs: f64,
    /// Requests sent so far.
    pub requests: u64,
    /// Scalar metrics (`committed.unknown`, `resident`, ...), in bytes.
    pub values: BTreeMap<Metric, f64>,
    /// Finalizable objects per type name.
    pub finalizable: BTreeMap<String, u64>,
    /// Live objects per type name.
    pub heap_count: BTreeMap<String, u64>,
    /// Bytes of live objects per type name.
    pub heap_bytes: BTreeMap<String, u64>,
    /// Where the sample's time went (GC, dump, maps, analysis), when measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timings: Option<SampleTimings>,
    /// The GC's committed bytes by what holds them, as the runtime counted
    /// them: its own sizing, next to the live heap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gc_committed: Option<GcCommitted>,
    /// The runtime's own heaps (JIT'd code, stubs, loader heaps), part of
    /// `committed.native`, where the sample tells them apart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_heaps: Option<f64>,
}

impl SampleMetrics {
    /// The per-type map behind a per-type metric.
    pub fn per_type(&self, metric: Metric) -> Option<&BTreeMap<String, u64>> {
        match metric {
            Metric::Finalizable => Some(&self.finalizable),
            Metric::HeapCount => Some(&self.heap_count),
            Metric::HeapBytes => Some(&self.heap_bytes),
            _ => None,
        }
    }
}

/// Which series: a metric, and the type for per-type metrics.
#[derive(
    Serialize, Deserialize, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, JsonSchema,
)]
pub struct SeriesKey {
    pub metric: Metric,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub type_name: Option<String>,
}

impl std::fmt::Display for SeriesKey {
    /// `committed.unknown`, or `finalizable System.Foo`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.type_name {
            Some(t) => write!(f, "{} {t}", self.metric),
            None => write!(f, "{}", self.metric),
        }
    }
}

/// One sampled value with its position in time and load.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq)]
pub struct Point {
    pub index: usize,
    pub elapsed_secs: f64,
    pub requests: u64,
    pub value: f64,
}

/// One metric (and type, for per-type metrics) across samples.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Series {
    pub metric: Metric,
    pub type_name: Option<String>,
    pub unit: Unit,
    pub points: Vec<Point>,
}

impl Series {
    pub fn values(&self) -> Vec<f64> {
        self.points.iter().map(|p| p.value).collect()
    }
    /// Elapsed time in minutes, the x axis of per-minute slopes.
    pub fn minutes(&self) -> Vec<f64> {
        self.points.iter().map(|p| p.elapsed_secs / 60.0).collect()
    }
    /// Requests in thousands, the x axis of per-1k-request slopes.
    pub fn kilo_requests(&self) -> Vec<f64> {
        self.points
            .iter()
            .map(|p| p.requests as f64 / 1000.0)
            .collect()
    }
    pub fn first(&self) -> Option<f64> {
        self.points.first().map(|p| p.value)
    }
    pub fn last(&self) -> Option<f64> {
        self.points.last().map(|p| p.value)
    }
    /// Last minus first.
    pub fn growth(&self) -> Option<f64> {
        Some(self.last()? - self.first()?)
    }
    /// Growth divided by the minutes between first and last sample; `None`
    /// when no time passed.
    pub fn growth_per_minute(&self) -> Option<f64> {
        let (a, b) = (self.points.first()?, self.points.last()?);
        let dt = (b.elapsed_secs - a.elapsed_secs) / 60.0;
        (dt > 0.0).then(|| (b.value - a.value) / dt)
    }
    /// Growth per 1,000 requests; `None` when no requests were sent.
    pub fn growth_per_1k_requests(&self) -> Option<f64> {
        let (a, b) = (self.points.first()?, self.points.last()?);
        let dr = b.requests.saturating_sub(a.requests) as f64 / 1000.0;
        (dr > 0.0).then(|| (b.value - a.value) / dr)
    }
    pub fn key(&self) -> SeriesKey {
        SeriesKey {
            metric: self.metric,
            type_name: self.type_name.clone(),
        }
    }
}

fn point(s: &SampleMetrics, value: f64) -> Point {
    Point {
        index: s.index,
        elapsed_secs: s.elapsed_secs,
        requests: s.requests,
        value,
    }
}

/// A scalar metric across samples. Samples that lack the metric are
/// skipped; `None` when no sample has it (e.g. `committed.gc` without
/// managed analysis).
pub fn scalar(samples: &[SampleMetrics], metric: Metric) -> Option<Series> {
    let points: Vec<Point> = samples
        .iter()
        .filter_map(|s| s.values.get(&metric).map(|&v| point(s, v)))
        .collect();
    (!points.is_empty()).then(|| Series {
        metric,
        type_name: None,
        unit: metric.unit(),
        points,
    })
}

/// Every type name seen in any sample for a per-type metric, sorted.
pub fn type_names(samples: &[SampleMetrics], metric: Metric) -> BTreeSet<String> {
    samples
        .iter()
        .filter_map(|s| s.per_type(metric))
        .flat_map(|m| m.keys().cloned())
        .collect()
}

/// One type of a per-type metric; absent means 0.
pub fn per_type(samples: &[SampleMetrics], metric: Metric, type_name: &str) -> Series {
    let points = samples
        .iter()
        .map(|s| {
            let v = s
                .per_type(metric)
                .and_then(|m| m.get(type_name))
                .copied()
                .unwrap_or(0);
            point(s, v as f64)
        })
        .collect();
    Series {
        metric,
        type_name: Some(type_name.to_string()),
        unit: metric.unit(),
        points,
    }
}

/// The sum of several types' per-type series, named `label`: the bytes of
/// a finding ([`crate::findings`]).
pub fn summed(samples: &[SampleMetrics], metric: Metric, types: &[String], label: &str) -> Series {
    let points = samples
        .iter()
        .map(|s| {
            let of = |t: &String| s.per_type(metric).and_then(|m| m.get(t)).copied();
            point(s, types.iter().filter_map(of).sum::<u64>() as f64)
        })
        .collect();
    Series {
        metric,
        type_name: Some(label.to_string()),
        unit: metric.unit(),
        points,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_absent_from_early_samples_start_at_zero() {
        let mut a = SampleMetrics::default();
        a.finalizable.insert("A".into(), 5);
        let mut b = SampleMetrics {
            index: 1,
            elapsed_secs: 30.0,
            requests: 500,
            ..Default::default()
        };
        b.finalizable.insert("A".into(), 6);
        b.finalizable.insert("B".into(), 9);
        let samples = [a, b];
        assert_eq!(
            type_names(&samples, Metric::Finalizable)
                .into_iter()
                .collect::<Vec<_>>(),
            ["A", "B"]
        );
        let s = per_type(&samples, Metric::Finalizable, "B");
        assert_eq!(s.values(), [0.0, 9.0]);
        assert_eq!(s.growth_per_minute(), Some(18.0));
        assert_eq!(s.growth_per_1k_requests(), Some(18.0));
        assert!(scalar(&samples, Metric::Resident).is_none());
    }
}
