//! A sample's files: `sample-NN.json` (what was measured) and the raw
//! `sample-NN.maps` / `.smaps` (so regions can be analysed again later).
//! A write that fails (a full disk) fails the run: a report that silently
//! lacks its samples would not say what was measured.

use super::RunFailure;
use crate::capture::CapturedSample;
use crate::layout::{OutputLayout, write_atomic};

pub(super) fn write_sample(
    layout: &OutputLayout,
    sample: &CapturedSample,
    maps: &str,
    smaps: &str,
) -> Result<(), RunFailure> {
    let i = sample.index;
    write(&layout.sample_maps(i), maps.as_bytes())?;
    write(&layout.sample_smaps(i), smaps.as_bytes())?;
    write_sample_json(layout, sample)
}

/// The sample's own record (`sample-NN.json`), written again when it changed.
pub(super) fn write_sample_json(
    layout: &OutputLayout,
    sample: &CapturedSample,
) -> Result<(), RunFailure> {
    let json = serde_json::to_string_pretty(sample).expect("a sample serialises");
    write(&layout.sample_json(sample.index), json.as_bytes())
}

fn write(path: &std::path::Path, bytes: &[u8]) -> Result<(), RunFailure> {
    write_atomic(path, bytes).map_err(|e| RunFailure::Output {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

/// `samples/`, and `dumps/` (0700) when dumps are taken.
pub(super) fn create_sample_dirs(layout: &OutputLayout, dumps: bool) -> Result<(), RunFailure> {
    use std::os::unix::fs::DirBuilderExt;
    let fail = |path: &std::path::Path, e: std::io::Error| RunFailure::Output {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    let samples = layout.samples();
    std::fs::create_dir_all(&samples).map_err(|e| fail(&samples, e))?;
    if dumps {
        let dir = layout.dumps();
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|e| fail(&dir, e))?;
    }
    Ok(())
}
