//! Builders for sample series, so a test reads as the situation it checks.
//!
//! ```
//! use leakgate_gate::testing::{Behaviour, Noise, Shape, Samples, memory, shape};
//! const MIB: f64 = 1048576.0;
//! // "a heap that grows 1 MiB per sample with ±5% noise"
//! let v = shape(12, 20.0 * MIB, Shape::Linear { per_sample: MIB }, 0.05, 7);
//! let samples = Samples::new(12).scalar("committed.unknown", &v).build();
//! assert_eq!(samples.len(), 12);
//!
//! // "a service leaking 1 MiB per sample, which the GC commits 2 to 8 MiB at a time"
//! let leak = Behaviour::SteppedLeak { per_sample: MIB, step: (2.0 * MIB, 8.0 * MIB) };
//! let m = memory(12, 100.0 * MIB, leak, Noise::realistic(), 7);
//! assert!(m.live[11] - m.live[0] > 10.0 * MIB); // the live heap grows steadily
//! assert_eq!(m.committed.len(), 12);            // committed memory follows in steps
//! ```
//!
//! Two generators: [`shape`](crate::testing::shape) (a clean shape plus
//! uniform noise, one series) and [`memory`](crate::testing::memory) (what
//! a .NET service's committed memory and live managed heap look like,
//! sampled after an induced full GC, for each
//! [`Behaviour`](crate::testing::Behaviour)). Both are deterministic in
//! their seed.

use std::collections::BTreeMap;

use leakgate_dotnet::gccommit::GcCommitted;
use leakgate_scenario::BudgetRule;
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

/// A seeded random source (splitmix64), for generators that draw several
/// kinds of numbers.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        // Seeds 0, 1, 2… are far apart after one scrambling step.
        let mut state = seed ^ 0x5DEE_CE66_D1CE_4E5B;
        next(&mut state);
        Rng(state)
    }
    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (next(&mut self.0) + 1.0) / 2.0
    }
    /// Uniform in [lo, hi).
    pub fn between(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.uniform()
    }
    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u = self.uniform().max(f64::MIN_POSITIVE);
        let v = self.uniform();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.uniform() < p
    }
}

/// What a service does to its memory while it is sampled. Sizes in bytes;
/// "committed" is the memory a committed-memory metric sees (GC heap plus
/// native), "live" the managed bytes still reachable after a full GC.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Behaviour {
    /// Nothing grows.
    Flat,
    /// A leak: live bytes grow `per_sample`, committed memory right behind.
    Leak { per_sample: f64 },
    /// A leak the GC commits in steps: live bytes grow `per_sample`; the GC
    /// commits a step of a size drawn from `step` (lo, hi) each time the
    /// live bytes cross into it, so committed memory is a staircase with
    /// a step every step/per_sample samples, at a random phase.
    SteppedLeak { per_sample: f64, step: (f64, f64) },
    /// One growth of `height` at sample `at` (a pool or a cache made once):
    /// live and committed.
    Step { at: usize, height: f64 },
    /// A cache filling during the first `samples` samples to `height`, then
    /// full: live and committed.
    CacheFill { samples: usize, height: f64 },
    /// Committed memory rises by `amplitude` over `period` samples, then the
    /// GC gives it back; live bytes flat.
    Sawtooth { period: usize, amplitude: f64 },
    /// Large short-lived allocations: a sample catches, with probability
    /// `probability`, committed memory up to `height` higher than usual
    /// (not yet decommitted); live bytes flat.
    Bursty { probability: f64, height: f64 },
    /// The GC sizing its budget: committed memory creeps up by `height`
    /// over `samples` samples, then stays; live bytes flat.
    GcSizing { samples: usize, height: f64 },
}

impl Behaviour {
    /// Whether a gate should call this a leak.
    pub fn is_leak(&self) -> bool {
        matches!(self, Behaviour::Leak { .. } | Behaviour::SteppedLeak { .. })
    }
}

/// Noise added to a [`Behaviour`], as standard deviations.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Noise {
    /// Committed memory: σ as a fraction of the base level…
    pub committed_relative: f64,
    /// … plus this many bytes (allocator arenas, thread stacks, page slack).
    pub committed_bytes: f64,
    /// Live bytes: σ as a fraction of the live level (objects in flight when
    /// the induced GC ran).
    pub live_relative: f64,
    /// The GC keeps a band of free memory committed and moves it now and
    /// then (a region committed, another given back), independently of any
    /// leak: by this fraction of the base…
    pub gc_band_relative: f64,
    /// … plus this many bytes…
    pub gc_band_bytes: f64,
    /// … switching between the low and the high side with this probability
    /// per sample.
    pub gc_band_switch: f64,
    /// Uniform noise of ± this fraction of each series' level instead of
    /// normal noise (the harsher model of [`shape`]); 0 for none.
    pub uniform_relative: f64,
}

impl Noise {
    /// After an induced full GC: committed memory σ = 0.2% of the base +
    /// 128 KiB (≈ 170 KiB at 20 MiB, ≈ 0.9 MiB at 400 MiB), live bytes
    /// σ = 0.05%, and a free-space band of 2 MiB + 1% of the base that the
    /// GC moves on 15% of samples.
    pub fn realistic() -> Noise {
        Noise {
            committed_relative: 0.002,
            committed_bytes: 128.0 * 1024.0,
            live_relative: 0.0005,
            gc_band_relative: 0.01,
            gc_band_bytes: 2.0 * MIB,
            gc_band_switch: 0.15,
            uniform_relative: 0.0,
        }
    }
    /// Uniform ± `fraction` of the level, committed (of its base) and live
    /// bytes alike, no GC band: the model `shape` and the older tests use.
    pub fn uniform(fraction: f64) -> Noise {
        Noise {
            committed_relative: 0.0,
            committed_bytes: 0.0,
            live_relative: 0.0,
            gc_band_relative: 0.0,
            gc_band_bytes: 0.0,
            gc_band_switch: 0.0,
            uniform_relative: fraction,
        }
    }
    /// No noise at all.
    pub fn none() -> Noise {
        Noise::uniform(0.0)
    }
}

/// Committed memory, its GC part, and live managed bytes at the same
/// sample points. The rest of committed memory (`committed − gc`) is
/// native: allocator arenas, stacks, with the noise that comes with them.
#[derive(Clone, Debug, PartialEq)]
pub struct Memory {
    pub committed: Vec<f64>,
    pub gc: Vec<f64>,
    pub live: Vec<f64>,
}

impl Memory {
    /// Samples 30 s apart with `committed.unknown`, `committed.gc`,
    /// `committed.native` and `gc.live`.
    pub fn samples(&self) -> Vec<SampleMetrics> {
        let native: Vec<f64> = self
            .committed
            .iter()
            .zip(&self.gc)
            .map(|(c, g)| c - g)
            .collect();
        Samples::new(self.committed.len())
            .scalar("committed.unknown", &self.committed)
            .scalar("committed.gc", &self.gc)
            .scalar("committed.native", &native)
            .scalar("gc.live", &self.live)
            .build()
    }

    /// The first `n` samples.
    pub fn prefix(&self, n: usize) -> Memory {
        Memory {
            committed: self.committed[..n.min(self.committed.len())].to_vec(),
            gc: self.gc[..n.min(self.gc.len())].to_vec(),
            live: self.live[..n.min(self.live.len())].to_vec(),
        }
    }
}

/// Share of committed memory that is live managed objects at the start…
const LIVE_SHARE: f64 = 0.6;
/// … and that the GC holds (live objects plus the free space it keeps).
const GC_SHARE: f64 = 0.75;

/// `n` samples of a service whose committed memory starts at `base`,
/// behaving as `behaviour`, with `noise`; deterministic in `seed`.
pub fn memory(n: usize, base: f64, behaviour: Behaviour, noise: Noise, seed: u64) -> Memory {
    let mut rng = Rng::new(seed);
    let live_base = LIVE_SHARE * base;
    // Drawn once per series: the staircase's step and phase, the band's side.
    let (step, phase) = match behaviour {
        Behaviour::SteppedLeak { step: (lo, hi), .. } => {
            let s = rng.between(lo, hi).max(1.0);
            (s, rng.uniform())
        }
        _ => (1.0, 0.0),
    };
    let band = noise.gc_band_relative * base + noise.gc_band_bytes;
    let mut band_high = rng.chance(0.5);
    let mut committed = Vec::with_capacity(n);
    let mut gc = Vec::with_capacity(n);
    let mut live = Vec::with_capacity(n);
    for i in 0..n {
        let t = i as f64;
        // Growth of live bytes and of committed memory, before noise.
        let (live_growth, committed_growth) = match behaviour {
            Behaviour::Flat => (0.0, 0.0),
            Behaviour::Leak { per_sample } => (per_sample * t, per_sample * t),
            Behaviour::SteppedLeak { per_sample, .. } => {
                let grown = per_sample * t;
                // A step is committed each time live growth crosses a multiple of it.
                (grown, step * ((grown / step + phase).floor()))
            }
            Behaviour::Step { at, height } => {
                let h = if i >= at { height } else { 0.0 };
                (h, h)
            }
            Behaviour::CacheFill { samples, height } => {
                let h = height * ((i + 1) as f64 / samples.max(1) as f64).min(1.0);
                (h, h)
            }
            Behaviour::Sawtooth { period, amplitude } => {
                let p = period.max(1);
                (0.0, amplitude * (i % p) as f64 / (p - 1).max(1) as f64)
            }
            Behaviour::Bursty {
                probability,
                height,
            } => {
                let burst = if rng.chance(probability) {
                    height * rng.between(0.25, 1.0)
                } else {
                    0.0
                };
                (0.0, burst)
            }
            Behaviour::GcSizing { samples, height } => {
                (0.0, height * (t / samples.max(1) as f64).min(1.0))
            }
        };
        if rng.chance(noise.gc_band_switch) {
            band_high = !band_high;
        }
        let band_now = if band_high { band } else { 0.0 };
        let (c_noise, l_noise) = if noise.uniform_relative > 0.0 {
            (
                noise.uniform_relative * base * next(&mut rng.0),
                noise.uniform_relative * (live_base + live_growth) * next(&mut rng.0),
            )
        } else {
            let c_sigma = noise.committed_relative * base + noise.committed_bytes;
            let l_sigma = noise.live_relative * (live_base + live_growth);
            (c_sigma * rng.normal(), l_sigma * rng.normal())
        };
        // Growth and the band are the GC's; the jitter is native memory's.
        let gc_now = GC_SHARE * base + committed_growth + band_now;
        gc.push(gc_now);
        committed.push(gc_now + (1.0 - GC_SHARE) * base + c_noise);
        live.push(live_base + live_growth + l_noise);
    }
    Memory {
        committed,
        gc,
        live,
    }
}

const MIB: f64 = 1024.0 * 1024.0;

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

    /// Sets the runtime's count of the GC's committed bytes, per sample.
    pub fn gc_committed(mut self, counts: &[GcCommitted]) -> Self {
        for (s, c) in self.samples.iter_mut().zip(counts) {
            s.gc_committed = Some(*c);
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

/// Budgets from a YAML list, as a scenario's `budgets:` (line 1, column 1).
pub fn budgets(yaml: &str) -> Vec<BudgetRule> {
    let parsed: Vec<leakgate_scenario::budget::Budget> =
        serde_saphyr::from_str(yaml).expect("the test's budgets parse");
    parsed
        .into_iter()
        .map(|b| BudgetRule::new(b, 1, 1).expect("the test's budgets are valid"))
        .collect()
}
