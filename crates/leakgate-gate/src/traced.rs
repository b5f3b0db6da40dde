//! Which managed types the retention search traces, from the verdict and
//! the judged samples alone: the pipeline traces them in the heap graphs,
//! and [`crate::findings`] groups the traced types by holder.
//!
//! ```
//! use leakgate_gate::traced::rises;
//! assert!(rises(&[10.0, 12.0, 15.0, 19.0, 24.0], 0.05)); // +14, every sample
//! assert!(!rises(&[10.0, 11.0, 12.0, 13.0, 13.5], 0.05)); // +3.5: too few to count
//! ```

use leakgate_record::FREE_SPACE;
use leakgate_scenario::TypeFilter;
use leakgate_scenario::budget::{Metric, Unit};

use crate::growth::min_growth;
use crate::judge::{Status, Verdict};
use crate::series::{self, SampleMetrics};
use crate::trend;

/// Most types traced in one run.
pub const MAX_TYPES: usize = 10;
/// Types traced when only committed memory fails: the largest growers by bytes.
const TOP_GROWERS: usize = 3;

/// What to trace: the types whose paths the report shows, and all the
/// types traced (those, then the types rising with them).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Traced {
    pub targets: Vec<String>,
    pub types: Vec<String>,
}

/// The types to trace for `verdict` (see [`targets`] and [`risers`]).
pub fn traced(
    verdict: &Verdict,
    judged: &[SampleMetrics],
    ignore: &TypeFilter,
    alpha: f64,
) -> Traced {
    let targets = targets(verdict, judged, ignore);
    let mut types = targets.clone();
    // A type rising significantly, too slowly to matter alone, may be one
    // of several that are one leak: traced with the types rising with it,
    // they make a finding judged as one.
    let slow = slow_risers(verdict, alpha);
    if !types.is_empty() || !slow.is_empty() {
        for t in slow.into_iter().chain(risers(judged, ignore, alpha)) {
            if !types.contains(&t) {
                types.push(t);
            }
        }
    }
    types.truncate(MAX_TYPES);
    Traced { targets, types }
}

/// The types whose retention paths a verdict asks for: failing and warning
/// per-type checks first; else, when a memory check fails or warns, the
/// managed types that grew most in bytes over the judged samples (not the
/// scenario's ignored ones, and only those with a tenth of the top growth);
/// then the growing finalizable types the snapshot records.
pub fn targets(verdict: &Verdict, judged: &[SampleMetrics], ignore: &TypeFilter) -> Vec<String> {
    let mut checks: Vec<_> = verdict
        .checks
        .iter()
        .filter(|c| c.status != Status::Pass && c.members.is_empty())
        .collect();
    checks.sort_by_key(|c| std::cmp::Reverse(c.status));
    let mut types: Vec<String> = Vec::new();
    for c in &checks {
        if let Some(t) = &c.type_name
            && !types.contains(t)
        {
            types.push(t.clone());
        }
    }
    if types.is_empty() && checks.iter().any(|c| !c.metric.is_per_type()) {
        types = top_growers(judged, ignore);
    }
    // Growing finalizable types, even inside their budgets: the approved snapshot lists
    // them, and with their paths it can tell a new leak of the same type from the known one.
    for t in verdict.growing.iter().filter_map(|g| g.type_name.as_ref()) {
        if !types.contains(t) {
            types.push(t.clone());
        }
    }
    types.truncate(MAX_TYPES);
    types
}

/// Whether a type's instances rose as the tracing counts a rise: by at
/// least a few, with a Mann–Kendall p below `alpha`.
pub fn rises(counts: &[f64], alpha: f64) -> bool {
    let (Some(first), Some(last)) = (counts.first(), counts.last()) else {
        return false;
    };
    last - first >= min_growth(Unit::Count) && trend::mann_kendall(counts).p_increasing < alpha
}

/// Per-type checks that pass although their series rose significantly in
/// their family: too slowly to matter alone.
fn slow_risers(verdict: &Verdict, alpha: f64) -> Vec<String> {
    verdict
        .checks
        .iter()
        .filter(|c| c.status == Status::Pass && c.members.is_empty() && c.growth > 0.0)
        .filter(|c| c.mk_p_adjusted.is_some_and(|p| p < alpha))
        .filter_map(|c| c.type_name.clone())
        .collect()
}

/// Managed types whose instances rose significantly over the judged
/// samples ([`rises`]), most grown bytes first.
fn risers(judged: &[SampleMetrics], ignore: &TypeFilter, alpha: f64) -> Vec<String> {
    let Some(last) = judged.last() else {
        return Vec::new();
    };
    let mut grown: Vec<(f64, &String)> = last
        .heap_count
        .keys()
        .filter(|t| t.as_str() != FREE_SPACE && !ignore.matches(t))
        .filter_map(|t| {
            let counts = series::per_type(judged, Metric::HeapCount, t).values();
            let bytes = series::per_type(judged, Metric::HeapBytes, t).growth()?;
            rises(&counts, alpha).then_some((bytes, t))
        })
        .collect();
    grown.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
    grown.into_iter().map(|(_, t)| t.clone()).collect()
}

/// The managed types whose bytes grew most from the first judged sample to the last.
fn top_growers(judged: &[SampleMetrics], ignore: &TypeFilter) -> Vec<String> {
    let (Some(first), Some(last)) = (judged.first(), judged.last()) else {
        return Vec::new();
    };
    let mut grown: Vec<(i128, &String)> = last
        .heap_bytes
        .iter()
        .filter(|(t, _)| t.as_str() != FREE_SPACE && !ignore.matches(t))
        .map(|(t, &b)| {
            (
                b as i128 - *first.heap_bytes.get(t).unwrap_or(&0) as i128,
                t,
            )
        })
        .filter(|(g, _)| *g > 0)
        .collect();
    grown.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
    let top = grown.first().map_or(0, |g| g.0);
    grown
        .into_iter()
        .take_while(|(g, _)| g * 10 >= top)
        .take(TOP_GROWERS)
        .map(|(_, t)| t.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::judge::{JudgeOptions, judge};
    use crate::testing::{Samples, budgets};

    #[test]
    fn top_growers_leave_out_ignored_types_and_small_growth() {
        let samples = Samples::new(2)
            .heap("System.Byte[]", &[10, 300], &[1 << 20, 6 << 20])
            .heap("App.Session", &[1, 900], &[100, 900_000])
            .heap(
                "System.Net.Sockets.SocketAsyncContext",
                &[1, 2],
                &[100, 2 << 20],
            )
            .heap("App.Tiny", &[1, 2], &[100, 200])
            .heap("Free", &[1, 9], &[100, 9 << 20])
            .build();
        let ignore = TypeFilter::new(&["System.Net.Sockets.*".to_string()]).unwrap();
        assert_eq!(
            top_growers(&samples, &ignore),
            ["System.Byte[]", "App.Session"]
        );
    }

    #[test]
    fn slow_risers_are_traced_when_nothing_fails() {
        // Two types gaining 24 KiB per sample each: significant, below the
        // 64 KiB per 1k requests that matter alone.
        let n = 9;
        let grow = |per: u64| -> (Vec<u64>, Vec<u64>) {
            let counts: Vec<u64> = (0..n as u64).map(|i| 100 + 12 * i).collect();
            let bytes = counts.iter().map(|c| c * per).collect();
            (counts, bytes)
        };
        let (ca, ba) = grow(2048);
        let (cb, bb) = grow(2048);
        let samples = Samples::with_rate(n, 3.0, 1000)
            .heap("App.Node", &ca, &ba)
            .heap("App.Reply", &cb, &bb)
            .heap("App.Flat", &[5; 9], &[500; 9])
            .build();
        let rules = budgets("- metric: heap.bytes\n  types: \"*\"\n  trend: fail\n");
        let options = JudgeOptions::default();
        let v = judge(&samples, &rules, &TypeFilter::none(), &options);
        assert_eq!(v.status, Status::Pass, "{:#?}", v.checks);
        let judged = &samples[options.warmup_samples..];
        let t = traced(&v, judged, &TypeFilter::none(), options.alpha);
        assert!(t.targets.is_empty());
        assert_eq!(t.types, ["App.Node", "App.Reply"]);
        // Nothing rising: nothing traced.
        let flat = Samples::with_rate(n, 3.0, 1000)
            .heap("App.Flat", &[5; 9], &[500; 9])
            .build();
        let v = judge(&flat, &rules, &TypeFilter::none(), &options);
        let t = traced(&v, &flat[1..], &TypeFilter::none(), options.alpha);
        assert!(t.types.is_empty(), "{t:?}");
    }
}
