//! Writing a run's reports: the verdict first and never lost. `report.json`,
//! `junit.xml` and `summary.md` are written first, each whole or not at all
//! (a temporary file, then a rename); the charts and `report.html` after. A
//! chart or page that cannot be written becomes a note in the report and on
//! stderr — never an exit code that replaces the verdict.

use leakgate_gate::report::{self, RunReport, html, junit, markdown};
use leakgate_runner::layout::{OutputLayout, write_atomic};

use crate::PipelineError;

/// Writes every report of `report`; returns it with any notes added.
pub fn reports(mut report: RunReport, layout: &OutputLayout) -> Result<RunReport, PipelineError> {
    verdict_files(&report, layout)?;
    let mut failed = charts(&report, layout);
    // The page shows the notes so far, so it is rendered after the charts.
    report.notes.extend(failed.iter().cloned());
    if let Err(note) = page(&report, layout) {
        report.notes.push(note.clone());
        failed.push(note);
    }
    if !failed.is_empty() {
        for note in &failed {
            eprintln!("leakgate: {note}");
        }
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

/// The SVG charts; what could not be written, as notes.
fn charts(report: &RunReport, layout: &OutputLayout) -> Vec<String> {
    let charts = report::charts(report);
    if charts.is_empty() {
        return Vec::new();
    }
    if let Err(e) = std::fs::create_dir_all(layout.charts()) {
        return vec![format!(
            "charts were not written ({}: {e})",
            layout.charts().display()
        )];
    }
    charts
        .iter()
        .filter_map(|(file, svg)| {
            let path = layout.chart(file);
            write_atomic(&path, svg.as_bytes())
                .err()
                .map(|e| format!("chart {} was not written: {e}", path.display()))
        })
        .collect()
}

/// `report.html`; a failure to render or write it, as a note.
fn page(report: &RunReport, layout: &OutputLayout) -> Result<(), String> {
    let path = layout.report_html();
    let text = html::render(report).map_err(|e| e.to_string())?;
    write_atomic(&path, text.as_bytes())
        .map_err(|e| format!("{} was not written: {e}", path.display()))
}
