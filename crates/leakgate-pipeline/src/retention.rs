//! Why what grew is alive: for the types [`leakgate_gate::traced`] chooses,
//! the retention paths in the first judged sample and the last, the path
//! that grew between them, and the object that holds it with the memory it
//! retains in both (from each graph's dominator tree).

use std::collections::BTreeMap;

use leakgate_gate::judge::{Status, Verdict};
use leakgate_gate::series::SampleMetrics;
use leakgate_heap::{DominatorTree, PathGrowth, PathOptions, ShortestPaths, TypePaths};
use leakgate_runner::HeapGraphSource;

/// Instances traced per type: tracing is cheap once the search is done, and
/// a thousand make the counts of the path that grew exact for most leaks.
const TRACED: usize = 1000;

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

/// Why there are no retention paths (a note of the report says it).
#[derive(Debug, thiserror::Error)]
pub enum NoPaths {
    #[error(
        "no retention paths: the heap graphs of the first judged and the last sample are missing"
    )]
    Missing,
    #[error("no retention paths: only one judged sample has a heap graph")]
    OneSample,
    #[error(transparent)]
    Unreadable(#[from] leakgate_dotnet::inspector::HeapGraphFileError),
}

/// The path that grew for each of `types`, between the heap graphs of the
/// first judged sample and the last. A note says why, when there are none.
pub fn path_growth(
    types: &[String],
    graphs: &[(usize, HeapGraphSource)],
    first_judged: usize,
) -> Result<Vec<PathGrowth>, NoPaths> {
    if types.is_empty() {
        return Ok(Vec::new());
    }
    let by_index: BTreeMap<usize, &HeapGraphSource> = graphs.iter().map(|(i, g)| (*i, g)).collect();
    let (Some(first), Some((&last_index, last))) =
        (by_index.get(&first_judged), by_index.last_key_value())
    else {
        return Err(NoPaths::Missing);
    };
    if last_index == first_judged {
        return Err(NoPaths::OneSample);
    }
    let paths_in = |source: &HeapGraphSource| -> Result<Vec<TypePaths>, NoPaths> {
        let mut read;
        let graph = match source {
            HeapGraphSource::Built(graph) => graph.as_ref(),
            HeapGraphSource::File { path, seen_roots } => {
                read = leakgate_dotnet::inspector::read_heap_graph(path)?;
                read.adopt_roots(seen_roots);
                &read
            }
        };
        let shortest = ShortestPaths::compute(graph);
        // About 0.2 s per 10^6 objects: each group's holder and its retained size.
        let dominators = DominatorTree::compute(graph);
        let options = PathOptions { sample: TRACED };
        Ok(types
            .iter()
            .map(|t| shortest.type_paths_with(t, &options, Some(&dominators)))
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
    use leakgate_scenario::TypeFilter;

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
}
