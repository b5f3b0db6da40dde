//! Text rendering of summaries: WinDbg's `!address -summary` layout (so the
//! seed investigation's numbers can be compared line by line) and a growth
//! table across dumps.

use std::fmt::Write;

use crate::model::Usage;
use crate::summary::{GcAttribution, MemorySummary, Row};

/// WinDbg's 64-bit hex with a backtick between the halves: `0`feb0f000`.
pub fn windbg_hex(v: u64) -> String {
    format!("{:x}`{:08x}", v >> 32, v & 0xffff_ffff)
}

/// WinDbg's human size: three decimals, binary units, `kB` at least:
/// `   3.980 GB`, ` 736.000 kB`.
pub fn human(v: u64) -> String {
    const UNITS: [(&str, f64); 4] = [
        ("TB", (1u64 << 40) as f64),
        ("GB", (1u64 << 30) as f64),
        ("MB", (1u64 << 20) as f64),
        ("kB", 1024.0),
    ];
    let (unit, div) = UNITS
        .iter()
        .find(|(_, d)| v as f64 >= *d)
        .copied()
        .unwrap_or(UNITS[3]);
    format!("{:8.3} {unit}", v as f64 / div)
}

fn section(out: &mut String, header: &str, rows: &[Row]) {
    out.push_str(header);
    out.push('\n');
    for r in rows {
        let busy = match r.pct_busy {
            Some(p) => format!("{p:7.2}%"),
            None => " ".repeat(8),
        };
        let _ = writeln!(
            out,
            "{:<30}{:>13}{:>18} ({}){}{:8.2}%",
            r.name,
            r.region_count,
            windbg_hex(r.total_size),
            human(r.total_size),
            busy,
            r.pct_total
        );
    }
    out.push('\n');
}

/// Renders a summary in the `!address -summary` layout, followed by the
/// committed (and, when known, resident and private-dirty) bytes per usage
/// and the source's notes.
pub fn render_address_summary(s: &MemorySummary) -> String {
    let mut out = String::new();
    section(
        &mut out,
        "--- Usage Summary ---------------- RgnCount ----------- Total Size -------- %ofBusy %ofTotal",
        &s.by_usage,
    );
    section(
        &mut out,
        "--- Type Summary (for busy) ------ RgnCount ----------- Total Size -------- %ofBusy %ofTotal",
        &s.by_type,
    );
    section(
        &mut out,
        "--- State Summary ---------------- RgnCount ----------- Total Size -------- %ofBusy %ofTotal",
        &s.by_state,
    );
    out.push_str(
        "--- Committed bytes by usage ------------ Committed ----------- Resident ----- Private dirty\n",
    );
    let opt = |m: &std::collections::BTreeMap<Usage, u64>, k: &Usage| match m.get(k) {
        Some(v) => human(*v),
        None => format!("{:>11}", "-"),
    };
    for u in Usage::BUSY {
        let k = &u;
        let c = s.committed(u);
        let r = s.resident_by_usage.get(k).copied().unwrap_or(0);
        if c == 0 && r == 0 {
            continue;
        }
        let _ = writeln!(
            out,
            "{:<20}{:>18} ({})  {:>18}  {:>18}",
            u.windbg_name(),
            windbg_hex(c),
            human(c),
            opt(&s.resident_by_usage, k),
            opt(&s.private_dirty_by_usage, k)
        );
    }
    let dirty_total = (!s.private_dirty_by_usage.is_empty())
        .then(|| s.private_dirty_by_usage.values().sum::<u64>());
    let _ = writeln!(
        out,
        "{:<20}{:>18} ({})  {:>18}  {:>18}",
        "Total",
        windbg_hex(s.committed_total),
        human(s.committed_total),
        s.resident_total
            .map(human)
            .unwrap_or_else(|| format!("{:>11}", "-")),
        dirty_total
            .map(human)
            .unwrap_or_else(|| format!("{:>11}", "-")),
    );
    for n in &s.notes {
        let _ = writeln!(out, "note: {n}");
    }
    if let Some(a) = &s.gc_attribution {
        let _ = writeln!(out, "note: {}", gc_attribution_note(a));
    }
    if let Some(bytes) = s.runtime_heaps {
        let _ = writeln!(
            out,
            "note: <unknown> holds {} of the runtime's own heaps (JIT'd code, stubs, loader \
             heaps: /memfd:doublemapper)",
            human(bytes).trim()
        );
    }
    out
}

/// How much of Unknown the runtime's count moved to the GC heap, in words.
pub fn gc_attribution_note(a: &GcAttribution) -> String {
    let capped = if a.capped {
        "; capped at what Unknown held"
    } else {
        ""
    };
    format!(
        "GC: {} beyond its in-use ranges (free regions, bookkeeping) attributed to the \
         GC heap from the runtime's accounting of {} committed{capped}",
        human(a.moved).trim(),
        human(a.gc_total).trim(),
    )
}

/// Signed human size for growth columns: `+12.000 MB`, `-4.000 kB`.
fn signed_human(d: i128) -> String {
    let mag = d.unsigned_abs().min(u64::MAX as u128) as u64;
    let sign = if d < 0 { '-' } else { '+' };
    format!("{sign}{}", human(mag).trim_start())
}

/// Committed bytes per usage for several dumps side by side, with the
/// growth from the first to the last. Usages that are zero everywhere are
/// left out; a `Resident` line follows when every summary knows it.
pub fn render_growth_table(summaries: &[(String, MemorySummary)]) -> String {
    let mut out = String::new();
    let width = summaries
        .iter()
        .map(|(l, _)| l.chars().count())
        .max()
        .unwrap_or(0)
        .max(12);
    let _ = write!(out, "{:<12}", "Committed");
    for (label, _) in summaries {
        let _ = write!(out, " {label:>width$}");
    }
    let _ = writeln!(out, " {:>width$}", "Growth");
    let line = |out: &mut String, name: &str, values: Vec<u64>| {
        let _ = write!(out, "{name:<12}");
        for v in &values {
            let _ = write!(out, " {:>width$}", human(*v).trim_start());
        }
        let growth = match (values.first(), values.last()) {
            (Some(&a), Some(&b)) => signed_human(b as i128 - a as i128),
            _ => String::new(),
        };
        let _ = writeln!(out, " {growth:>width$}");
    };
    for u in Usage::BUSY {
        let values: Vec<u64> = summaries.iter().map(|(_, s)| s.committed(u)).collect();
        if values.iter().all(|&v| v == 0) {
            continue;
        }
        line(&mut out, u.windbg_name(), values);
    }
    line(
        &mut out,
        "Total",
        summaries.iter().map(|(_, s)| s.committed_total).collect(),
    );
    let resident: Option<Vec<u64>> = summaries.iter().map(|(_, s)| s.resident_total).collect();
    if let Some(r) = resident.filter(|r| !r.is_empty()) {
        line(&mut out, "Resident", r);
    }
    out
}
