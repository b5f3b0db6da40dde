//! The JSON Schemas in `schemas/` are generated from the Rust types; `leakgate
//! schema X` prints each. A checked-in schema that drifts from its type fails here.

mod common;

use std::process::Command;

#[test]
fn checked_in_schemas_match_the_binary() {
    let update = std::env::var_os("LEAKGATE_UPDATE_SCHEMAS").is_some();
    for which in ["scenario", "report", "merged", "analyze", "inspector"] {
        let out = Command::new(env!("CARGO_BIN_EXE_leakgate"))
            .args(["schema", which])
            .output()
            .unwrap();
        assert!(out.status.success(), "leakgate schema {which}");
        let printed = String::from_utf8(out.stdout).unwrap();
        let value: serde_json::Value = serde_json::from_str(&printed).expect("a schema is JSON");
        assert!(
            value.get("$schema").is_some() || value.get("type").is_some(),
            "{which}: {value}"
        );
        let path = common::workspace().join(format!("schemas/{which}.schema.json"));
        if update {
            std::fs::write(&path, &printed).unwrap();
        }
        let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            checked_in == printed,
            "schemas/{which}.schema.json is out of date: run `LEAKGATE_UPDATE_SCHEMAS=1 cargo test -p leakgate-cli --test schemas`"
        );
    }
}
