//! process_info against the real LeakyService fixture.

mod support;

use leakgate_dotnet::ipc::DiagnosticsClient;

#[test]
fn reports_the_fixtures_pid_and_command_line() {
    let svc = support::FixtureService::start();
    let client = DiagnosticsClient::for_pid(svc.pid()).unwrap();
    let info = client.process_info().unwrap();
    eprintln!("{info:?}");
    assert_eq!(info.pid, u64::from(svc.pid()));
    assert!(
        info.command_line.contains("LeakyService"),
        "{}",
        info.command_line
    );
    assert_eq!(info.os, "Linux");
    assert!(!info.arch.is_empty());
    assert_ne!(info.runtime_cookie, [0u8; 16]);
    // .NET 10 knows ProcessInfo2.
    assert_eq!(info.entrypoint_assembly.as_deref(), Some("LeakyService"));
    assert!(
        info.clr_version
            .as_deref()
            .is_some_and(|v| v.starts_with("10.")),
        "{info:?}"
    );
    // The cookie identifies the runtime instance: stable across calls.
    assert_eq!(
        client.process_info().unwrap().runtime_cookie,
        info.runtime_cookie
    );
}
