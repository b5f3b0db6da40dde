//! GitHub annotations: workflow commands (`::error file=…,line=…::…`) that
//! put each failing or warning check on its budget's line in the scenario
//! file, and the run's failure, new finalizer growth and snapshot changes on
//! the file. Every part is escaped ([`crate::escape::workflow_data`],
//! [`crate::escape::workflow_property`]), so no name can end a command early
//! or start another.

use super::RunReport;
use crate::escape::{workflow_data, workflow_property};
use crate::judge::Status;
use crate::snapshot::SnapshotComparison;

/// One workflow command.
fn command(level: &str, file: &str, line: Option<u64>, title: &str, message: &str) -> String {
    let mut props = vec![format!("file={}", workflow_property(file))];
    if let Some(line) = line {
        props.push(format!("line={line}"));
    }
    props.push(format!("title={}", workflow_property(title)));
    format!("::{level} {}::{}", props.join(","), workflow_data(message))
}

/// The annotations of one run; `file` is the scenario file as the workflow
/// sees it (relative to the workspace).
pub fn render(report: &RunReport, file: &str) -> Vec<String> {
    let name = report.scenario();
    let mut out = Vec::new();
    if let Some(f) = &report.failure {
        out.push(command(
            "error",
            file,
            None,
            &format!("leakgate could not measure {name}"),
            f,
        ));
    }
    for c in report.checks() {
        let level = match c.status {
            Status::Fail => "error",
            Status::Warn => "warning",
            Status::Pass => continue,
        };
        let line = report.info.budget_lines.get(c.budget_index).copied();
        out.push(command(
            level,
            file,
            line,
            &format!("leakgate {name}: {}", c.budget),
            &format!("{}: {}", c.key(), c.reasons_text()),
        ));
    }
    match &report.snapshot {
        Some(o @ SnapshotComparison::Differs { diff, .. }) => {
            let new = o.failing();
            if new.is_empty() {
                out.push(command(
                    "notice",
                    file,
                    None,
                    &format!("leakgate {name}: snapshot changed"),
                    &format!("The snapshot changed (no new finalizer growth); review it with `leakgate review`.\n{diff}"),
                ));
            } else {
                out.push(command(
                    "error",
                    file,
                    None,
                    &format!("leakgate {name}: new growth"),
                    &format!(
                        "New growth versus the approved snapshot: {}. If it is expected, run `leakgate review` \
                         (or `leakgate accept`) and commit the snapshot.\n{diff}",
                        new.join(", ")
                    ),
                ));
            }
        }
        Some(SnapshotComparison::Missing) => out.push(command(
            "notice",
            file,
            None,
            &format!("leakgate {name}: no snapshot"),
            "No approved snapshot yet: run `leakgate run --record` or accept the .snap.new, and commit it.",
        )),
        _ => {}
    }
    out
}
