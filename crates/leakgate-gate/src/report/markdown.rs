//! The Markdown summary, for `$GITHUB_STEP_SUMMARY` and PR comments: the
//! verdict, what was measured, the failing checks with their numbers and a
//! Mermaid chart of the first few (GitHub draws those on the page), the
//! snapshot diff, the top growing types. Charts are linked as
//! `charts/<file>.svg` (see [`super::chart_file_name`]). Untrusted text goes
//! through [`crate::escape::md_cell`] / [`crate::escape::md_code`] (one line,
//! one cell, no link, image, HTML or heading) or, as a block,
//! [`crate::escape::md_fenced`].

use std::fmt::Write as _;

use leakgate_scenario::budget::{Metric, Unit};

use super::chart::ChartData;
use super::{
    Outcome, RunReport, chart_file_name, finding_holder, hidden_line, holder_text, mermaid,
    notable, ordered, p_cell, shown_groups, signature_suffix, sizing_lines, slope_cell,
};
use crate::escape::{md_cell, md_code, md_fenced as fenced};
use crate::judge::{Check, Status};
use crate::series::{self, SampleMetrics};
use crate::snapshot::SnapshotComparison;
use crate::units::{human, human_signed};

fn badge(o: Outcome) -> &'static str {
    match o {
        Outcome::Pass => "✅ pass",
        Outcome::Warn => "⚠️ warn",
        Outcome::Fail => "❌ fail",
        Outcome::Error => "⛔ could not run",
    }
}

fn status_badge(s: Status) -> &'static str {
    match s {
        Status::Pass => "✅ pass",
        Status::Warn => "⚠️ warn",
        Status::Fail => "❌ fail",
    }
}

/// Finalizable types by growth over `samples`, largest first.
pub fn top_finalizable(samples: &[SampleMetrics], n: usize) -> Vec<(String, f64, f64)> {
    let mut v: Vec<(String, f64, f64)> = series::type_names(samples, Metric::Finalizable)
        .into_iter()
        .map(|t| {
            let s = series::per_type(samples, Metric::Finalizable, &t);
            (t, s.first().unwrap_or(0.0), s.last().unwrap_or(0.0))
        })
        .filter(|(_, a, b)| b > a)
        .collect();
    v.sort_by(|x, y| (y.2 - y.1).total_cmp(&(x.2 - x.1)).then(x.0.cmp(&y.0)));
    v.truncate(n);
    v
}

/// The summary of several runs (`leakgate merge`): the worst outcome, a row
/// per scenario, then each scenario's own summary.
pub fn render_all(reports: &[RunReport]) -> String {
    let worst = reports
        .iter()
        .map(|r| r.outcome)
        .max()
        .unwrap_or(Outcome::Error);
    let mut md = format!(
        "## leakgate: {} scenario{} — {}\n\n| Scenario | Verdict | Samples | Failing checks |\n|---|---|--:|--:|\n",
        reports.len(),
        if reports.len() == 1 { "" } else { "s" },
        badge(worst)
    );
    for r in reports {
        let failing = r
            .checks()
            .iter()
            .filter(|c| c.status == Status::Fail)
            .count();
        let _ = writeln!(
            md,
            "| {} | {} | {} | {failing} |",
            md_cell(r.scenario()),
            badge(r.outcome),
            r.samples.len()
        );
    }
    for r in reports {
        md.push('\n');
        // One level down: each scenario is a section of the whole.
        md.push_str(&render_at(r, 3));
    }
    md
}

/// The Markdown summary of one run.
pub fn render(report: &RunReport) -> String {
    render_at(report, 2)
}

/// The summary with its title at heading `level` (its sections one below).
fn render_at(report: &RunReport, level: usize) -> String {
    let (title, section) = ("#".repeat(level), "#".repeat(level + 1));
    let mut md = String::new();
    let _ = writeln!(
        md,
        "{title} leakgate: {} — {}\n",
        md_cell(report.scenario()),
        badge(report.outcome)
    );
    let l = &report.info.load;
    let _ = writeln!(
        md,
        "{} samples over {}; {} requests ({} errors), p50 {:.1} ms, p99 {:.1} ms. \
         Started {}, finished {}.\n",
        report.samples.len(),
        report.span_text(),
        l.requests,
        l.errors,
        l.p50_ms,
        l.p99_ms,
        md_cell(&report.info.started),
        md_cell(&report.info.finished)
    );
    if let Some(a) = &report.info.auto_sampling {
        let _ = writeln!(md, "{}\n", md_cell(&a.sentence()));
    }
    if l.errors > 0 {
        let _ = writeln!(md, "Failed requests: {}.\n", md_cell(&l.failures_text()));
    }
    if let Some(p) = &report.info.sampled {
        let _ = writeln!(
            md,
            "Sampled process {} {}: {}.{}\n",
            p.pid,
            md_code(&p.command_line),
            md_cell(&p.reason),
            p.doubt
                .as_ref()
                .map(|d| format!(" **Note:** {}.", md_cell(d)))
                .unwrap_or_default()
        );
    }
    for line in sizing_lines(report) {
        let _ = writeln!(md, "{line}.\n");
    }
    if let Some(f) = &report.failure {
        let _ = writeln!(md, "**The run could not measure the service:**\n");
        md.push_str(&fenced("text", f));
        md.push('\n');
    }
    checks_section(&mut md, &section, report.checks());
    retention_section(&mut md, &section, report);
    growth_charts(&mut md, &section, report);
    if let Some(o) = &report.snapshot {
        snapshot_section(&mut md, &section, o);
    }
    // Over the judged samples, so the numbers agree with the checks above.
    let top = top_finalizable(report.judged_samples(), 10);
    if !top.is_empty() {
        let _ = write!(
            md,
            "{section} Top growing finalizable types\n\n| Type | First | Last | Growth |\n|---|--:|--:|--:|\n"
        );
        for (t, a, b) in top {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} |",
                md_cell(&t),
                human(a, Unit::Count),
                human(b, Unit::Count),
                human_signed(b - a, Unit::Count)
            );
        }
        md.push('\n');
    }
    let notes: Vec<&String> = report
        .verdict
        .iter()
        .flat_map(|v| v.notes.iter())
        .chain(&report.notes)
        .collect();
    if !notes.is_empty() {
        let _ = write!(md, "{section} Notes\n\n");
        for n in notes {
            let _ = writeln!(md, "- {}", md_cell(n));
        }
        md.push('\n');
    }
    md.truncate(md.trim_end().len());
    md.push('\n');
    md
}

fn checks_section(md: &mut String, section: &str, checks: &[Check]) {
    if checks.is_empty() {
        return;
    }
    let count = |st| checks.iter().filter(|c| c.status == st).count();
    let _ = writeln!(
        md,
        "**{} of {} checks failed, {} warned.**\n",
        count(Status::Fail),
        checks.len(),
        count(Status::Warn)
    );
    let _ = write!(md, "{section} Checks\n\n");
    md.push_str(
        "| Verdict | Budget | Metric | Type | First | Last | Growth | Slope | p | Chart |\n",
    );
    md.push_str("|---|---|---|---|--:|--:|--:|--:|--:|---|\n");
    let (shown, hidden) = notable(checks);
    for c in shown {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | [chart](charts/{}) |",
            status_badge(c.status),
            md_cell(&c.budget),
            c.metric,
            md_cell(c.type_name.as_deref().unwrap_or("")),
            human(c.first, c.unit),
            human(c.last, c.unit),
            human_signed(c.growth, c.unit),
            slope_cell(c),
            p_cell(c),
            chart_file_name(c),
        );
    }
    if hidden > 0 {
        let _ = writeln!(md, "\n{}", hidden_line(hidden));
    }
    md.push('\n');
    let bad: Vec<&Check> = ordered(checks)
        .into_iter()
        .filter(|c| c.status != Status::Pass)
        .collect();
    for c in &bad {
        for r in &c.reasons {
            let _ = writeln!(
                md,
                "- **{}**: {}",
                md_cell(&c.key().to_string()),
                md_cell(&r.to_string())
            );
        }
    }
    if !bad.is_empty() {
        md.push('\n');
    }
}

/// `Held by `List<…>` (static Leak.Keep), which retains …` as a paragraph.
fn push_holder(md: &mut String, h: &super::HolderText<'_>) {
    let at = h.at.as_deref().map(|at| format!(" ({})", md_cell(at)));
    let _ = writeln!(
        md,
        "Held by {}{}{}, {}.\n",
        h.count,
        md_code(h.type_name),
        at.unwrap_or_default(),
        md_cell(&h.retains)
    );
}

/// Why it is alive: per traced type, the paths that grew, each as a chain.
fn retention_section(md: &mut String, section: &str, report: &RunReport) {
    if report.retention.is_empty() {
        return;
    }
    let _ = write!(md, "{section} Why it is alive\n\n");
    let checks = report.finding_checks();
    for f in &report.findings {
        let members: Vec<String> = f.members.iter().map(|t| md_code(t)).collect();
        let _ = writeln!(
            md,
            "**One leak:** {} {}, held through:\n",
            members.join(", "),
            checks.growth(f)
        );
        md.push_str(&fenced("text", &f.holder.chain().join("\n")));
        md.push('\n');
        if let Some(h) = finding_holder(report, f).and_then(holder_text) {
            push_holder(md, &h);
        }
    }
    for g in &report.retention {
        let _ = writeln!(
            md,
            "{} — {} → {} instances ({:+}) from the first judged sample to the last:\n",
            md_code(&g.type_name),
            g.first.instances,
            g.last.instances,
            g.growth
        );
        if g.groups.is_empty() {
            md.push_str("No retention path grew.\n\n");
            continue;
        }
        for (i, group) in shown_groups(g).enumerate() {
            if let Some(h) = holder_text(group) {
                push_holder(md, &h);
            }
            let share = g.share(group);
            let share = if i == 0 {
                format!("**{share}**")
            } else {
                share
            };
            let _ = writeln!(
                md,
                "{share} through{}:\n",
                md_cell(&signature_suffix(group))
            );
            md.push_str(&fenced("text", &group.path.chain().join("\n")));
            md.push('\n');
        }
    }
}

/// Failing checks charted in the summary at most: a PR page shows the
/// growth at a glance, the rest is in report.html.
const MERMAID_CHARTS: usize = 3;

/// A Mermaid chart of each of the first failing checks (one per series).
fn growth_charts(md: &mut String, section: &str, report: &RunReport) {
    // A set of the series seen, and stop at the few charted: thousands of
    // failing checks (a crafted leg) must not cost a comparison per pair.
    let mut seen = std::collections::HashSet::new();
    let blocks: Vec<String> = ordered(report.checks())
        .into_iter()
        .filter(|c| c.status == Status::Fail && seen.insert(c.key()))
        .filter_map(|c| mermaid::chart(&ChartData::of(report, c)))
        .take(MERMAID_CHARTS)
        .collect();
    if blocks.is_empty() {
        return;
    }
    let _ = write!(md, "{section} How the failing checks grew\n\n");
    for b in blocks {
        md.push_str(&b);
        md.push('\n');
    }
}

fn snapshot_section(md: &mut String, section: &str, o: &SnapshotComparison) {
    let _ = write!(md, "{section} Snapshot\n\n");
    match o {
        SnapshotComparison::Matches => md.push_str("Matches the approved snapshot.\n\n"),
        SnapshotComparison::Missing => md.push_str(
            "No approved snapshot yet: review the `.snap.new` and run `leakgate accept`.\n\n",
        ),
        SnapshotComparison::Differs {
            diff,
            new_growth,
            new_paths,
        } => {
            if new_growth.is_empty() && new_paths.is_empty() {
                md.push_str("Differs from the approved snapshot (no new growth); review it.\n\n");
            } else {
                md.push_str("**New growth versus the approved snapshot:**\n\n");
                for g in new_growth {
                    let _ = writeln!(md, "- {}", md_code(&g.to_string()));
                }
                for p in new_paths {
                    let _ = writeln!(
                        md,
                        "- {} grows through a path not approved: {}",
                        md_code(&p.type_name),
                        md_code(&format!("{} (signature {})", p.path, p.signature))
                    );
                }
                md.push('\n');
            }
            md.push_str(&fenced("diff", diff));
            md.push_str("\nApprove with `leakgate accept`, or fix the leak.\n\n");
        }
    }
}
