//! The inspector's JSON contract and its SOS-style renderings of a hand-built summary.
//! (The checked-in `schemas/inspector.schema.json` is checked by leakgate-cli's `tests/schemas.rs`.)

use leakgate_dotnet::inspector::{
    AddressRange, GcSegment, GenerationCount, ManagedSummary, TypeStat, render_finalize_queue,
    render_heap_stat,
};

fn stat(method_table: u64, name: &str, count: u64, total_size: u64) -> TypeStat {
    TypeStat {
        method_table,
        name: name.into(),
        count,
        total_size,
    }
}

/// A real-world `!finalizequeue` (a WinDbg leak investigation), shortened: a DynamicResolver leak under ordinary handles.
fn seed_like_summary() -> ManagedSummary {
    ManagedSummary {
        schema_version: 1,
        runtime_version: "10.0.12".into(),
        generations: vec![
            GenerationCount {
                generation: "0".into(),
                finalizable: 66,
            },
            GenerationCount {
                generation: "1".into(),
                finalizable: 4,
            },
            GenerationCount {
                generation: "2".into(),
                finalizable: 4372,
            },
        ],
        ready_for_finalization: 0,
        finalizable_total: 4442,
        finalizable_types: vec![
            stat(
                0x7ffcde4297c0,
                "System.Reflection.Emit.DynamicResolver",
                3639,
                262008,
            ),
            stat(
                0x7ffcde443f78,
                "Microsoft.Win32.SafeHandles.SafePEFileHandle",
                1,
                32,
            ),
            stat(0x7ffcde45d6a8, "System.Threading.Thread", 64, 6144),
            stat(
                0x7ffcde447db0,
                "Microsoft.Win32.SafeHandles.SafeWaitHandle",
                97,
                3104,
            ),
            stat(
                0x7ffcdd272468,
                "System.Diagnostics.PerformanceCounter",
                28,
                4928,
            ),
            stat(
                0x7ffcde4407f8,
                "System.Security.Cryptography.X509Certificates.SafeCertContextHandle",
                1,
                32,
            ),
            stat(
                0x7ffcde400000,
                "System.Net.Sockets.SafeSocketHandle",
                612,
                39168,
            ),
        ],
        heap_types: vec![
            stat(0x7ffcde440000, "System.String", 52000, 3_100_000),
            stat(
                0x7ffcde4297c0,
                "System.Reflection.Emit.DynamicResolver",
                3639,
                262008,
            ),
            stat(0x0000021c729c0000, "Free", 310, 1_048_576),
            stat(0x7ffcde441000, "System.Byte[]", 900, 5_600_000),
        ],
        segments: vec![GcSegment {
            kind: "gen2".into(),
            start: 0x7f00_0000_0028,
            end: 0x7f00_0010_0000,
            committed: AddressRange {
                start: 0x7f00_0000_0000,
                end: 0x7f00_0011_0000,
            },
            reserved: AddressRange {
                start: 0x7f00_0011_0000,
                end: 0x7f00_0400_0000,
            },
        }],
        gc_committed: 0x11_0000,
        gc_reserved: 0x3ef_0000,
    }
}

#[test]
fn finalize_queue_reads_like_sos() {
    insta::assert_snapshot!(render_finalize_queue(&seed_like_summary()));
}

#[test]
fn heap_stat_shows_the_largest_types_last() {
    insta::assert_snapshot!(render_heap_stat(&seed_like_summary(), 3));
}

#[test]
fn a_summary_round_trips_through_json() {
    let summary = seed_like_summary();
    let text = serde_json::to_string(&summary).unwrap();
    assert_eq!(
        serde_json::from_str::<ManagedSummary>(&text).unwrap(),
        summary
    );
}
