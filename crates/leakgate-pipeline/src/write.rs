//! Writing a run's reports: the verdict first and never lost. `report.json`,
//! `junit.xml` and `summary.md` are written first, each whole or not at all
//! (a temporary file, then a rename); the charts after. A chart that cannot
//! be written becomes a note in the report and on stderr — never an exit
//! code that replaces the verdict.

use leakgate_gate::report::{self, RunReport, junit, markdown};
use leakgate_runner::layout::{OutputLayout, write_atomic};

use crate::PipelineError;

/// Writes every report of `report`; returns it with any notes added.
pub fn reports(mut report: RunReport, layout: &OutputLayout) -> Result<RunReport, PipelineError> {
    verdict_files(&report, layout)?;
    let charts = report::charts(&report);
    if charts.is_empty() {
        return Ok(report);
    }
    let mut failed = Vec::new();
    if let Err(e) = std::fs::create_dir_all(layout.charts()) {
        failed.push(format!(
            "charts were not written ({}: {e})",
            layout.charts().display()
        ));
    } else {
        for (file, svg) in &charts {
            let path = layout.chart(file);
            if let Err(e) = write_atomic(&path, svg.as_bytes()) {
                failed.push(format!("chart {} was not written: {e}", path.display()));
            }
        }
    }
    if !failed.is_empty() {
        for note in &failed {
            eprintln!("leakgate: {note}");
        }
        report.notes.extend(failed);
        verdict_files(&report, layout)?;
    }
    Ok(report)
}

fn verdict_files(report: &RunReport, layout: &OutputLayout) -> Result<(), PipelineError> {
    for (path, text) in [
        (layout.report_json(), report::to_json(report)),
        (layout.junit_xml(), junit::render(report)),
        (layout.summary_md(), markdown::render(report)),
    ] {
        write_atomic(&path, text.as_bytes())
            .map_err(|source| PipelineError::Write { path, source })?;
    }
    Ok(())
}
