//! `leakgate analyze` on inputs built to make it wait or allocate without
//! bound: headers that claim gigabytes (on sparse files that cost nothing on
//! disk), a FIFO, `/dev/zero` behind a `.smaps` name. Each must end under 2 s
//! within 256 MiB of peak memory, with a clear error (exit 2) — measured on
//! the child process itself (`wait4`'s resource usage).

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const GIB: u64 = 1 << 30;

/// Runs `leakgate analyze <path>`; returns (exit code, stderr, wall time, peak RSS in bytes).
/// A run that outlives 20 s is killed (and then fails the time check).
// Reaped by `wait4` (for its resource usage), not by `Child::wait`.
#[allow(clippy::zombie_processes)]
fn analyze(path: &Path) -> (i32, String, Duration, u64) {
    let child = Command::new(env!("CARGO_BIN_EXE_leakgate"))
        .arg("analyze")
        .arg(path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    let started = Instant::now();
    let killer = std::thread::spawn(move || {
        while started.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(50));
            // SAFETY: signal 0 only checks that our child still exists.
            if unsafe { libc::kill(pid, 0) } != 0 {
                return;
            }
        }
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    });
    let mut stderr = child.stderr.unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut text).unwrap();
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid; wait4 fills it in for our child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: wait4 on our own child's pid, with valid out-pointers.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid);
    let took = started.elapsed();
    let _ = killer.join();
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    (code, text, took, usage.ru_maxrss as u64 * 1024)
}

fn sparse(path: &Path, len: u64, writes: &[(u64, &[u8])]) {
    let mut f = File::create(path).unwrap();
    f.set_len(len).unwrap();
    for (offset, bytes) in writes {
        f.seek(SeekFrom::Start(*offset)).unwrap();
        f.write_all(bytes).unwrap();
    }
}

/// A 64-byte ELF64 little-endian core header.
fn elf_header(phoff: u64, phentsize: u16, phnum: u16) -> Vec<u8> {
    let mut h = vec![0u8; 64];
    h[..4].copy_from_slice(b"\x7fELF");
    h[4] = 2; // 64-bit
    h[5] = 1; // little endian
    h[6] = 1;
    h[16..18].copy_from_slice(&4u16.to_le_bytes()); // ET_CORE
    h[18..20].copy_from_slice(&62u16.to_le_bytes()); // x86-64
    h[32..40].copy_from_slice(&phoff.to_le_bytes());
    h[52..54].copy_from_slice(&64u16.to_le_bytes());
    h[54..56].copy_from_slice(&phentsize.to_le_bytes());
    h[56..58].copy_from_slice(&phnum.to_le_bytes());
    h
}

fn assert_bounded(name: &str, path: &Path, says: &str) {
    let (code, stderr, took, rss) = analyze(path);
    assert_eq!(code, 2, "{name}: {stderr}");
    assert!(stderr.contains(says), "{name}: {stderr}");
    assert!(took < Duration::from_secs(2), "{name}: took {took:?}");
    assert!(rss < 256 << 20, "{name}: peak RSS {} MiB", rss >> 20);
}

#[test]
fn crafted_headers_cannot_make_analyze_wait_or_allocate() {
    let dir = tempfile::tempdir().unwrap();

    // 65,534 program headers of 65,535 bytes each: a 4.2 GB table on a sparse file.
    let huge_table = dir.path().join("huge-table.core");
    sparse(&huge_table, 5 * GIB, &[(0, &elf_header(64, 65535, 65534))]);
    assert_bounded("huge phentsize", &huge_table, "e_phentsize");

    // 65,534 notes of 256 MiB each.
    let notes = dir.path().join("notes.core");
    let mut table = Vec::new();
    for _ in 0..65534u32 {
        let mut p = vec![0u8; 56];
        p[..4].copy_from_slice(&4u32.to_le_bytes()); // PT_NOTE
        p[32..40].copy_from_slice(&(256u64 << 20).to_le_bytes()); // p_filesz
        table.extend(p);
    }
    sparse(
        &notes,
        GIB,
        &[(0, &elf_header(64, 56, 65534)), (64, &table)],
    );
    assert_bounded("many huge notes", &notes, "PT_NOTE");

    // A minidump whose MemoryInfoListStream claims a whole sparse gigabyte.
    let minidump = dir.path().join("info-list.dmp");
    let mut header = Vec::new();
    header.extend(b"MDMP");
    header.extend(0xa793u32.to_le_bytes()); // version
    header.extend(1u32.to_le_bytes()); // one stream
    header.extend(32u32.to_le_bytes()); // directory at 32
    header.resize(32, 0);
    header.extend(16u32.to_le_bytes()); // MemoryInfoListStream
    header.extend(((GIB - 64) as u32).to_le_bytes()); // its size
    header.extend(64u32.to_le_bytes()); // at 64
    header.resize(64, 0);
    header.extend(16u32.to_le_bytes()); // SizeOfHeader
    header.extend(48u32.to_le_bytes()); // SizeOfEntry
    header.extend(((GIB - 80) / 48).to_le_bytes()); // NumberOfEntries
    sparse(&minidump, GIB, &[(0, &header)]);
    assert_bounded("memory info list", &minidump, "MemoryInfoListStream");

    // Not regular files: a FIFO would block forever, /dev/zero never end.
    let fifo = dir.path().join("sample-00.smaps");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo with a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    assert_bounded("FIFO", &fifo, "a FIFO");
    let zero = dir.path().join("sample-01.smaps");
    std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
    assert_bounded("/dev/zero", &zero, "a character device");

    // Saved text larger than any real smaps.
    let big = dir.path().join("sample-02.smaps");
    sparse(&big, 300 << 20, &[]);
    assert_bounded("huge smaps", &big, "more than the");
}
