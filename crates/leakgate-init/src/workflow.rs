//! The GitHub workflow `leakgate init --workflow` writes: the scenario on
//! every pull request through the leakgate Action, the JUnit file published
//! as a check.

use std::fmt::Write as _;

use crate::project::Project;

/// The .NET SDK the inspector is built with (it reads dumps of .NET 8+).
const INSPECTOR_SDK_MAJOR: u32 = 10;

/// The workflow's text; `scenario` is relative to the repository root.
pub fn render(project: &Project, scenario: &str, action: &str) -> String {
    let quoted = |s: &str| serde_json::to_string(s).expect("a string serialises");
    let mut sdks = vec![INSPECTOR_SDK_MAJOR];
    if let Some(major) = project.dotnet_major().filter(|m| *m != INSPECTOR_SDK_MAJOR) {
        sdks.insert(0, major);
    }
    let sdks: Vec<String> = sdks.iter().map(|m| format!("{m}.0.x")).collect();
    let mut y = String::new();
    let w = &mut y;
    let _ = writeln!(
        w,
        "# Written by `leakgate init --workflow`: fails a pull request whose service\n\
         # keeps growing in memory under load ({scenario})."
    );
    if action == crate::DEFAULT_ACTION {
        let _ = writeln!(
            w,
            "# Replace OWNER in `uses:` below with where you get leakgate from\n\
             # (`leakgate init --workflow --action <owner>/leakgate/action@<ref>`)."
        );
    }
    let _ = writeln!(
        w,
        "name: leakgate\n\
         on:\n  \
           pull_request:\n  \
           push:\n    \
             branches: [main]\n\
         permissions:\n  \
           contents: read\n  \
           checks: write          # the JUnit report as a check\n\
         jobs:\n  \
           leak-gate:\n    \
             runs-on: ubuntu-latest\n    \
             timeout-minutes: 30\n    \
             steps:\n      \
               - uses: actions/checkout@v4\n      \
               - uses: actions/setup-dotnet@v4\n        \
                 with:\n          \
                   dotnet-version: |"
    );
    for sdk in &sdks {
        let _ = writeln!(w, "            {sdk}");
    }
    let _ = writeln!(
        w,
        "      - uses: dtolnay/rust-toolchain@stable   # the Action builds leakgate from source\n      \
         - uses: {action}\n        \
           id: leakgate\n        \
           with:\n          \
             scenario: {}\n      \
         - uses: mikepenz/action-junit-report@v5\n        \
           if: ${{{{ !cancelled() }}}}\n        \
           with:\n          \
             report_paths: leakgate-out/**/junit.xml",
        quoted(scenario)
    );
    y
}
