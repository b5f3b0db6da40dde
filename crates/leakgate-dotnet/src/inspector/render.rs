//! SOS-style text for a [`ManagedSummary`], so the report reads like the `!finalizequeue`
//! and `!dumpheap -stat` output developers already know from WinDbg and dotnet-dump.

use std::fmt::Write;

use super::{ManagedSummary, TypeStat};

const TABLE_HEADER: &str = "              MT    Count    TotalSize Class Name";

/// `!finalizequeue`: counts per generation, the ready queue, then per-type statistics
/// ascending by total size (the biggest offender last, next to the total).
pub fn render_finalize_queue(s: &ManagedSummary) -> String {
    let mut out = String::new();
    for g in &s.generations {
        let label = match g.generation.as_str() {
            "loh" => "large object heap".to_string(),
            "poh" => "pinned object heap".to_string(),
            other => format!("generation {other}"),
        };
        let _ = writeln!(out, "{label} has {} finalizable objects", g.finalizable);
    }
    let _ = writeln!(
        out,
        "Ready for finalization {} objects",
        s.ready_for_finalization
    );
    out.push_str(
        "Statistics for all finalizable objects (including all objects ready for finalization):\n",
    );
    write_table(&mut out, &sorted(&s.finalizable_types));
    let _ = writeln!(out, "Total {} objects", s.finalizable_total);
    out
}

/// `!dumpheap -stat`, limited to the `top` types by total size (0 = all), still printed
/// ascending like SOS.
pub fn render_heap_stat(s: &ManagedSummary, top: usize) -> String {
    let all = sorted(&s.heap_types);
    let shown = if top == 0 || top >= all.len() {
        &all[..]
    } else {
        &all[all.len() - top..]
    };
    let mut out = String::from("Statistics:\n");
    if shown.len() < all.len() {
        let _ = writeln!(out, "({} smaller types not shown)", all.len() - shown.len());
    }
    write_table(&mut out, shown);
    let objects: u64 = all.iter().map(|t| t.count).sum();
    let bytes: u64 = all.iter().map(|t| t.total_size).sum();
    let _ = writeln!(out, "Total {objects} objects, {bytes} bytes");
    out
}

fn sorted(types: &[TypeStat]) -> Vec<TypeStat> {
    let mut types = types.to_vec();
    types.sort_by(|a, b| {
        a.total_size
            .cmp(&b.total_size)
            .then_with(|| a.name.cmp(&b.name))
    });
    types
}

fn write_table(out: &mut String, types: &[TypeStat]) {
    out.push_str(TABLE_HEADER);
    out.push('\n');
    for t in types {
        let _ = writeln!(
            out,
            "{:016x} {:>8} {:>12} {}",
            t.method_table, t.count, t.total_size, t.name
        );
    }
}
