//! An inspection that hangs is stopped at the timeout, not waited for forever.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use leakgate_dotnet::inspector::{Inspector, InspectorError};

#[test]
fn a_hanging_inspection_times_out_and_is_killed() {
    // The real build (cached), then a `dotnet` that never answers.
    Inspector::ensure_built(None).expect("the inspector builds");
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("started");
    let fake = dir.path().join("dotnet");
    std::fs::write(
        &fake,
        format!("#!/bin/sh\ntouch {}\nexec sleep 300\n", marker.display()),
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let inspector = Inspector::ensure_built_with(&fake, None)
        .expect("the cached build is reused without an SDK")
        .with_timeout(Duration::from_millis(500));

    let started = Instant::now();
    let err = inspector.inspect(Path::new("/tmp/any.core")).unwrap_err();
    assert!(matches!(err, InspectorError::TimedOut { .. }), "{err}");
    assert!(err.to_string().contains("took longer than"), "{err}");
    assert!(marker.exists(), "the fake dotnet really ran");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "stopped promptly"
    );
}
