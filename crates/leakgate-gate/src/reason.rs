//! Why a check has its status, as data: the limits and trend rule a series
//! broke ([`Breach`]), how it moved when nothing broke ([`Movement`]), and a
//! finding's note on its evidence ([`Traced`]). Judging builds them
//! ([`crate::judge`]); every renderer words them through one place, their
//! `Display`, so JUnit, Markdown, the console, annotations and HTML say the
//! same words. `report.json` holds the words; read back, a reason is
//! [`Reason::Said`].
//!
//! ```
//! use leakgate_gate::reason::{Breach, Grew, GrowthLimit, Reason};
//! use leakgate_scenario::budget::Unit;
//!
//! let grew = Grew { first: 100.0, last: 450.0, samples: 6, unit: Unit::Count };
//! let r = Reason::Breach(Breach::Growth { grew, limit: GrowthLimit::Amount(200.0), without: None });
//! assert_eq!(r.to_string(), "grew 100 → 450 (+350) over 6 samples, above max_growth 200");
//! ```

use std::fmt;

use leakgate_scenario::budget::{SlopeUnit, Unit};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::growth::TrendReason;
use crate::judge::Floor;
use crate::units::{human, human_signed, p_value};

/// One reason of a check.
#[derive(Clone, Debug)]
pub enum Reason {
    /// A limit or the trend rule the series broke (or, with weak evidence,
    /// would have).
    Breach(Breach),
    /// Nothing broke: how the series moved, and why that is fine.
    Moved(Movement),
    /// A finding's note on what its trend test is worth.
    Traced(Traced),
    /// The type grew only through retention that is not a leak (`ignore_paths:`).
    NotALeak(NotALeak),
    /// Words read back from a report.
    Said(String),
}

/// A budget rule a series broke.
#[derive(Clone, Debug)]
pub enum Breach {
    /// The last value is above `max`.
    AboveMax {
        last: f64,
        max: f64,
        unit: Unit,
        /// Judged without the GC's free regions.
        without: Option<WithoutFree>,
    },
    /// It grew more than `max_growth`.
    Growth {
        grew: Grew,
        limit: GrowthLimit,
        without: Option<WithoutFree>,
    },
    /// Its Theil–Sen slope is above `max_slope`.
    Slope {
        slope: f64,
        limit: f64,
        per: SlopeUnit,
        unit: Unit,
    },
    /// `max_slope` could not be judged (a warning).
    SlopeUnjudged { per: SlopeUnit, few_samples: bool },
    /// The trend rule says it grows.
    Trend {
        /// How much it grew, unless a growth breach already said it.
        grew: Option<Grew>,
        evidence: TrendEvidence,
        /// Too few samples to judge: the count (the trend is only reported).
        weak: Option<usize>,
    },
}

/// A series' first and last judged values.
#[derive(Clone, Copy, Debug)]
pub struct Grew {
    pub first: f64,
    pub last: f64,
    pub samples: usize,
    pub unit: Unit,
}

/// The GC's free regions at the first and last judged samples, left out of
/// a limit on memory that holds the GC heap (`include_gc_free: false`).
#[derive(Clone, Copy, Debug)]
pub struct WithoutFree {
    pub free_first: f64,
    pub free_last: f64,
    /// The series' own first and last values (free regions included).
    pub first: f64,
    pub last: f64,
    pub unit: Unit,
}

/// The `max_growth` broken.
#[derive(Clone, Copy, Debug)]
pub enum GrowthLimit {
    /// An amount in the series' unit.
    Amount(f64),
    /// A percentage of the first value; `pct` is infinite from zero.
    Percent { pct: f64, limit: f64 },
}

/// What the trend rule saw.
#[derive(Clone, Copy, Debug)]
pub struct TrendEvidence {
    pub reason: TrendReason,
    /// Which series the numbers are of.
    pub of: TrendOf,
    /// Mann–Kendall's one-sided p.
    pub p: f64,
    /// Theil–Sen slope per sample.
    pub slope_per_sample: f64,
    pub unit: Unit,
}

/// Whose rise the trend rule judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrendOf {
    /// The series itself.
    Series,
    /// The live managed heap under committed memory.
    Live,
    /// The memory outside the GC heap.
    Native,
    /// The runtime's own heaps, within the memory outside the GC heap.
    RuntimeHeaps,
}

/// A series that broke no rule: how it moved.
#[derive(Clone, Debug)]
pub struct Movement {
    pub grew: Grew,
    pub quiet: Quiet,
    /// The same without the GC's free regions, when a limit judged it so.
    pub without: Option<WithoutFree>,
}

/// Why a rise is no growth, with the trend test's p.
#[derive(Clone, Copy, Debug)]
pub enum Quiet {
    /// `trend: off`: nothing to say.
    TrendOff,
    /// Within the native memory a service commits as it warms up, the
    /// runtime's own heaps above all ([`crate::judge::RUNTIME_WARMUP`]).
    NativeWarmUp {
        p: f64,
        fitted_growth: f64,
        native: f64,
    },
    /// Within six times its own scatter.
    OwnScatter {
        p: f64,
        noise_floor: f64,
    },
    /// Below the materiality.
    TooSlow {
        p: f64,
        fitted_growth: f64,
        floor: Floor,
    },
    NotSignificant {
        p: f64,
    },
    /// Not significant once adjusted over the family of types that moved.
    AmongMoved {
        p: f64,
        family_size: usize,
        adjusted: f64,
    },
    /// It moved less than the growth that matters, so it was not tested.
    NotTested {
        p: f64,
        floor: Floor,
    },
    FlatAfterStep {
        p: f64,
    },
    /// Committed memory rose while the live heap stayed flat.
    GcSizing {
        p: f64,
        live_p: Option<f64>,
    },
}

/// A finding sums types traced because they rose: its own p is no
/// evidence, its most significant member's is.
#[derive(Clone, Debug)]
pub struct Traced {
    pub member: Option<TracedMember>,
}

/// What a type grew through instead of a leak.
#[derive(Clone, Debug)]
pub struct NotALeak {
    /// Instances on the ignored paths, and on all the paths that grew.
    pub ignored: i64,
    pub of: i64,
    /// The `ignore_paths:` entries (or known patterns, with why) that matched.
    pub because: Vec<String>,
}

/// A finding's most significant member.
#[derive(Clone, Debug)]
pub struct TracedMember {
    pub type_name: String,
    /// Its p, adjusted over its family.
    pub p_adjusted: f64,
    pub family_size: usize,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Breach(b) => b.fmt(f),
            Reason::Moved(m) => m.fmt(f),
            Reason::Traced(t) => t.fmt(f),
            Reason::NotALeak(n) => write!(
                f,
                "not a leak: {:+} of its {:+} instances grew through retention that ignore_paths \
                 excuses ({})",
                n.ignored,
                n.of,
                n.because.join("; ")
            ),
            Reason::Said(s) => f.write_str(s),
        }
    }
}

impl fmt::Display for Grew {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "grew {} → {} ({}) over {} samples",
            human(self.first, self.unit),
            human(self.last, self.unit),
            human_signed(self.last - self.first, self.unit),
            self.samples
        )
    }
}

/// `; without the GC's free regions (…)`, when judged so.
struct Without<'a>(&'a Option<WithoutFree>);

impl fmt::Display for Without<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(w) = self.0 else {
            return Ok(());
        };
        let h = |x: f64| human(x, w.unit);
        let (first, last) = (w.first - w.free_first, w.last - w.free_last);
        write!(
            f,
            "; without the GC's free regions ({} → {}, `include_gc_free: true` counts them) {} → {} ({})",
            h(w.free_first),
            h(w.free_last),
            h(first),
            h(last),
            human_signed(last - first, w.unit)
        )
    }
}

fn per_text(per: SlopeUnit) -> &'static str {
    match per {
        SlopeUnit::Minute => "min",
        SlopeUnit::ThousandRequests => "1k requests",
    }
}

impl fmt::Display for Breach {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Breach::AboveMax {
                last,
                max,
                unit,
                without,
            } => write!(
                f,
                "last value {} is above max {}{}",
                human(*last, *unit),
                human(*max, *unit),
                Without(without)
            ),
            Breach::Growth {
                grew,
                limit: GrowthLimit::Amount(limit),
                without,
            } => write!(
                f,
                "{grew}, above max_growth {}{}",
                human(*limit, grew.unit),
                Without(without)
            ),
            Breach::Growth {
                grew,
                limit: GrowthLimit::Percent { pct, limit },
                without,
            } => {
                let shown = if pct.is_finite() {
                    format!("{pct:.1}%")
                } else {
                    "from zero".into()
                };
                write!(
                    f,
                    "{grew}, {shown}, above max_growth {limit}%{}",
                    Without(without)
                )
            }
            Breach::Slope {
                slope,
                limit,
                per,
                unit,
            } => {
                let per = per_text(*per);
                write!(
                    f,
                    "slope {}/{per} (Theil–Sen) is above max_slope {}/{per}",
                    human(*slope, *unit),
                    human(*limit, *unit)
                )
            }
            Breach::SlopeUnjudged { per, few_samples } => {
                write!(f, "cannot judge max_slope per {}: ", per_text(*per))?;
                match (few_samples, per) {
                    (true, _) => f.write_str("it needs at least 2 samples"),
                    (false, SlopeUnit::Minute) => {
                        f.write_str("elapsed time did not change between samples")
                    }
                    (false, SlopeUnit::ThousandRequests) => {
                        f.write_str("the request count did not change between samples")
                    }
                }
            }
            Breach::Trend {
                grew,
                evidence: e,
                weak,
            } => {
                match grew {
                    Some(g) => write!(f, "{g}: ")?,
                    None => f.write_str("it keeps growing: ")?,
                }
                let (p, slope) = (p_value(e.p), human_signed(e.slope_per_sample, e.unit));
                match e.of {
                    TrendOf::Live => write!(
                        f,
                        "the live managed heap keeps growing (Mann–Kendall p = {p}, Theil–Sen {slope}/sample); committed memory follows it"
                    )?,
                    TrendOf::Native => write!(
                        f,
                        "the memory outside the GC heap keeps growing (Mann–Kendall p = {p}, Theil–Sen {slope}/sample) while the live managed heap does not"
                    )?,
                    TrendOf::RuntimeHeaps => write!(
                        f,
                        "the runtime's own heaps — JIT'd code, stubs, loader heaps — keep growing beyond their warm-up (Mann–Kendall p = {p}, Theil–Sen {slope}/sample): code or types generated at run time are kept (dynamic methods, compiled regular expressions, serializers, dynamic assemblies)"
                    )?,
                    TrendOf::Series => write!(
                        f,
                        "a significant upward trend (Mann–Kendall p = {p}, Theil–Sen {slope}/sample, {})",
                        e.reason.describe()
                    )?,
                }
                match weak {
                    Some(n) => write!(f, "; not judged: only {n} samples (weak evidence)"),
                    None => Ok(()),
                }
            }
        }
    }
}

impl fmt::Display for Movement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = self.grew.unit;
        let h = |x: f64| human(x, unit);
        write!(f, "{}", self.grew)?;
        match self.quiet {
            Quiet::TrendOff => {}
            Quiet::NativeWarmUp {
                p,
                fitted_growth,
                native,
            } => write!(
                f,
                "; rising (p = {}) by {}, within the native memory a .NET service commits as it warms up, the runtime's JIT'd code and loader heaps above all ({})",
                p_value(p),
                human_signed(fitted_growth, unit),
                h(native)
            )?,
            Quiet::OwnScatter { p, noise_floor } => write!(
                f,
                "; a rise (p = {}) within its own scatter: below {} (six times the scatter between samples)",
                p_value(p),
                h(noise_floor)
            )?,
            Quiet::TooSlow {
                p,
                fitted_growth,
                floor,
            } => write!(
                f,
                "; a rise (p = {}) too slow to matter: {} fitted, below the materiality {} = {}",
                p_value(p),
                human_signed(fitted_growth, unit),
                floor.describe(unit),
                h(floor.growth)
            )?,
            Quiet::NotSignificant { p } => {
                write!(f, "; no significant upward trend (p = {})", p_value(p))?
            }
            Quiet::AmongMoved {
                p,
                family_size,
                adjusted,
            } => write!(
                f,
                "; no significant upward trend among the {family_size} types that moved (p = {}, {} adjusted)",
                p_value(p),
                p_value(adjusted)
            )?,
            Quiet::NotTested { p, floor } => write!(
                f,
                "; it moved less than the growth that matters ({} = {}), so it was not tested (p = {})",
                floor.describe(unit),
                h(floor.growth),
                p_value(p)
            )?,
            Quiet::FlatAfterStep { p } => {
                write!(f, "; it rose, then stopped rising (p = {})", p_value(p))?
            }
            Quiet::GcSizing { p, live_p } => write!(
                f,
                "; the GC sizing its budget: committed memory rose (p = {}) while the live heap stayed flat (p = {})",
                p_value(p),
                live_p.map_or("n/a".into(), p_value)
            )?,
        }
        write!(f, "{}", Without(&self.without))
    }
}

impl fmt::Display for Traced {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("its types were traced because they rose, so the sum's own p is no evidence")?;
        match &self.member {
            Some(m) => write!(
                f,
                ": its most significant member, {}, has p = {} adjusted over the {} types that moved",
                m.type_name,
                p_value(m.p_adjusted),
                m.family_size
            ),
            None => f.write_str(", and no member was tested in its family"),
        }
    }
}

/// Two reasons are equal when they say the same: a reason read back from a
/// report equals the one that was written.
impl PartialEq for Reason {
    fn eq(&self, other: &Reason) -> bool {
        self.to_string() == other.to_string()
    }
}

impl Serialize for Reason {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Reason {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Reason, D::Error> {
        String::deserialize(d).map(Reason::Said)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: f64 = 1024.0 * 1024.0;

    fn grew() -> Grew {
        Grew {
            first: 10.0 * MIB,
            last: 14.0 * MIB,
            samples: 6,
            unit: Unit::Bytes,
        }
    }

    fn floor() -> Floor {
        Floor {
            rate: 64.0 * 1024.0,
            per: SlopeUnit::ThousandRequests,
            load: 2.5,
            growth: 160.0 * 1024.0,
            native: 0.0,
        }
    }

    fn said(r: impl Into<Reason>) -> String {
        r.into().to_string()
    }

    impl From<Breach> for Reason {
        fn from(b: Breach) -> Reason {
            Reason::Breach(b)
        }
    }

    impl From<Quiet> for Reason {
        fn from(quiet: Quiet) -> Reason {
            Reason::Moved(Movement {
                grew: grew(),
                quiet,
                without: None,
            })
        }
    }

    #[test]
    fn limits_are_worded_with_the_numbers() {
        let without = Some(WithoutFree {
            free_first: MIB,
            free_last: 5.0 * MIB,
            first: 10.0 * MIB,
            last: 14.0 * MIB,
            unit: Unit::Bytes,
        });
        assert_eq!(
            said(Breach::AboveMax {
                last: 14.0 * MIB,
                max: 12.0 * MIB,
                unit: Unit::Bytes,
                without
            }),
            "last value 14.0 MiB is above max 12.0 MiB; without the GC's free regions (1.0 MiB → 5.0 MiB, \
             `include_gc_free: true` counts them) 9.0 MiB → 9.0 MiB (0 B)"
        );
        assert_eq!(
            said(Breach::Growth {
                grew: grew(),
                limit: GrowthLimit::Percent {
                    pct: f64::INFINITY,
                    limit: 10.0
                },
                without: None
            }),
            "grew 10.0 MiB → 14.0 MiB (+4.0 MiB) over 6 samples, from zero, above max_growth 10%"
        );
        assert_eq!(
            said(Breach::Growth {
                grew: grew(),
                limit: GrowthLimit::Percent {
                    pct: 40.0,
                    limit: 12.5
                },
                without: None
            }),
            "grew 10.0 MiB → 14.0 MiB (+4.0 MiB) over 6 samples, 40.0%, above max_growth 12.5%"
        );
        assert_eq!(
            said(Breach::Slope {
                slope: 2.0 * MIB,
                limit: MIB,
                per: SlopeUnit::Minute,
                unit: Unit::Bytes
            }),
            "slope 2.0 MiB/min (Theil–Sen) is above max_slope 1.0 MiB/min"
        );
        assert_eq!(
            said(Breach::SlopeUnjudged {
                per: SlopeUnit::ThousandRequests,
                few_samples: false
            }),
            "cannot judge max_slope per 1k requests: the request count did not change between samples"
        );
        assert_eq!(
            said(Breach::SlopeUnjudged {
                per: SlopeUnit::Minute,
                few_samples: true
            }),
            "cannot judge max_slope per min: it needs at least 2 samples"
        );
    }

    #[test]
    fn trends_say_whose_rise_and_how_sure() {
        let evidence = |of| TrendEvidence {
            reason: TrendReason::Stepping,
            of,
            p: 0.001,
            slope_per_sample: MIB,
            unit: Unit::Bytes,
        };
        assert_eq!(
            said(Breach::Trend {
                grew: Some(grew()),
                evidence: evidence(TrendOf::Series),
                weak: Some(3)
            }),
            "grew 10.0 MiB → 14.0 MiB (+4.0 MiB) over 6 samples: a significant upward trend (Mann–Kendall \
             p = 0.001, Theil–Sen +1.0 MiB/sample, keeps stepping up); not judged: only 3 samples (weak evidence)"
        );
        assert_eq!(
            said(Breach::Trend {
                grew: None,
                evidence: evidence(TrendOf::Native),
                weak: None
            }),
            "it keeps growing: the memory outside the GC heap keeps growing (Mann–Kendall p = 0.001, \
             Theil–Sen +1.0 MiB/sample) while the live managed heap does not"
        );
        assert_eq!(
            said(Breach::Trend {
                grew: None,
                evidence: evidence(TrendOf::Live),
                weak: None
            }),
            "it keeps growing: the live managed heap keeps growing (Mann–Kendall p = 0.001, \
             Theil–Sen +1.0 MiB/sample); committed memory follows it"
        );
    }

    #[test]
    fn a_quiet_rise_says_why_it_is_no_growth() {
        let lead = "grew 10.0 MiB → 14.0 MiB (+4.0 MiB) over 6 samples";
        let cases = [
            (Quiet::TrendOff, String::new()),
            (
                Quiet::OwnScatter {
                    p: 0.02,
                    noise_floor: 8.0 * MIB,
                },
                "; a rise (p = 0.020) within its own scatter: below 8.0 MiB (six times the scatter between samples)".into(),
            ),
            (
                Quiet::NotTested {
                    p: 0.02,
                    floor: floor(),
                },
                "; it moved less than the growth that matters (64.0 KiB/1k requests × 2.5k requests = 160.0 KiB), \
                 so it was not tested (p = 0.020)".into(),
            ),
            (
                Quiet::AmongMoved {
                    p: 0.02,
                    family_size: 40,
                    adjusted: 0.5,
                },
                "; no significant upward trend among the 40 types that moved (p = 0.020, 0.500 adjusted)".into(),
            ),
            (
                Quiet::GcSizing {
                    p: 0.02,
                    live_p: None,
                },
                "; the GC sizing its budget: committed memory rose (p = 0.020) while the live heap stayed flat (p = n/a)".into(),
            ),
        ];
        for (quiet, words) in cases {
            assert_eq!(said(quiet), format!("{lead}{words}"));
        }
    }

    #[test]
    fn words_are_what_the_json_holds_and_reads_back() {
        let r = Reason::Traced(Traced { member: None });
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(
            json,
            "\"its types were traced because they rose, so the sum's own p is no evidence, and no member was tested in its family\""
        );
        let back: Reason = serde_json::from_str(&json).unwrap();
        assert!(matches!(back, Reason::Said(_)));
        assert_eq!(back, r);
    }
}
