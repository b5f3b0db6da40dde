//! ELF core reading: cores written here (headers, NT_FILE, NT_PRSTATUS,
//! the DIAGINFOHEADER page, PN_XNUM), broken ones, and a real gcore.

mod support;

use std::path::Path;

use leakgate_memory::{
    MemoryError, RegionState, RegionType, SourceKind, Usage, read_dump, read_elf_core,
    read_elf_core_bytes,
};
use support::*;

/// A small .NET-like process: app host, libcoreclr, a managed assembly, a
/// data file, GC memory, a thread stack holding its thread's sp.
fn core() -> ElfCoreBuilder {
    ElfCoreBuilder::default()
        .load(0x40_0000, 0x1000, PF_R)
        .load(0x40_1000, 0x2000, PF_R | PF_X)
        .file(0x40_0000, 0x40_3000, "/usr/share/dotnet/dotnet")
        .load(0x7f00_0000_0000, 0x10_0000, PF_R | PF_W) // GC
        .load(0x7f00_1000_0000, 0x3000, PF_R | PF_X)
        .load(0x7f00_1000_3000, 0x1000, PF_R | PF_W)
        .file(
            0x7f00_1000_0000,
            0x7f00_1000_4000,
            "/usr/share/dotnet/shared/Microsoft.NETCore.App/9.0.0/libcoreclr.so",
        )
        .load(0x7f00_2000_0000, 0x8000, PF_R)
        .file(0x7f00_2000_0000, 0x7f00_2000_8000, "/app/MyService.dll")
        .load(0x7f00_3000_0000, 0x1000, PF_R)
        .file(0x7f00_3000_0000, 0x7f00_3000_1000, "/app/cache.dat")
        .load(0x7f00_4000_0000, 0x18_0000, PF_R | PF_W) // thread stack
        .thread_sp(0x7f00_4017_f000)
        .load(0x7ffd_0000_0000, 0x2_1000, PF_R | PF_W) // main stack
        .thread_sp(0x7ffd_0002_0800)
}

fn check(map: &leakgate_memory::RegionMap) {
    assert_eq!(map.source, SourceKind::ElfCore);
    let s = map.summary();
    let c = &s.committed_by_usage;
    assert_eq!(c[&Usage::Image], 0x3000 + 0x4000 + 0x8000);
    assert_eq!(c[&Usage::Other], 0x1000);
    assert_eq!(c[&Usage::Stack], 0x18_0000 + 0x2_1000);
    assert_eq!(c[&Usage::Unknown], 0x10_0000);
    assert_eq!(
        s.committed_total,
        0x3000 + 0x4000 + 0x8000 + 0x1000 + 0x1A_1000 + 0x10_0000
    );
    assert!(s.by_state.iter().all(|r| r.name == "MEM_COMMIT"));
    assert!(map.notes.iter().any(|n| n.contains("no reserved memory")));
    assert!(
        map.region_at(0x7fff_fff1_0000).is_none(),
        "DIAGINFOHEADER page left out"
    );
    let dat = map.region_at(0x7f00_3000_0000).unwrap();
    assert_eq!((dat.usage, dat.kind), (Usage::Other, RegionType::Mapped));
    assert_eq!(map.region_at(0x40_1000).unwrap().allocation_base, 0x40_0000);
}

#[test]
fn reads_a_synthetic_createdump_core() {
    let map = read_elf_core_bytes(&core().diaginfo().build(), Path::new("core.1")).unwrap();
    check(&map);
    assert!(map.notes.iter().any(|n| n.contains("DIAGINFOHEADER")));
}

#[test]
fn pn_xnum_count_comes_from_section_zero() {
    let bytes = core().diaginfo().xnum().build();
    assert_eq!(&bytes[56..58], &[0xff, 0xff]);
    let map = read_elf_core_bytes(&bytes, Path::new("core.xnum")).unwrap();
    check(&map);
}

#[test]
fn files_read_headers_only_via_read_dump() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("core.2");
    core().diaginfo().write_sparse(&p).unwrap();
    check(&read_dump(&p).unwrap());
    check(&read_elf_core(&p).unwrap());
}

#[test]
fn prot_none_loads_count_as_reserved() {
    let b = ElfCoreBuilder::default()
        .load(0x1000, 0x1000, 0)
        .load(0x2000, 0x1000, PF_R | PF_W);
    let map = read_elf_core_bytes(&b.build(), Path::new("core")).unwrap();
    assert_eq!(map.regions[0].state, RegionState::Reserve);
    assert_eq!(map.summary().committed_total, 0x1000);
}

#[test]
fn broken_cores_are_errors_naming_the_file() {
    let good = core().build();
    let name = Path::new("broken.core");
    // truncated program header table
    let err = read_elf_core_bytes(&good[..100], name).unwrap_err();
    assert!(matches!(err, MemoryError::Truncated { .. }), "{err}");
    assert!(err.to_string().contains("broken.core"));
    // wrong magic
    let mut b = good.clone();
    b[1] = b'X';
    assert!(matches!(
        read_elf_core_bytes(&b, name).unwrap_err(),
        MemoryError::UnknownFormat { .. }
    ));
    // not a core (ET_EXEC)
    let mut b = good.clone();
    b[16] = 2;
    assert!(
        read_elf_core_bytes(&b, name)
            .unwrap_err()
            .to_string()
            .contains("not a core")
    );
    // 32-bit
    let mut b = good.clone();
    b[4] = 1;
    assert!(matches!(
        read_elf_core_bytes(&b, name).unwrap_err(),
        MemoryError::Malformed { .. }
    ));
    // program headers past EOF
    let mut b = good.clone();
    b[32..40].copy_from_slice(&(1u64 << 40).to_le_bytes());
    assert!(matches!(
        read_elf_core_bytes(&b, name).unwrap_err(),
        MemoryError::Truncated { .. }
    ));
    // PN_XNUM without section headers
    let mut b = good.clone();
    b[56..58].copy_from_slice(&[0xff, 0xff]);
    assert!(
        read_elf_core_bytes(&b, name)
            .unwrap_err()
            .to_string()
            .contains("PN_XNUM")
    );
    // NT_FILE count that overflows
    let b = ElfCoreBuilder::default()
        .load(0x1000, 0x1000, PF_R)
        .file(0x1000, 0x2000, "/x.so")
        .build();
    let mut b2 = b.clone();
    let pos = b2
        .windows(4)
        .position(|w| w == 0x4649_4c45u32.to_le_bytes())
        .unwrap()
        + 4
        + 8;
    b2[pos..pos + 8].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(
        read_elf_core_bytes(&b2, name)
            .unwrap_err()
            .to_string()
            .contains("NT_FILE")
    );
    // overlapping loads
    let b = ElfCoreBuilder::default()
        .load(0x1000, 0x2000, PF_R)
        .load(0x2000, 0x1000, PF_R)
        .build();
    assert!(matches!(
        read_elf_core_bytes(&b, name).unwrap_err(),
        MemoryError::Overlap { .. }
    ));
}

/// A real core of a `sleep` from gdb's gcore, when gdb is installed.
#[test]
fn real_gcore_of_sleep() {
    if std::process::Command::new("gcore")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("gcore not installed: skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let prefix = dir.path().join("core");
    let out = std::process::Command::new("gcore")
        .arg("-o")
        .arg(&prefix)
        .arg(child.id().to_string())
        .output()
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let core = dir.path().join(format!("core.{}", child.id()));
    if !core.exists() {
        eprintln!(
            "gcore could not attach (ptrace not permitted?): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return;
    }
    let map = read_dump(&core).unwrap();
    let s = map.summary();
    assert!(s.committed_by_usage[&Usage::Image] > 0, "{:?}", map.regions);
    assert!(s.committed_by_usage[&Usage::Stack] > 0, "{:?}", map.regions);
    assert!(
        map.regions
            .iter()
            .any(|r| r.name.as_deref().is_some_and(|n| n.contains("libc.so")))
    );
}
