//! Builders for sample series, so a test reads as the situation it checks.
//!
//! ```
//! use leakgate_gate::testing::{Shape, Samples, shape};
//! const MIB: f64 = 1048576.0;
//! // "a heap that grows 1 MiB per sample with ±5% noise"
//! let v = shape(12, 20.0 * MIB, Shape::Linear { per_sample: MIB }, 0.05, 7);
//! let samples = Samples::new(12).scalar("committed.unknown", &v).build();
//! assert_eq!(samples.len(), 12);
//! ```

use std::collections::BTreeMap;

use leakgate_scenario::budget::Metric;

use crate::series::SampleMetrics;

/// The shape of a generated series before noise.
#[derive(Clone, Copy, Debug)]
pub enum Shape {
    /// base + per_sample·i: a leak.
    Linear { per_sample: f64 },
    /// base.
    Flat,
    /// base until sample `at`, then base + height.
    Step { at: usize, height: f64 },
    /// Rises over `period` samples by `amplitude`, then drops back (GC).
    Sawtooth { period: usize, amplitude: f64 },
    /// A cache filling over the first `samples` samples to base + height.
    CacheFill { samples: usize, height: f64 },
}

/// splitmix64: deterministic noise without a dependency.
fn next(state: &mut u64) -> f64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
}

/// `n` values of `shape` starting at `base`, each with uniform noise of
/// ±`noise`·base (so 0.05 = ±5% of the base level), seeded.
pub fn shape(n: usize, base: f64, shape: Shape, noise: f64, seed: u64) -> Vec<f64> {
    let mut st = seed;
    (0..n)
        .map(|i| {
            let clean = match shape {
                Shape::Linear { per_sample } => base + per_sample * i as f64,
                Shape::Flat => base,
                Shape::Step { at, height } => base + if i >= at { height } else { 0.0 },
                Shape::Sawtooth { period, amplitude } => {
                    base + amplitude * (i % period) as f64 / (period - 1).max(1) as f64
                }
                Shape::CacheFill { samples, height } => {
                    base + height * ((i + 1) as f64 / samples as f64).min(1.0)
                }
            };
            clean + noise * base * next(&mut st)
        })
        .collect()
}

/// Builds `SampleMetrics` at a fixed interval and request rate.
#[derive(Clone, Debug)]
pub struct Samples {
    samples: Vec<SampleMetrics>,
}

impl Samples {
    /// `n` samples 30 s apart, 1,000 requests apart.
    pub fn new(n: usize) -> Self {
        Samples::with_rate(n, 30.0, 1000)
    }

    pub fn with_rate(n: usize, secs_per_sample: f64, requests_per_sample: u64) -> Self {
        Samples {
            samples: (0..n)
                .map(|i| SampleMetrics {
                    index: i,
                    elapsed_secs: secs_per_sample * i as f64,
                    requests: requests_per_sample * i as u64,
                    ..Default::default()
                })
                .collect(),
        }
    }

    /// Sets a scalar metric (by its scenario name) on every sample.
    pub fn scalar(mut self, metric: &str, values: &[f64]) -> Self {
        let metric: Metric = metric.parse().expect("a metric name");
        for (s, v) in self.samples.iter_mut().zip(values) {
            s.values.insert(metric, *v);
        }
        self
    }

    /// Sets a finalizable type's count; `None` leaves the type absent.
    pub fn finalizable(mut self, type_name: &str, counts: &[Option<u64>]) -> Self {
        for (s, c) in self.samples.iter_mut().zip(counts) {
            if let Some(c) = c {
                s.finalizable.insert(type_name.to_string(), *c);
            }
        }
        self
    }

    /// Counts from floats (rounded, clamped at 0), e.g. from [`shape`].
    pub fn finalizable_f(self, type_name: &str, values: &[f64]) -> Self {
        let c: Vec<Option<u64>> = values
            .iter()
            .map(|v| Some(v.max(0.0).round() as u64))
            .collect();
        self.finalizable(type_name, &c)
    }

    pub fn heap(mut self, type_name: &str, counts: &[u64], bytes: &[u64]) -> Self {
        for (s, (c, b)) in self.samples.iter_mut().zip(counts.iter().zip(bytes)) {
            s.heap_count.insert(type_name.to_string(), *c);
            s.heap_bytes.insert(type_name.to_string(), *b);
        }
        self
    }

    pub fn build(self) -> Vec<SampleMetrics> {
        self.samples
    }
}

/// Convenience for tests: the map of one sample's scalar values, by metric name.
pub fn values(pairs: &[(&str, f64)]) -> BTreeMap<Metric, f64> {
    pairs
        .iter()
        .map(|(k, v)| (k.parse().expect("a metric name"), *v))
        .collect()
}
