//! Where a run's files go. One [`OutputLayout`] names every path a run
//! writes — reports, charts, samples, dumps, logs, the pending snapshot — so
//! the runner, the report writers, the CLI and the Action agree on them (the
//! layout is published in `report.json`).
//!
//! leakgate deletes only what it created: [`OutputLayout::prepare`] claims a
//! directory by leaving a marker file in it, clears only the files it names
//! in a directory that carries the marker, and refuses a non-empty directory
//! that does not.
//!
//! ```
//! use leakgate_runner::layout::OutputLayout;
//! let dir = tempfile::tempdir()?;
//! let layout = OutputLayout::new(dir.path().join("checkout"), "checkout.snap".as_ref());
//! layout.prepare()?;
//! assert!(layout.root().join(".leakgate-out").exists());
//! assert_eq!(layout.sample_json(3), dir.path().join("checkout/samples/sample-03.json"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::io;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The marker that says leakgate created a directory.
pub const MARKER: &str = ".leakgate-out";
const MARKER_TEXT: &str = "This directory was created by leakgate. On the next run into it, leakgate \
removes the reports, charts, samples, dumps and logs it wrote here, and nothing else.\n";

/// Every path of one scenario's run.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputLayout {
    root: PathBuf,
    snapshot: PathBuf,
}

/// The layout as published in `report.json`: paths relative to the output
/// directory, except the snapshots, which live beside the scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OutputFiles {
    /// The output directory, as given.
    pub out_dir: String,
    pub report_json: String,
    pub junit_xml: String,
    pub summary_md: String,
    /// The page to open first: verdict, charts, checks, what was measured.
    #[serde(default)]
    pub report_html: String,
    pub charts: String,
    pub samples: String,
    pub dumps: String,
    pub service_log: String,
    /// The approved snapshot, and where a changed one is written for review.
    pub snapshot: String,
    pub pending_snapshot: String,
}

#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    #[error(
        "{0} exists and leakgate did not create it (no {MARKER} file); it deletes nothing there: choose another --out, or empty it"
    )]
    NotOurs(PathBuf),
    #[error("{0} exists and is not a directory")]
    NotADirectory(PathBuf),
    #[error("cannot prepare {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

const REPORT_JSON: &str = "report.json";
const JUNIT_XML: &str = "junit.xml";
const SUMMARY_MD: &str = "summary.md";
const REPORT_HTML: &str = "report.html";
const CHARTS: &str = "charts";
const SAMPLES: &str = "samples";
const DUMPS: &str = "dumps";

impl OutputLayout {
    /// The layout of a run into `root`, whose approved snapshot is `snapshot`.
    pub fn new(root: PathBuf, snapshot: &Path) -> OutputLayout {
        OutputLayout {
            root,
            snapshot: snapshot.to_path_buf(),
        }
    }

    /// `--out` for one scenario; `out/<name>` when several share it; else
    /// `leakgate-out/<name>`.
    pub fn root_for(out: Option<&Path>, name: &str, several: bool) -> PathBuf {
        match (out, several) {
            (Some(out), true) => out.join(name),
            (Some(out), false) => out.to_path_buf(),
            (None, _) => Path::new("leakgate-out").join(name),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Creates the directory (with the marker), or claims an empty one, or
    /// clears what an earlier run wrote into one that carries the marker.
    /// Refuses any other non-empty directory, deleting nothing.
    pub fn prepare(&self) -> Result<(), LayoutError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| LayoutError::Io { path, source }
        };
        match std::fs::metadata(&self.root) {
            Ok(m) if !m.is_dir() => return Err(LayoutError::NotADirectory(self.root.clone())),
            Ok(_) if self.root.join(MARKER).is_file() => self.clear_earlier_run()?,
            Ok(_) => {
                let empty = std::fs::read_dir(&self.root)
                    .map_err(io(&self.root))?
                    .next()
                    .is_none();
                if !empty {
                    return Err(LayoutError::NotOurs(self.root.clone()));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                std::fs::create_dir_all(&self.root).map_err(io(&self.root))?
            }
            Err(e) => return Err(io(&self.root)(e)),
        }
        let marker = self.root.join(MARKER);
        std::fs::write(&marker, MARKER_TEXT).map_err(io(&marker))
    }

    /// Removes the files a run writes, by name, and their directories when
    /// that leaves them empty. Anything else stays.
    fn clear_earlier_run(&self) -> Result<(), LayoutError> {
        let remove = |path: &Path| match std::fs::remove_file(path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(LayoutError::Io {
                path: path.to_path_buf(),
                source: e,
            }),
            _ => Ok(()),
        };
        for file in [
            REPORT_JSON,
            JUNIT_XML,
            SUMMARY_MD,
            REPORT_HTML,
            "service.log",
            "build.log",
            "load.log",
        ] {
            remove(&self.root.join(file))?;
        }
        let ours = |dir: &str, name: &str| match dir {
            CHARTS => name.ends_with(".svg"),
            SAMPLES => {
                name.starts_with("sample-")
                    && [".json", ".maps", ".smaps"]
                        .iter()
                        .any(|e| name.ends_with(e))
            }
            _ => {
                name.starts_with("sample-") && [".dump", ".graph"].iter().any(|e| name.ends_with(e))
            }
        };
        for dir in [CHARTS, SAMPLES, DUMPS] {
            let path = self.root.join(dir);
            let Ok(entries) = std::fs::read_dir(&path) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name();
                if entry.file_type().is_ok_and(|t| t.is_file())
                    && ours(dir, &name.to_string_lossy())
                {
                    remove(&entry.path())?;
                }
            }
            let _ = std::fs::remove_dir(&path); // only when empty
        }
        Ok(())
    }

    pub fn report_json(&self) -> PathBuf {
        self.root.join(REPORT_JSON)
    }
    pub fn junit_xml(&self) -> PathBuf {
        self.root.join(JUNIT_XML)
    }
    pub fn summary_md(&self) -> PathBuf {
        self.root.join(SUMMARY_MD)
    }
    pub fn report_html(&self) -> PathBuf {
        self.root.join(REPORT_HTML)
    }
    pub fn charts(&self) -> PathBuf {
        self.root.join(CHARTS)
    }
    /// A chart by its file name (see the gate's `names::chart_file_name`).
    pub fn chart(&self, file_name: &str) -> PathBuf {
        self.charts().join(file_name)
    }
    pub fn samples(&self) -> PathBuf {
        self.root.join(SAMPLES)
    }
    pub fn sample_json(&self, index: usize) -> PathBuf {
        self.samples().join(format!("sample-{index:02}.json"))
    }
    pub fn sample_maps(&self, index: usize) -> PathBuf {
        self.samples().join(format!("sample-{index:02}.maps"))
    }
    pub fn sample_smaps(&self, index: usize) -> PathBuf {
        self.samples().join(format!("sample-{index:02}.smaps"))
    }
    /// Created `0700`; dumps in it are written `0600`.
    pub fn dumps(&self) -> PathBuf {
        self.root.join(DUMPS)
    }
    pub fn dump(&self, index: usize) -> PathBuf {
        self.dumps().join(format!("sample-{index:02}.dump"))
    }
    /// The heap graph of a sample (types, field names, sizes, addresses; no
    /// values), beside its dump: for retention paths.
    pub fn heap_graph(&self, index: usize) -> PathBuf {
        self.dumps().join(format!("sample-{index:02}.graph"))
    }
    /// A kept heap snapshot's trace (`dump: gcdump`), created `0600`.
    pub fn trace(&self, index: usize) -> PathBuf {
        self.dumps().join(format!("sample-{index:02}.nettrace"))
    }
    /// `service.log`, `build.log`, `load.log`.
    pub fn log(&self, label: &str) -> PathBuf {
        self.root.join(format!("{label}.log"))
    }
    pub fn snapshot(&self) -> &Path {
        &self.snapshot
    }
    /// `NAME.snap.new` beside `NAME.snap`.
    pub fn pending_snapshot(&self) -> PathBuf {
        leakgate_scenario::pending_snapshot_path(&self.snapshot)
    }

    /// The layout for `report.json`.
    pub fn files(&self) -> OutputFiles {
        OutputFiles {
            out_dir: self.root.display().to_string(),
            report_json: REPORT_JSON.into(),
            junit_xml: JUNIT_XML.into(),
            summary_md: SUMMARY_MD.into(),
            report_html: REPORT_HTML.into(),
            charts: CHARTS.into(),
            samples: SAMPLES.into(),
            dumps: DUMPS.into(),
            service_log: "service.log".into(),
            snapshot: self.snapshot.display().to_string(),
            pending_snapshot: self.pending_snapshot().display().to_string(),
        }
    }
}

/// Writes `path` whole or not at all: a temporary file beside it, then a
/// rename, so a reader (or a crash) never sees half a report.
pub fn write_atomic(path: &Path, contents: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".leakgate-")
        .tempfile_in(dir)?;
    tmp.write_all(contents)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(dir: &Path) -> OutputLayout {
        OutputLayout::new(dir.to_path_buf(), Path::new("s.snap"))
    }

    #[test]
    fn a_foreign_directory_is_refused_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("charts")).unwrap();
        std::fs::write(dir.path().join("charts/values.yaml"), "helm").unwrap();
        let err = layout(dir.path()).prepare().unwrap_err();
        assert!(matches!(err, LayoutError::NotOurs(_)), "{err}");
        assert!(dir.path().join("charts/values.yaml").exists());
        assert!(!dir.path().join(MARKER).exists());
    }

    #[test]
    fn an_empty_directory_is_claimed_and_ours_is_cleared_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let l = layout(dir.path());
        l.prepare().unwrap();
        std::fs::create_dir_all(l.samples()).unwrap();
        std::fs::write(l.sample_json(0), "{}").unwrap();
        std::fs::write(l.samples().join("notes.txt"), "mine").unwrap();
        std::fs::write(l.report_json(), "{}").unwrap();
        std::fs::write(l.report_html(), "<!DOCTYPE html>").unwrap();
        std::fs::create_dir_all(l.charts()).unwrap();
        std::fs::write(l.chart("a.svg"), "<svg/>").unwrap();
        l.prepare().unwrap();
        assert!(!l.sample_json(0).exists() && !l.report_json().exists());
        assert!(!l.report_html().exists());
        assert!(!l.charts().exists(), "an emptied directory goes too");
        assert!(l.samples().join("notes.txt").exists(), "not ours: kept");
    }

    #[test]
    fn atomic_writes_replace_whole_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.json");
        write_atomic(&path, b"first").unwrap();
        write_atomic(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp left"
        );
    }
}
