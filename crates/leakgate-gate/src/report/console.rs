//! The terminal view: the scenario and its outcome, a table of the notable
//! checks, the verdict line. Each line carries the status it shows, so the
//! CLI can colour failing rows red and warning rows yellow on a terminal
//! without reading the text. Untrusted text is made terminal-safe
//! ([`crate::escape::terminal_line`]); very long type names are shortened here (the
//! other reports keep them whole).

use comfy_table::{CellAlignment, ContentArrangement, Table, presets};

use super::{
    RunReport, finding_holder, grown_path_line, hidden_line, holder_text, notable, p_cell,
    sizing_lines, slope_cell,
};
use crate::escape::terminal_line;
use crate::judge::Status;
use crate::snapshot::SnapshotComparison;
use crate::units::{human, human_signed};

/// Longest type name shown in a table cell, in characters.
const MAX_CELL: usize = 80;

/// One line of the console view, and the status it shows (if any).
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub status: Option<Status>,
    pub text: String,
}

impl Line {
    fn plain(text: impl AsRef<str>) -> Line {
        Line {
            status: None,
            text: terminal_line(text.as_ref()),
        }
    }
}

/// `text` on one line, at most [`MAX_CELL`] characters: the start and the
/// end of a long name, which say the most.
fn cell(text: &str) -> String {
    let one_line = terminal_line(text);
    let n = one_line.chars().count();
    if n <= MAX_CELL {
        return one_line;
    }
    let head: String = one_line.chars().take(MAX_CELL - 21).collect();
    let tail: String = one_line.chars().skip(n - 20).collect();
    format!("{head}…{tail}")
}

/// The console view of one run.
pub fn render(report: &RunReport) -> Vec<Line> {
    let mut lines = vec![Line::plain(format!(
        "{}: {}",
        report.scenario(),
        report.outcome.headline().to_lowercase()
    ))];
    if let Some(f) = &report.failure {
        lines.extend(format!("could not measure: {f}").lines().map(Line::plain));
    }
    if let Some(p) = &report.info.sampled {
        lines.push(Line::plain(format!(
            "sampled pid {} ({}): {}",
            p.pid,
            cell(&p.command_line),
            p.reason
        )));
        if let Some(d) = &p.doubt {
            lines.push(Line::plain(format!("note: {d}")));
        }
    }
    for line in sizing_lines(report) {
        lines.push(Line::plain(line));
    }
    let (shown, hidden) = notable(report.checks());
    if !shown.is_empty() {
        let mut t = Table::new();
        // comfy-table is built without its `tty` feature: never styled, never
        // sized to a terminal (the console chooses colours itself).
        t.load_style(presets::UTF8_FULL_CONDENSED)
            .set_content_arrangement(ContentArrangement::Disabled)
            .set_header(vec![
                "metric / type",
                "first",
                "last",
                "growth",
                "slope",
                "p",
                "verdict",
            ]);
        for c in &shown {
            t.add_row(vec![
                cell(&c.key().to_string()),
                human(c.first, c.unit),
                human(c.last, c.unit),
                human_signed(c.growth, c.unit),
                slope_cell(c),
                p_cell(c),
                c.status.to_string(),
            ]);
        }
        for i in 1..=5 {
            if let Some(col) = t.column_mut(i) {
                col.set_cell_alignment(CellAlignment::Right);
            }
        }
        // Condensed style: top border, header, separator, one line per row, bottom border.
        let table: Vec<String> = t.to_string().lines().map(str::to_string).collect();
        for (i, text) in table.into_iter().enumerate() {
            let status = i
                .checked_sub(3)
                .and_then(|row| shown.get(row))
                .map(|c| c.status);
            lines.push(Line {
                status,
                text: terminal_line(&text),
            });
        }
    }
    if hidden > 0 {
        lines.push(Line::plain(hidden_line(hidden)));
    }
    if let Some(a) = &report.info.auto_sampling {
        lines.push(Line::plain(terminal_line(&a.sentence())));
    }
    let checks = report.finding_checks();
    for f in &report.findings {
        let members: Vec<String> = f.members.iter().map(|t| cell(t)).collect();
        lines.push(Line::plain(terminal_line(&format!(
            "one leak: {} {} through {}",
            members.join(", "),
            checks.growth(f),
            f.holder.abbreviated(6)
        ))));
        if let Some(h) = finding_holder(report, f).and_then(holder_text) {
            lines.push(holder_line(&h));
        }
    }
    for g in &report.retention {
        if let Some(path) = grown_path_line(g) {
            lines.push(Line::plain(format!("why {}: {path}", cell(&g.type_name))));
        }
        if let Some(h) = g.top().and_then(holder_text) {
            lines.push(holder_line(&h));
        }
    }
    if let Some(SnapshotComparison::Differs { diff, .. }) = &report.snapshot {
        lines.push(Line::plain("snapshot differs from the approved one:"));
        lines.extend(diff.lines().map(Line::plain));
    }
    lines
}

/// `    held by List<…> (static Leak.Keep), which retains …`, under its path.
fn holder_line(h: &super::HolderText<'_>) -> Line {
    let at = h.at.as_deref().map(|at| format!(" ({})", cell(at)));
    Line::plain(format!(
        "    held by {}{}{}, {}",
        h.count,
        cell(h.type_name),
        at.unwrap_or_default(),
        h.retains
    ))
}

/// The verdict line after its headline word (`FAIL`, `PASS`, ...), which the
/// CLI styles: ` name: 5 samples, 1650 requests (0 errors); reports in DIR`.
pub fn verdict_line(report: &RunReport, out_dir: &str) -> String {
    terminal_line(&format!(
        " {}: {} samples, {} requests ({} errors); reports in {out_dir}",
        report.scenario(),
        report.samples.len(),
        report.info.load.requests,
        report.info.load.errors,
    ))
}

/// The lines as plain text (for tests and for output without colour).
pub fn to_text(lines: &[Line]) -> String {
    lines.iter().map(|l| format!("{}\n", l.text)).collect()
}
