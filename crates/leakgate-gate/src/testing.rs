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
//! Three generators: [`shape`](crate::testing::shape) (a clean shape plus
//! uniform noise, one series), [`memory`](crate::testing::memory) (what
//! a .NET service's committed memory and live managed heap look like,
//! sampled after an induced full GC, for each
//! [`Behaviour`](crate::testing::Behaviour)) and
//! [`family`](crate::testing::family) (the per-type counts and bytes of a
//! heap of 1,500 types after that GC: most flat, some with objects in
//! flight, warm-up caches, maybe one type leaking). All are deterministic
//! in their seed.

use std::collections::BTreeMap;

use leakgate_record::GcCommitted;
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
    /// Log-uniform in [lo, hi): as likely between 10 and 100 as between
    /// 100 and 1,000.
    pub fn log_between(&mut self, lo: f64, hi: f64) -> f64 {
        self.between(lo.ln(), hi.ln()).exp()
    }
    /// Poisson with mean `lambda` (Knuth's method: for small means).
    pub fn poisson(&mut self, lambda: f64) -> u64 {
        let limit = (-lambda.max(0.0)).exp();
        let mut k = 0;
        let mut p = self.uniform();
        while p > limit {
            k += 1;
            p *= self.uniform();
        }
        k
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
    /// Live bytes: σ as a fraction of the live level…
    pub live_relative: f64,
    /// … plus this many bytes (timers and background work that allocate
    /// while the load is paused for the induced GC).
    pub live_bytes: f64,
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
    /// σ = 16 KiB + 0.01% of the live level (≈ 18 KiB at 20 MiB, ≈ 40 KiB
    /// at 400 MiB), and a free-space band of 2 MiB + 1% of the base that
    /// the GC moves on 15% of samples.
    ///
    /// The live heap's σ is fitted with a wide margin to what the fixture
    /// service measures with the load paused for each sample: 1–6 KiB
    /// between consecutive samples after warm-up, whether the live heap is
    /// 2 MiB or 400 MiB (`LEAKY_BALLAST_MB: 400`, 8 connections at 60
    /// requests/s: σ ≈ 2 KiB per sample). An earlier model scaled it with
    /// the heap (0.05%: 200 KiB at 400 MiB), 100 times what was measured.
    pub fn realistic() -> Noise {
        Noise {
            committed_relative: 0.002,
            committed_bytes: 128.0 * 1024.0,
            live_relative: 0.0001,
            live_bytes: 16.0 * 1024.0,
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
            live_bytes: 0.0,
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
            let l_sigma = noise.live_relative * (live_base + live_growth) + noise.live_bytes;
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

/// How many types a [`family`] holds.
pub const FAMILY_TYPES: usize = 1500;

/// The type that leaks in a [`family`] whose shape has a leak.
pub const FAMILY_LEAKING_TYPE: &str = "App.Sessions.SessionState";

/// One type of a [`family`] that leaks: `objects` more objects of `size`
/// bytes each at every sample.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FamilyLeak {
    pub objects: u64,
    pub size: u64,
    /// Types the leak is spread over, all held by one holder
    /// ([`family_findings`]): [`FAMILY_LEAKING_TYPE`] and
    /// `App.Sessions.Part1`, … each gaining `objects` of `size`.
    pub types: usize,
}

impl FamilyLeak {
    /// Bytes gained per sample, by all its types.
    pub fn bytes_per_sample(&self) -> u64 {
        self.objects * self.size * self.types.max(1) as u64
    }
}

/// What the types of a [`family`] do besides their noise.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FamilyShape {
    /// Each warm-up cache fills over a number of samples drawn uniformly
    /// from this range (inclusive), then stays full.
    pub cache_fill: (usize, usize),
    /// [`FAMILY_LEAKING_TYPE`] leaks so; `None`: nothing leaks (the type is
    /// then one more with objects in flight).
    pub leak: Option<FamilyLeak>,
}

impl FamilyShape {
    /// Nothing leaks; the warm-up caches fill over their first 2–5 samples.
    pub fn quiet() -> FamilyShape {
        FamilyShape {
            cache_fill: (2, 5),
            leak: None,
        }
    }
    /// Nothing leaks; the caches fill over 4–6 samples, so with one
    /// warm-up sample every one is still filling at the first judged
    /// sample, and some at the first look of `count: auto` (5 samples).
    pub fn caches_still_filling() -> FamilyShape {
        FamilyShape {
            cache_fill: (4, 6),
            leak: None,
        }
    }
    /// As [`FamilyShape::quiet`], and [`FAMILY_LEAKING_TYPE`] gains
    /// `objects` objects of `size` bytes per sample.
    pub fn leak(objects: u64, size: u64) -> FamilyShape {
        FamilyShape::split_leak(objects, size, 1)
    }
    /// One leak through one holder over `types` types, each gaining
    /// `objects` objects of `size` bytes per sample.
    pub fn split_leak(objects: u64, size: u64, types: usize) -> FamilyShape {
        FamilyShape {
            leak: Some(FamilyLeak {
                objects,
                size,
                types,
            }),
            ..FamilyShape::quiet()
        }
    }
    /// Whether a gate should fail the leaking type.
    pub fn is_leak(&self) -> bool {
        self.leak.is_some_and(|l| l.objects > 0)
    }
}

/// The busy types of a [`family`]: many objects of varying sizes.
const BUSY_TYPES: [&str; 10] = [
    "System.String",
    "System.Byte[]",
    "System.Char[]",
    "System.Object[]",
    "System.Int32[]",
    "System.Collections.Generic.Dictionary+Entry<System.String, System.Object>[]",
    "System.Collections.Generic.List<System.Object>",
    "System.Threading.Tasks.Task",
    "System.Action",
    "System.Text.StringBuilder",
];

/// `n` samples of a .NET managed heap of [`FAMILY_TYPES`] types, as a heap
/// walk after an induced full GC sees it: `heap_count` and `heap_bytes`
/// per type, 30 s and 1,000 requests apart ([`Samples::new`]), behaving as
/// `shape`; deterministic in `seed` (the same seed gives the same types and
/// noise whatever the shape, only the leak and the caches' fill differ).
///
/// The noise model, drawn per type from the seed:
/// - **sizes**: an object of an ordinary type is 24 B × 2,731^(u²), u
///   uniform, rounded to 8 B — 24 B to 64 KiB, median ≈ 170 B;
///   instances 20,000^(u²) — 1 to 20,000, median ≈ 12;
/// - **flat** (about 78% of the types): exactly the same count and bytes
///   at every sample — everything they hold is reachable from statics or
///   long-lived services, and the GC just collected the rest;
/// - **in flight** (20% of the ordinary types, `App.Requests.*`): objects
///   of requests running when the GC ran, so count = instances +
///   Poisson(λ), λ drawn from 0.3 to 3 per type, independently per sample;
///   bytes = count × size;
/// - **busy** (10 types: `System.String`, `System.Byte[]`, …): 5,000 to
///   200,000 objects (log-uniform), count σ = 0.5%, a mean size of
///   32 B–2 KiB whose mix varies, bytes = count × size × (1 + 1%·N(0,1)):
///   ± a couple of % between samples;
/// - **warm-up caches and pools** (20–50 of them, `App.Caches.*`): fill to
///   64 KiB–16 MiB (log-uniform) of 48 B–4 KiB entries, linearly over a
///   number of samples drawn from `shape.cache_fill` (full at sample
///   `fill − 1`, from 0), then stay; a third of them keep moving a
///   little once full (entries evicted and added: count σ = 0.2% of the
///   full count, at least half an entry);
/// - **the leaking type** [`FAMILY_LEAKING_TYPE`]: 50 to 2,000 instances
///   plus Poisson(1.5) in flight, gaining `leak.objects` of `leak.size`
///   bytes at every sample; without a leak, one more type in flight
///   (of 2 KiB objects).
///
/// A type whose count is 0 at a sample is absent from it, as from a heap
/// walk.
///
/// ```
/// use leakgate_gate::testing::{FAMILY_LEAKING_TYPE, FAMILY_TYPES, FamilyShape, family};
/// let s = family(9, FamilyShape::leak(64, 2048), 7);
/// assert_eq!(s.len(), 9);
/// assert_eq!(s[0].heap_count.len(), FAMILY_TYPES);
/// let bytes = |i: usize| s[i].heap_bytes[FAMILY_LEAKING_TYPE] as f64;
/// // 128 KiB per sample, give or take the objects in flight
/// assert!((bytes(8) - bytes(0) - 8.0 * 131072.0).abs() < 16.0 * 2048.0);
/// // most types do not move at all
/// let flat = s[0].heap_bytes.iter().filter(|(t, b)| s[8].heap_bytes.get(*t) == Some(b)).count();
/// assert!(flat > 1000);
/// ```
pub fn family(n: usize, shape: FamilyShape, seed: u64) -> Vec<SampleMetrics> {
    let mut rng = Rng::new(seed ^ 0xFA31_17E5);
    let mut samples = Samples::new(n).build();
    let mut put = |name: &str, counts: &[u64], bytes: &[u64]| {
        for ((s, &c), &b) in samples.iter_mut().zip(counts).zip(bytes) {
            if c > 0 {
                s.heap_count.insert(name.to_string(), c);
                s.heap_bytes.insert(name.to_string(), b);
            }
        }
    };
    let round8 = |x: f64| ((x / 8.0).round() * 8.0).max(8.0) as u64;

    // Busy types.
    for name in BUSY_TYPES {
        let instances = rng.log_between(5_000.0, 200_000.0);
        let size = rng.log_between(32.0, 2048.0);
        let counts: Vec<u64> = (0..n)
            .map(|_| (instances * (1.0 + 0.005 * rng.normal())).round().max(1.0) as u64)
            .collect();
        let bytes: Vec<u64> = counts
            .iter()
            .map(|&c| (c as f64 * size * (1.0 + 0.01 * rng.normal())).round() as u64)
            .collect();
        put(name, &counts, &bytes);
    }

    // Warm-up caches and pools.
    let caches = 20 + (rng.uniform() * 31.0) as usize;
    let (lo, hi) = (shape.cache_fill.0.max(1), shape.cache_fill.1.max(1));
    for k in 0..caches {
        let size = round8(rng.log_between(48.0, 4096.0));
        let full = (rng.log_between(64.0 * 1024.0, 16.0 * MIB) / size as f64).max(1.0);
        let fill = lo + (rng.uniform() * (hi.max(lo) - lo + 1) as f64) as usize;
        let churn = rng.chance(1.0 / 3.0);
        let counts: Vec<u64> = (0..n)
            .map(|i| {
                let share = ((i + 1) as f64 / fill as f64).min(1.0);
                let moving = if churn && i + 1 >= fill {
                    (0.002 * full).max(0.5) * rng.normal()
                } else {
                    rng.normal(); // the same draws whatever the fill
                    0.0
                };
                (full * share + moving).round().max(0.0) as u64
            })
            .collect();
        let bytes: Vec<u64> = counts.iter().map(|&c| c * size).collect();
        put(&format!("App.Caches.Cache{k:02}+Entry"), &counts, &bytes);
    }

    // Ordinary types: flat, or with objects in flight.
    let ordinary = FAMILY_TYPES - BUSY_TYPES.len() - caches - 1;
    for k in 0..ordinary {
        let size = round8(24.0 * (65536.0f64 / 24.0).powf(rng.uniform().powi(2)));
        let instances = 20_000.0f64.powf(rng.uniform().powi(2)).round().max(1.0) as u64;
        let in_flight = rng.chance(0.2);
        let lambda = rng.between(0.3, 3.0);
        let counts: Vec<u64> = (0..n)
            .map(|_| instances + if in_flight { rng.poisson(lambda) } else { 0 })
            .collect();
        let bytes: Vec<u64> = counts.iter().map(|&c| c * size).collect();
        let name = if in_flight {
            format!("App.Requests.Dto{k:04}")
        } else {
            format!("App.Model.Type{k:04}")
        };
        put(&name, &counts, &bytes);
    }

    // The type that leaks (or, without a leak, one more in flight), and
    // the other types of a leak spread over several.
    let leak = shape.leak.unwrap_or(FamilyLeak {
        objects: 0,
        size: 2048,
        types: 1,
    });
    for part in 0..leak.types.max(1) {
        let instances = rng.log_between(50.0, 2000.0).round() as u64;
        let counts: Vec<u64> = (0..n)
            .map(|i| instances + leak.objects * i as u64 + rng.poisson(1.5))
            .collect();
        let bytes: Vec<u64> = counts.iter().map(|&c| c * leak.size).collect();
        match part {
            0 => put(FAMILY_LEAKING_TYPE, &counts, &bytes),
            k => put(&format!("{LEAK_PART}{k}"), &counts, &bytes),
        }
    }
    samples
}

/// The other types of a leak spread over several ([`FamilyLeak::types`]).
const LEAK_PART: &str = "App.Sessions.Part";

/// Whether a type of a [`family`] is part of its leak.
pub fn is_family_leak(type_name: &str) -> bool {
    type_name == FAMILY_LEAKING_TYPE || type_name.starts_with(LEAK_PART)
}

/// The findings the retention search would make among `traced` types of a
/// [`family`], as if their paths were known: the types of a leak share one
/// holder; so, harshly, do all the types in flight (the request pipeline)
/// and all the busy ones (the service container), whose chance rises can
/// then add up; caches and the rest each have their own.
pub fn family_findings(traced: &[String]) -> Vec<crate::findings::Finding> {
    use leakgate_heap::{PathStep, RetentionPath, Root};
    let holders = [
        ("App.Sessions.", "Registry"),
        ("App.Requests.", "Pipeline"),
        ("System.", "Container"),
    ];
    holders
        .iter()
        .filter_map(|(prefix, holder)| {
            let members: Vec<String> = traced
                .iter()
                .filter(|t| t.starts_with(prefix))
                .cloned()
                .collect();
            (members.len() >= 2).then(|| crate::findings::Finding {
                holder: RetentionPath {
                    root: Root::static_field("App", *holder),
                    steps: vec![PathStep::new(holder, None), PathStep::new("Entries", None)],
                },
                members,
            })
        })
        .collect()
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

    /// Sets the runtime's own heaps (part of `committed.native`), per sample.
    pub fn runtime_heaps(mut self, bytes: &[f64]) -> Self {
        for (s, b) in self.samples.iter_mut().zip(bytes) {
            s.runtime_heaps = Some(*b);
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
