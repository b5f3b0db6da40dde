//! Why what grew is alive: for every type whose check fails or warns (and,
//! when a committed-memory check fails, the managed types that grew most),
//! the retention paths in the first judged sample and the last, and the path
//! that grew between them.

use std::collections::BTreeMap;

use leakgate_dotnet::inspector::FREE_SPACE;
use leakgate_gate::judge::{Status, Verdict, min_growth};
use leakgate_gate::series::{self, SampleMetrics};
use leakgate_gate::trend;
use leakgate_heap::{PathGrowth, PathOptions, ShortestPaths, TypePaths};
use leakgate_runner::HeapGraphSource;
use leakgate_scenario::TypeFilter;
use leakgate_scenario::budget::{Metric, Unit};

/// Most types traced in one run.
const MAX_TYPES: usize = 10;
/// Types traced when only committed memory fails: the largest growers by bytes.
const TOP_GROWERS: usize = 3;
/// Instances traced per type: tracing is cheap once the search is done, and
/// a thousand make the counts of the path that grew exact for most leaks.
const TRACED: usize = 1000;

/// The types whose retention paths a verdict asks for: failing and warning
/// per-type checks first; else, when a memory check fails or warns, the
/// managed types that grew most in bytes over the judged samples (not the
/// scenario's ignored ones, and only those with a tenth of the top growth).
pub fn targets(verdict: &Verdict, judged: &[SampleMetrics], ignore: &TypeFilter) -> Vec<String> {
    let mut checks: Vec<_> = verdict
        .checks
        .iter()
        .filter(|c| c.status != Status::Pass)
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
    types.truncate(MAX_TYPES);
    types
}

/// `targets`, then the types whose instances rose with them, traced too so
/// that types growing through one holder make one finding; at most
/// [`MAX_TYPES`] in all.
pub fn with_risers(
    targets: &[String],
    judged: &[SampleMetrics],
    ignore: &TypeFilter,
    alpha: f64,
) -> Vec<String> {
    let mut types = targets.to_vec();
    if !types.is_empty() {
        for t in rising(judged, ignore, alpha) {
            if !types.contains(&t) {
                types.push(t);
            }
        }
    }
    types.truncate(MAX_TYPES);
    types
}

/// Managed types whose instances rose significantly over the judged
/// samples (Mann–Kendall at `alpha`), by at least a few, most grown bytes
/// first.
fn rising(judged: &[SampleMetrics], ignore: &TypeFilter, alpha: f64) -> Vec<String> {
    let Some(last) = judged.last() else {
        return Vec::new();
    };
    let mut grown: Vec<(f64, &String)> = last
        .heap_count
        .keys()
        .filter(|t| t.as_str() != FREE_SPACE && !ignore.matches(t))
        .filter_map(|t| {
            let counts = series::per_type(judged, Metric::HeapCount, t).values();
            let rose = counts.last()? - counts.first()? >= min_growth(Unit::Count);
            let significant = trend::mann_kendall(&counts).p_increasing < alpha;
            let bytes = series::per_type(judged, Metric::HeapBytes, t).growth()?;
            (rose && significant).then_some((bytes, t))
        })
        .collect();
    grown.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
    grown.into_iter().map(|(_, t)| t.clone()).collect()
}

/// When a check fails or warns on growth and no judged sample read the managed heap
/// (`dump: none`), what to run to learn what holds the growth.
pub fn without_a_heap(verdict: &Verdict, judged: &[SampleMetrics]) -> Option<String> {
    let flagged = verdict
        .checks
        .iter()
        .any(|c| c.status != Status::Pass && c.growth > 0.0);
    let no_heap = judged.iter().all(|s| s.heap_bytes.is_empty());
    (flagged && no_heap && !judged.is_empty()).then(|| {
        "no sample read the managed heap, so what holds the growth is not known: \
         `leakgate run --dump gcdump` reads it without a dump on disk and says why it is alive"
            .to_string()
    })
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

/// The path that grew for each of `types`, between the heap graphs of the
/// first judged sample and the last. A note says why, when there are none.
pub fn path_growth(
    types: &[String],
    graphs: &[(usize, HeapGraphSource)],
    first_judged: usize,
) -> Result<Vec<PathGrowth>, String> {
    if types.is_empty() {
        return Ok(Vec::new());
    }
    let by_index: BTreeMap<usize, &HeapGraphSource> = graphs.iter().map(|(i, g)| (*i, g)).collect();
    let (Some(first), Some((&last_index, last))) =
        (by_index.get(&first_judged), by_index.last_key_value())
    else {
        return Err("no retention paths: the heap graphs of the first judged and the last sample are missing".into());
    };
    if last_index == first_judged {
        return Err("no retention paths: only one judged sample has a heap graph".into());
    }
    let paths_in = |source: &HeapGraphSource| -> Result<Vec<TypePaths>, String> {
        let read;
        let graph = match source {
            HeapGraphSource::Built(graph) => graph.as_ref(),
            HeapGraphSource::File(file) => {
                read =
                    leakgate_dotnet::inspector::read_heap_graph(file).map_err(|e| e.to_string())?;
                &read
            }
        };
        let shortest = ShortestPaths::compute(graph);
        let options = PathOptions { sample: TRACED };
        Ok(types
            .iter()
            .map(|t| shortest.type_paths(t, &options))
            .collect())
    };
    let (before, after) = (paths_in(first)?, paths_in(last)?);
    Ok(before
        .iter()
        .zip(&after)
        .map(|(b, a)| PathGrowth::between(b, a))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use leakgate_gate::testing::Samples;

    #[test]
    fn without_a_heap_the_note_says_what_to_run() {
        let budgets =
            leakgate_gate::testing::budgets("- metric: committed.unknown\n  max_growth: 1MiB\n");
        let grows = Samples::new(3)
            .scalar("committed.unknown", &[0.0, 8e6, 16e6])
            .build();
        let options = leakgate_gate::judge::JudgeOptions::default();
        let v = leakgate_gate::judge::judge(&grows, &budgets, &TypeFilter::none(), &options);
        assert_eq!(v.status, Status::Fail);
        let judged = &grows[options.warmup_samples..];
        assert!(without_a_heap(&v, judged).is_some_and(|n| n.contains("--dump gcdump")));
        // With a heap read, the retention paths say it instead.
        let with_heap = Samples::new(3)
            .scalar("committed.unknown", &[0.0, 8e6, 16e6])
            .heap("System.Byte[]", &[1, 2, 3], &[10, 20, 30])
            .build();
        let v = leakgate_gate::judge::judge(&with_heap, &budgets, &TypeFilter::none(), &options);
        assert_eq!(without_a_heap(&v, &with_heap[1..]), None);
        // A pass needs no explaining.
        let flat = Samples::new(3)
            .scalar("committed.unknown", &[8e6, 8e6, 8e6])
            .build();
        let v = leakgate_gate::judge::judge(&flat, &budgets, &TypeFilter::none(), &options);
        assert_eq!(without_a_heap(&v, &flat[1..]), None);
    }

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
}
