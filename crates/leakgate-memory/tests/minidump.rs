//! Windows minidump classification, one synthetic process per situation.

mod support;

use std::path::Path;

use leakgate_memory::{MemoryError, RegionMap, RegionType, Usage, read_dump, read_minidump_bytes};
use support::*;

const PEB: u64 = 0x31_0000;
const HEAP_ARRAY: u64 = 0x50_1000;

/// A 64-bit process: two threads with reserve/guard/commit stacks, two
/// TEBs, the PEB, three process heaps, the eight PEB-named areas, two
/// modules, MEM_IMAGE outside every module, private and mapped Unknown.
fn process_x64() -> MinidumpBuilder {
    MinidumpBuilder::x64()
        .free(0, 0x10_0000)
        // thread 1 stack: reserve, guard, commit
        .reserve(0x10_0000, 0xF_8000, 0x10_0000, MEM_PRIVATE)
        .region(
            0x1F_8000,
            0x1000,
            0x10_0000,
            MEM_COMMIT,
            MEM_PRIVATE,
            PAGE_READWRITE | PAGE_GUARD,
        )
        .commit(0x1F_9000, 0x7000, 0x10_0000, MEM_PRIVATE)
        // thread 2 stack
        .reserve(0x20_0000, 0xF_C000, 0x20_0000, MEM_PRIVATE)
        .region(
            0x2F_C000,
            0x1000,
            0x20_0000,
            MEM_COMMIT,
            MEM_PRIVATE,
            PAGE_READWRITE | PAGE_GUARD,
        )
        .commit(0x2F_D000, 0x3000, 0x20_0000, MEM_PRIVATE)
        // TEBs and PEB
        .commit(0x30_0000, 0x2000, 0x30_0000, MEM_PRIVATE)
        .commit(0x30_2000, 0x2000, 0x30_2000, MEM_PRIVATE)
        .commit(PEB, 0x1000, PEB, MEM_PRIVATE)
        // PEB-named areas
        .commit(0x40_0000, 0x2000, 0x40_0000, MEM_MAPPED) // ApiSetMap
        .commit(0x41_0000, 0x3000, 0x41_0000, MEM_MAPPED) // ReadOnlySharedMemoryBase ...
        .reserve(0x41_3000, 0xD000, 0x41_0000, MEM_MAPPED) // ... and its reserved tail
        .commit(0x43_0000, 0x1000, 0x43_0000, MEM_MAPPED) // AnsiCodePageData (pointer mid-region)
        .commit(0x44_0000, 0x1000, 0x44_0000, MEM_MAPPED) // OemCodePageData
        .commit(0x45_0000, 0x1000, 0x45_0000, MEM_MAPPED) // UnicodeCaseTableData
        .commit(0x46_0000, 0x1000, 0x46_0000, MEM_MAPPED) // GdiSharedHandleTable
        .commit(0x47_0000, 0x1000, 0x47_0000, MEM_MAPPED) // ActivationContextData
        .commit(0x48_0000, 0x1000, 0x48_0000, MEM_MAPPED) // SystemDefaultActivationContextData
        // three process heaps
        .commit(0x50_0000, 0x1_0000, 0x50_0000, MEM_PRIVATE)
        .reserve(0x51_0000, 0xF_0000, 0x50_0000, MEM_PRIVATE)
        .commit(0x60_0000, 0x4000, 0x60_0000, MEM_PRIVATE)
        .commit(0x70_0000, 0x8000, 0x70_0000, MEM_PRIVATE)
        .reserve(0x70_8000, 0x8000, 0x70_0000, MEM_PRIVATE)
        // Unknown: a GC-like private reservation and a mapped view
        .commit(0x80_0000, 0x10_0000, 0x80_0000, MEM_PRIVATE)
        .reserve(0x90_0000, 0x70_0000, 0x80_0000, MEM_PRIVATE)
        .commit(0x100_0000, 0x2_0000, 0x100_0000, MEM_MAPPED)
        .free(0x200_0000, 0x7FF6_0000_0000 - 0x200_0000)
        // modules
        .region(
            0x7FF6_0000_0000,
            0x1000,
            0x7FF6_0000_0000,
            MEM_COMMIT,
            MEM_IMAGE,
            PAGE_READONLY,
        )
        .region(
            0x7FF6_0000_1000,
            0x3000,
            0x7FF6_0000_0000,
            MEM_COMMIT,
            MEM_IMAGE,
            PAGE_EXECUTE_READ,
        )
        .commit(0x7FF6_0000_4000, 0x1000, 0x7FF6_0000_0000, MEM_IMAGE)
        .region(
            0x7FFA_0000_0000,
            0x2000,
            0x7FFA_0000_0000,
            MEM_COMMIT,
            MEM_IMAGE,
            PAGE_EXECUTE_READ,
        )
        // MEM_IMAGE outside every module (an unlisted image): not Image
        .region(
            0x7FFB_0000_0000,
            0x3000,
            0x7FFB_0000_0000,
            MEM_COMMIT,
            MEM_IMAGE,
            PAGE_EXECUTE_READ,
        )
        .module(0x7FF6_0000_0000, 0x5000, r"C:\app\app.exe")
        .module(0x7FFA_0000_0000, 0x2000, r"C:\Windows\System32\ntdll.dll")
        .thread(1, 0x30_0000, 0x1F_C000, 0x4000)
        .thread(2, 0x30_2000, 0x2F_E000, 0x2000)
}

/// The TEB, PEB and heap-array memory the classification reads.
fn with_peb_memory(b: MinidumpBuilder) -> MinidumpBuilder {
    b.pointers(0x30_0000, 0x100, &[(0x60, PEB)])
        .pointers(
            PEB,
            0x400,
            &[
                (0x68, 0x40_0000),
                (0x88, 0x41_0000),
                (0xA0, 0x43_0800),
                (0xA8, 0x44_0000),
                (0xB0, 0x45_0000),
                (0xE8, 3), // NumberOfHeaps (u32; the upper half is MaximumNumberOfHeaps = 0)
                (0xF0, HEAP_ARRAY),
                (0xF8, 0x46_0000),
                (0x2F8, 0x47_0000),
                (0x308, 0x48_0000),
            ],
        )
        .pointers(
            HEAP_ARRAY,
            0x18,
            &[(0, 0x50_0000), (8, 0x60_0000), (16, 0x70_0000)],
        )
}

fn read(b: &MinidumpBuilder) -> RegionMap {
    read_minidump_bytes(&b.build(), Path::new("synthetic.dmp")).expect("synthetic dump reads")
}

/// (count, total, committed) of a usage in a summary.
fn usage(map: &RegionMap, u: Usage) -> (usize, u64, u64) {
    let rs: Vec<_> = map.regions.iter().filter(|r| r.usage == u).collect();
    let committed = rs
        .iter()
        .filter(|r| r.state == leakgate_memory::RegionState::Commit)
        .map(|r| r.size)
        .sum();
    (rs.len(), rs.iter().map(|r| r.size).sum(), committed)
}

#[test]
fn every_windows_rule_on_a_full_x64_dump() {
    let map = read(&with_peb_memory(process_x64()));
    assert!(map.notes.is_empty(), "{:?}", map.notes);
    assert_eq!(usage(&map, Usage::Stack), (6, 0x20_0000, 0x8000 + 0x4000));
    assert_eq!(usage(&map, Usage::Teb), (2, 0x4000, 0x4000));
    assert_eq!(usage(&map, Usage::Peb), (1, 0x1000, 0x1000));
    assert_eq!(
        usage(&map, Usage::Heap),
        (5, 0x11_4000, 0x1_0000 + 0x4000 + 0x8000)
    );
    assert_eq!(
        usage(&map, Usage::Other),
        (
            9,
            0x2000 + 0x1_0000 + 6 * 0x1000,
            0x2000 + 0x3000 + 6 * 0x1000
        )
    );
    assert_eq!(usage(&map, Usage::Image), (4, 0x7000, 0x7000));
    assert_eq!(
        usage(&map, Usage::Unknown),
        (4, 0x82_3000, 0x10_0000 + 0x2_0000 + 0x3000)
    );
    assert_eq!(usage(&map, Usage::Free).0, 2);
    let unlisted = map.region_at(0x7FFB_0000_0000).unwrap();
    assert_eq!(
        (unlisted.usage, unlisted.kind),
        (Usage::Unknown, RegionType::Image)
    );
    assert_eq!(
        map.region_at(0x7FF6_0000_1000).unwrap().name.as_deref(),
        Some(r"C:\app\app.exe")
    );

    let s = map.summary();
    assert_eq!(s.committed_by_usage.len(), 8);
    assert_eq!(
        committed_by_usage(&s),
        [
            0x12_3000, 0, 0x7000, 0xC000, 0x1_C000, 0x4000, 0x1000, 0xB000
        ]
    );
    assert_eq!(
        s.committed_total,
        s.committed_by_usage.values().sum::<u64>()
    );
    assert!(s.resident_by_usage.is_empty() && s.resident_total.is_none());
    let row = |rows: &[leakgate_memory::Row], name: &str| {
        let r = rows
            .iter()
            .find(|r| r.name == name)
            .unwrap_or_else(|| panic!("{name} row"));
        (r.region_count, r.total_size)
    };
    assert_eq!(
        row(&s.by_type, "MEM_PRIVATE"),
        (16, 0x20_0000 + 0x4000 + 0x1000 + 0x11_4000 + 0x80_0000)
    );
    assert_eq!(row(&s.by_type, "MEM_IMAGE"), (5, 0xA000));
    assert_eq!(row(&s.by_type, "MEM_MAPPED"), (10, 0x1_8000 + 0x2_0000));
    let reserved = 0xF_8000 + 0xF_C000 + 0xD000 + 0xF_0000 + 0x8000 + 0x70_0000;
    assert_eq!(row(&s.by_state, "MEM_RESERVE"), (6, reserved));
    assert_eq!(row(&s.by_state, "MEM_COMMIT"), (25, s.committed_total));
    assert_eq!(
        row(&s.by_state, "MEM_FREE"),
        (2, 0x7FF6_0000_0000 - 0x200_0000 + 0x10_0000)
    );
    // WinDbg order: Free first, then busy usages largest first
    let names: Vec<&str> = s.by_usage.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "Free",
            "<unknown>",
            "Stack",
            "Heap",
            "Other",
            "Image",
            "TEB",
            "PEB"
        ]
    );
}

#[test]
fn a_dump_without_the_peb_classifies_what_it_can() {
    // TEB memory absent: no PEB address, so PEB, Heap and Other stay Unknown
    let map = read(&process_x64());
    assert!(
        map.notes.iter().any(|n| n.contains("PEB not in dump")),
        "{:?}",
        map.notes
    );
    assert_eq!(usage(&map, Usage::Peb).0, 0);
    assert_eq!(usage(&map, Usage::Heap).0, 0);
    assert_eq!(usage(&map, Usage::Other).0, 0);
    assert_eq!(usage(&map, Usage::Stack), (6, 0x20_0000, 0xC000));
    assert_eq!(usage(&map, Usage::Teb).0, 2);
    assert_eq!(usage(&map, Usage::Image).0, 4);
    let s = map.summary();
    assert_eq!(
        s.committed_by_usage[&Usage::Unknown],
        0x12_3000 + 0x1000 + 0x1_C000 + 0xB000
    );
}

#[test]
fn a_peb_without_its_heap_array_still_finds_other_areas() {
    let b = process_x64()
        .pointers(0x30_0000, 0x100, &[(0x60, PEB)])
        .pointers(
            PEB,
            0x400,
            &[(0x68, 0x40_0000), (0xE8, 3), (0xF0, HEAP_ARRAY)],
        );
    let map = read(&b);
    assert!(
        map.notes
            .iter()
            .any(|n| n.contains("ProcessHeaps entries not in dump")),
        "{:?}",
        map.notes
    );
    assert_eq!(usage(&map, Usage::Peb).0, 1);
    assert_eq!(usage(&map, Usage::Heap).0, 0);
    assert_eq!(usage(&map, Usage::Other), (1, 0x2000, 0x2000));
}

#[test]
fn x86_offsets() {
    let peb = 0x7FFD_F000u64;
    let b = MinidumpBuilder::x86()
        .reserve(0x10_0000, 0xFD000, 0x10_0000, MEM_PRIVATE)
        .region(
            0x1F_D000,
            0x1000,
            0x10_0000,
            MEM_COMMIT,
            MEM_PRIVATE,
            PAGE_READWRITE | PAGE_GUARD,
        )
        .commit(0x1F_E000, 0x2000, 0x10_0000, MEM_PRIVATE)
        .commit(0x40_0000, 0x1000, 0x40_0000, MEM_MAPPED) // ApiSetMap
        .commit(0x41_0000, 0x1000, 0x41_0000, MEM_MAPPED) // ActivationContextData
        .commit(0x50_0000, 0x4000, 0x50_0000, MEM_PRIVATE) // heap 1
        .commit(0x60_0000, 0x2000, 0x60_0000, MEM_PRIVATE) // heap 2
        .commit(0x70_0000, 0x1000, 0x70_0000, MEM_PRIVATE) // unknown
        .commit(0x7700_0000, 0x3000, 0x7700_0000, MEM_IMAGE)
        .commit(peb, 0x1000, peb, MEM_PRIVATE)
        .commit(0x7FFD_E000, 0x1000, 0x7FFD_E000, MEM_PRIVATE) // TEB
        .module(0x7700_0000, 0x3000, r"C:\Windows\SysWOW64\ntdll.dll")
        .thread(7, 0x7FFD_E000, 0x1F_F000, 0x1000)
        .pointers(0x7FFD_E000, 0x40, &[(0x30, peb)])
        .pointers(
            peb,
            0x210,
            &[
                (0x38, 0x40_0000),
                (0x88, 2),
                (0x90, 0x50_0100),
                (0x1F8, 0x41_0000),
            ],
        )
        .pointers(0x50_0100, 8, &[(0, 0x50_0000), (4, 0x60_0000)]);
    let map = read(&b);
    assert_eq!(usage(&map, Usage::Stack), (3, 0x10_0000, 0x3000));
    assert_eq!(usage(&map, Usage::Heap), (2, 0x6000, 0x6000));
    assert_eq!(usage(&map, Usage::Other), (2, 0x2000, 0x2000));
    assert_eq!(usage(&map, Usage::Peb), (1, 0x1000, 0x1000));
    assert_eq!(usage(&map, Usage::Teb), (1, 0x1000, 0x1000));
    assert_eq!(usage(&map, Usage::Image), (1, 0x3000, 0x3000));
    assert_eq!(usage(&map, Usage::Unknown), (1, 0x1000, 0x1000));
    // only the fields we did not write are missing
    assert!(
        map.notes.iter().all(|n| !n.contains("Heap not classified")),
        "{:?}",
        map.notes
    );
}

#[test]
fn missing_memory_info_is_an_error_naming_the_file() {
    let mut b = process_x64();
    b.no_memory_info = true;
    let err = read_minidump_bytes(&b.build(), Path::new("nomeminfo.dmp")).unwrap_err();
    assert!(matches!(err, MemoryError::MissingStream { .. }), "{err}");
    assert!(err.to_string().contains("nomeminfo.dmp"));
}

#[test]
fn overlapping_regions_are_an_error() {
    let b = MinidumpBuilder::x64()
        .commit(0x10_0000, 0x2000, 0x10_0000, MEM_PRIVATE)
        .commit(0x10_1000, 0x2000, 0x10_1000, MEM_PRIVATE);
    let err = read_minidump_bytes(&b.build(), Path::new("overlap.dmp")).unwrap_err();
    assert!(matches!(err, MemoryError::Overlap { .. }), "{err}");
}

#[test]
fn read_dump_detects_by_magic_and_rejects_bad_files() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("p.dmp");
    std::fs::write(&good, with_peb_memory(process_x64()).build()).unwrap();
    assert_eq!(
        read_dump(&good).unwrap(),
        read(&with_peb_memory(process_x64()))
    );

    let junk = dir.path().join("junk.bin");
    std::fs::write(&junk, b"hello world").unwrap();
    let err = read_dump(&junk).unwrap_err();
    assert!(
        matches!(err, MemoryError::UnknownFormat { .. }) && err.to_string().contains("junk.bin"),
        "{err}"
    );

    let bytes = with_peb_memory(process_x64()).build();
    let cut = dir.path().join("cut.dmp");
    std::fs::write(&cut, &bytes[..40]).unwrap();
    let err = read_dump(&cut).unwrap_err();
    assert!(err.to_string().contains("cut.dmp"), "{err}");

    let missing = dir.path().join("absent.dmp");
    assert!(matches!(
        read_dump(&missing).unwrap_err(),
        MemoryError::Io { .. }
    ));
}

#[test]
fn address_summary_snapshot() {
    let mut map = read(&with_peb_memory(process_x64()));
    // the managed inspector reports half of the private Unknown commit as GC
    map.split_gc(&[(0x80_0000, 0x88_0000)]);
    insta::assert_snapshot!(leakgate_memory::render_address_summary(&map.summary()));
}

#[test]
fn the_kuser_shared_data_page_is_other() {
    // As in a real WinDbg `!address` listing: `0x7ffe0000 0x1000 MEM_COMMIT Other`.
    let b = MinidumpBuilder::x64()
        .commit(0x7ffe_0000, 0x1000, 0x7ffe_0000, MEM_PRIVATE)
        .commit(0x7fff_0000, 0x1000, 0x7fff_0000, MEM_PRIVATE);
    let map = read(&b);
    assert_eq!(usage(&map, Usage::Other), (1, 0x1000, 0x1000));
    assert_eq!(usage(&map, Usage::Unknown), (1, 0x1000, 0x1000));
}
