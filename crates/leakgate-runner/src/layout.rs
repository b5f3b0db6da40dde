//! Where a run's files go. One [`OutputLayout`] names every path a run
//! writes — reports, charts, samples, dumps, logs, the pending snapshot — so
//! the runner, the report writers, the CLI and the Action agree on them (the
//! layout is published in `report.json`).
//!
//! leakgate deletes only what it created: [`OutputLayout::prepare`] claims a
//! directory by leaving a marker file in it, clears only the files it names
//! in a directory that carries the marker, and refuses a non-empty directory
//! that does not. It never follows a symbolic link there: a link where
//! leakgate expects its own file or directory (the output directory itself,
//! the marker, `charts`, `samples`, `dumps`, a report or log) is refused,
//! before anything is touched — a checked-out repository may hold such links.
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

pub use leakgate_record::OutputFiles;

#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    #[error(
        "{0} exists and leakgate did not create it (no {MARKER} file); it deletes nothing there: choose another --out, or empty it"
    )]
    NotOurs(PathBuf),
    #[error("{0} exists and is not a directory")]
    NotADirectory(PathBuf),
    #[error(
        "{0} is a symbolic link where leakgate writes its own files; it follows no link in an output directory and touched nothing: remove the link, or choose another --out"
    )]
    Link(PathBuf),
    #[error("cannot prepare {path}")]
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
        let marker = self.root.join(MARKER);
        match not_a_link(&self.root)? {
            Some(m) if !m.is_dir() => return Err(LayoutError::NotADirectory(self.root.clone())),
            Some(_) if not_a_link(&marker)?.is_some_and(|m| m.is_file()) => {
                self.clear_earlier_run()?
            }
            Some(_) => {
                let empty = std::fs::read_dir(&self.root)
                    .map_err(io(&self.root))?
                    .next()
                    .is_none();
                if !empty {
                    return Err(LayoutError::NotOurs(self.root.clone()));
                }
            }
            None => std::fs::create_dir_all(&self.root).map_err(io(&self.root))?,
        }
        // Replaced by a rename: even a link put there meanwhile is not followed.
        write_atomic(&marker, MARKER_TEXT.as_bytes()).map_err(io(&marker))
    }

    /// Removes the files a run writes, by name, and their directories when
    /// that leaves them empty. Anything else stays. Refuses, before removing
    /// anything, when one of those names is a symbolic link.
    fn clear_earlier_run(&self) -> Result<(), LayoutError> {
        let remove = |path: &Path| match std::fs::remove_file(path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(LayoutError::Io {
                path: path.to_path_buf(),
                source: e,
            }),
            _ => Ok(()),
        };
        let files = [
            REPORT_JSON,
            JUNIT_XML,
            SUMMARY_MD,
            REPORT_HTML,
            "service.log",
            "build.log",
            "load.log",
        ];
        for name in files.iter().chain(&[CHARTS, SAMPLES, DUMPS]) {
            not_a_link(&self.root.join(name))?;
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
                name.starts_with("sample-")
                    && [".dump", ".graph", ".nettrace"]
                        .iter()
                        .any(|e| name.ends_with(e))
            }
        };
        // Every file to remove is known, and no link bears one of those
        // names (a dump is written by the runtime, through any link), before
        // anything is removed.
        let mut doomed = Vec::new();
        for dir in [CHARTS, SAMPLES, DUMPS] {
            let Ok(entries) = std::fs::read_dir(self.root.join(dir)) else {
                continue;
            };
            for entry in entries.flatten() {
                if !ours(dir, &entry.file_name().to_string_lossy()) {
                    continue;
                }
                match entry.file_type() {
                    Ok(t) if t.is_symlink() => return Err(LayoutError::Link(entry.path())),
                    Ok(t) if t.is_file() => doomed.push(entry.path()),
                    _ => {}
                }
            }
        }
        for file in files.iter().map(|f| self.root.join(f)).chain(doomed) {
            remove(&file)?;
        }
        for dir in [CHARTS, SAMPLES, DUMPS] {
            let _ = std::fs::remove_dir(self.root.join(dir)); // only when empty
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

/// What is at `path` (`None`: nothing), without following a symbolic link:
/// a link is [`LayoutError::Link`].
fn not_a_link(path: &Path) -> Result<Option<std::fs::Metadata>, LayoutError> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => Err(LayoutError::Link(path.to_path_buf())),
        Ok(m) => Ok(Some(m)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(LayoutError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

pub use leakgate_scenario::files::{read_bounded, write_atomic};

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

    /// A claimed output directory, and a directory outside it with files a
    /// link could reach.
    fn ours_and_elsewhere() -> (tempfile::TempDir, OutputLayout, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let l = layout(&dir.path().join("out"));
        l.prepare().unwrap();
        std::fs::write(l.report_json(), "{}").unwrap();
        let elsewhere = dir.path().join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        for f in [
            "keep.svg",
            "sample-01.dump",
            "sample-01.json",
            ".leakgate-out",
        ] {
            std::fs::write(elsewhere.join(f), "precious").unwrap();
        }
        (dir, l, elsewhere)
    }

    fn untouched(elsewhere: &Path) {
        for f in [
            "keep.svg",
            "sample-01.dump",
            "sample-01.json",
            ".leakgate-out",
        ] {
            let text = std::fs::read_to_string(elsewhere.join(f)).unwrap();
            assert_eq!(text, "precious", "{f} behind the link");
        }
    }

    #[test]
    fn links_in_an_output_directory_are_refused_and_nothing_is_touched() {
        use std::os::unix::fs::symlink;
        for name in [CHARTS, SAMPLES, DUMPS, "service.log", REPORT_HTML] {
            let (_dir, l, elsewhere) = ours_and_elsewhere();
            let target = match name {
                "service.log" | REPORT_HTML => elsewhere.join("keep.svg"),
                _ => elsewhere.clone(),
            };
            symlink(&target, l.root().join(name)).unwrap();
            let err = l.prepare().unwrap_err();
            assert!(
                matches!(&err, LayoutError::Link(p) if p.ends_with(name)),
                "{name}: {err}"
            );
            assert!(leakgate_record::error_text(&err).contains(name), "{err}");
            untouched(&elsewhere);
            assert!(l.report_json().exists(), "{name}: refused before clearing");
            assert!(l.root().join(name).is_symlink(), "the link itself stays");
        }
    }

    #[test]
    fn a_marker_or_an_output_directory_that_is_a_link_is_refused() {
        use std::os::unix::fs::symlink;
        // The marker a link to a file elsewhere: neither followed nor overwritten.
        let (dir, l, elsewhere) = ours_and_elsewhere();
        std::fs::remove_file(l.root().join(MARKER)).unwrap();
        symlink(elsewhere.join(MARKER), l.root().join(MARKER)).unwrap();
        assert!(matches!(l.prepare(), Err(LayoutError::Link(_))));
        untouched(&elsewhere);
        // The output directory itself a link to one that carries a marker.
        let linked = layout(&dir.path().join("linked"));
        symlink(&elsewhere, linked.root()).unwrap();
        let err = linked.prepare().unwrap_err();
        assert!(matches!(err, LayoutError::Link(_)), "{err}");
        untouched(&elsewhere);
    }

    #[test]
    fn a_link_under_one_of_leakgates_names_is_refused_any_other_kept() {
        let (_dir, l, elsewhere) = ours_and_elsewhere();
        std::fs::create_dir(l.charts()).unwrap();
        std::fs::write(l.chart("a.svg"), "<svg/>").unwrap();
        std::fs::create_dir(l.dumps()).unwrap();
        // The runtime writes the next dump to this name, through the link.
        let target = elsewhere.join("sample-01.dump");
        std::os::unix::fs::symlink(&target, l.dump(1)).unwrap();
        let err = l.prepare().unwrap_err();
        assert!(
            matches!(&err, LayoutError::Link(p) if p == &l.dump(1)),
            "{err}"
        );
        assert!(l.chart("a.svg").exists(), "refused before clearing");
        untouched(&elsewhere);

        std::fs::remove_file(l.dump(1)).unwrap();
        std::os::unix::fs::symlink(elsewhere.join("keep.svg"), l.dumps().join("notes")).unwrap();
        l.prepare().unwrap();
        assert!(!l.chart("a.svg").exists());
        assert!(
            l.dumps().join("notes").is_symlink(),
            "not leakgate's name: kept"
        );
        untouched(&elsewhere);
    }

    #[test]
    fn bounded_reads_refuse_devices_and_large_files() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_bounded(Path::new("/dev/zero"), 1 << 20).unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid C string; mkfifo only creates the node.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let err = read_bounded(&fifo, 1 << 20).unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'x'; 2049]).unwrap();
        let err = read_bounded(&big, 2048).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::FileTooLarge, "{err}");
        assert_eq!(read_bounded(&big, 4096).unwrap().len(), 2049);
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
