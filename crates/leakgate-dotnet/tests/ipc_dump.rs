//! write_dump and for_pid against the real LeakyService fixture.

mod support;

use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use leakgate_dotnet::ipc::{DiagnosticsClient, DumpKind, IpcError};

/// Checks the ELF identification and `e_type == ET_CORE` (4).
fn assert_elf_core(path: &Path) {
    let mut head = [0u8; 18];
    fs::File::open(path).unwrap().read_exact(&mut head).unwrap();
    assert_eq!(&head[..4], b"\x7fELF", "{} is not ELF", path.display());
    assert_eq!(head[5], 1, "little endian");
    assert_eq!(
        u16::from_le_bytes([head[16], head[17]]),
        4,
        "e_type is ET_CORE"
    );
    let mode = fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "dump mode is {mode:o}");
}

#[test]
fn writes_private_elf_cores_of_each_small_kind() {
    let svc = support::FixtureService::start();
    svc.get("/leak/dynamic-method");
    let client = DiagnosticsClient::for_pid(svc.pid()).expect("fixture has a socket");
    let dir = tempfile::tempdir().unwrap();
    for kind in [DumpKind::Triage, DumpKind::Normal, DumpKind::WithHeap] {
        let path = dir.path().join(format!("{kind:?}.core"));
        client
            .write_dump(&path, kind)
            .unwrap_or_else(|e| panic!("{kind:?}: {e}"));
        assert_elf_core(&path);
        let size = fs::metadata(&path).unwrap().len();
        eprintln!("{kind:?}: {} MiB", size >> 20);
        fs::remove_file(&path).unwrap();
    }
}

#[test]
fn writes_a_full_core() {
    let svc = support::FixtureService::start();
    let client = DiagnosticsClient::for_pid(svc.pid()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("full.core");
    client.write_dump(&path, DumpKind::Full).unwrap();
    assert_elf_core(&path);
    eprintln!("Full: {} MiB", fs::metadata(&path).unwrap().len() >> 20);
}

#[test]
fn unwritable_path_is_the_runtimes_error_not_a_panic() {
    let svc = support::FixtureService::start();
    let client = DiagnosticsClient::for_pid(svc.pid()).unwrap();
    let err = client
        .write_dump(
            Path::new("/nonexistent-leakgate-dir/x.core"),
            DumpKind::Normal,
        )
        .unwrap_err();
    let text = err.to_string();
    eprintln!("{text}");
    match &err {
        IpcError::Refused {
            hresult, message, ..
        } => {
            assert_ne!(*hresult, 0);
            assert!(
                message.is_some(),
                "GenerateCoreDump3 sends a message: {text}"
            );
        }
        other => panic!("expected the runtime's refusal, got {other:?}"),
    }
    assert!(
        text.contains("the runtime refused the dump request: HRESULT 0x"),
        "{text}"
    );
    assert!(!Path::new("/nonexistent-leakgate-dir/x.core").exists());
    // The service survives a failed dump.
    assert_eq!(svc.get("/healthz"), "ok");
}

#[test]
fn non_dotnet_and_dead_pids_are_clear_errors() {
    let mut sleep = Command::new("sleep").arg("30").spawn().unwrap();
    let err = DiagnosticsClient::for_pid(sleep.id()).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, IpcError::NoSocket { .. }), "{err:?}");
    assert!(text.contains("not a .NET process"), "{text}");
    assert!(text.contains("DOTNET_EnableDiagnostics=0"), "{text}");
    let waited = DiagnosticsClient::wait_for(sleep.id(), std::time::Duration::from_millis(200));
    assert!(
        matches!(waited, Err(IpcError::WaitTimedOut { .. })),
        "{waited:?}"
    );
    let pid = sleep.id();
    sleep.kill().unwrap();
    sleep.wait().unwrap();
    let err = DiagnosticsClient::for_pid(pid).unwrap_err();
    assert!(matches!(err, IpcError::NoSuchProcess { .. }), "{err:?}");
}

#[test]
fn diagnostics_disabled_is_a_clear_error() {
    let dll = support::fixture_dll();
    let mut child = Command::new("dotnet")
        .arg(&dll)
        .args(["--urls", "http://127.0.0.1:0"])
        .env("DOTNET_EnableDiagnostics", "0")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Give the runtime time to have opened a socket if it were going to.
    std::thread::sleep(std::time::Duration::from_secs(3));
    let result = DiagnosticsClient::for_pid(child.id());
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        matches!(result, Err(IpcError::NoSocket { .. })),
        "{result:?}"
    );
}
