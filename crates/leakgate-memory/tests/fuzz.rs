//! Mutated minidumps, ELF cores and maps text: readers return errors,
//! never panic.

mod support;

use std::path::Path;

use leakgate_memory::{parse_proc_maps, read_elf_core_bytes, read_minidump_bytes};
use proptest::prelude::*;
use support::*;

fn minidump_seed() -> Vec<u8> {
    MinidumpBuilder::x64()
        .free(0, 0x10_0000)
        .reserve(0x10_0000, 0xF_8000, 0x10_0000, MEM_PRIVATE)
        .commit(0x1F_8000, 0x8000, 0x10_0000, MEM_PRIVATE)
        .commit(0x30_0000, 0x2000, 0x30_0000, MEM_PRIVATE)
        .commit(0x31_0000, 0x1000, 0x31_0000, MEM_PRIVATE)
        .commit(0x50_0000, 0x1_0000, 0x50_0000, MEM_PRIVATE)
        .commit(0x7FF6_0000_0000, 0x2000, 0x7FF6_0000_0000, MEM_IMAGE)
        .module(0x7FF6_0000_0000, 0x2000, "app.exe")
        .thread(1, 0x30_0000, 0x1F_C000, 0x4000)
        .pointers(0x30_0000, 0x100, &[(0x60, 0x31_0000)])
        .pointers(
            0x31_0000,
            0x400,
            &[(0x68, 0x40_0000), (0xE8, 1), (0xF0, 0x50_1000)],
        )
        .pointers(0x50_1000, 8, &[(0, 0x50_0000)])
        .build()
}

fn elf_seed() -> Vec<u8> {
    ElfCoreBuilder::default()
        .load(0x40_0000, 0x1000, PF_R | PF_X)
        .file(0x40_0000, 0x40_1000, "/app/host")
        .load(0x7f00_0000_0000, 0x2000, PF_R | PF_W)
        .thread_sp(0x7f00_0000_1000)
        .diaginfo()
        .xnum()
        .build()
}

/// Overwrites bytes, words with boundary values, and maybe truncates.
fn mutate(
    mut data: Vec<u8>,
    edits: &[(usize, u8)],
    words: &[(usize, u8)],
    cut: Option<usize>,
) -> Vec<u8> {
    const WORDS: [u64; 6] = [0, 1, 0xFFFF, 0xFFFF_FFFF, 0x7FFF_FFFF_FFFF_FFFF, u64::MAX];
    let n = data.len();
    for &(i, b) in edits {
        data[i % n] = b;
    }
    for &(i, w) in words {
        let v = WORDS[w as usize % WORDS.len()].to_le_bytes();
        let at = (i % n) & !3;
        let len = v.len().min(n - at);
        data[at..at + len].copy_from_slice(&v[..len]);
    }
    if let Some(c) = cut {
        data.truncate(c % (n + 1));
    }
    data
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mutated_minidumps_never_panic(
        edits in prop::collection::vec((any::<usize>(), any::<u8>()), 0..8),
        words in prop::collection::vec((any::<usize>(), any::<u8>()), 0..4),
        cut in prop::option::weighted(0.2, any::<usize>()),
    ) {
        let data = mutate(minidump_seed(), &edits, &words, cut);
        if let Ok(map) = read_minidump_bytes(&data, Path::new("fuzz.dmp")) {
            let s = map.summary();
            let _ = leakgate_memory::render_address_summary(&s);
        }
    }

    #[test]
    fn mutated_elf_cores_never_panic(
        edits in prop::collection::vec((any::<usize>(), any::<u8>()), 0..8),
        words in prop::collection::vec((any::<usize>(), any::<u8>()), 0..4),
        cut in prop::option::weighted(0.2, any::<usize>()),
    ) {
        let data = mutate(elf_seed(), &edits, &words, cut);
        if let Ok(mut map) = read_elf_core_bytes(&data, Path::new("fuzz.core")) {
            map.split_gc(&[(0, u64::MAX)]);
            let _ = leakgate_memory::render_address_summary(&map.summary());
        }
    }

    #[test]
    fn arbitrary_maps_text_never_panics(maps in "([0-9a-f]{1,16}-[0-9a-f]{1,16} [r-][w-][x-][ps] [0-9a-f]{1,8} [0-9a-f:]{5} [0-9]{1,3}( +[\\[/a-z.\\]]{0,12})?\n){0,6}",
                                        smaps in proptest::option::of("([0-9a-f]{1,4}-[0-9a-f]{1,4} rw-p 0 00:00 0\n)?(Rss|Private_Dirty|VmFlags|Size): {0,3}[0-9a-z ]{0,24}( kB)?\n")) {
        if let Ok(mut map) = parse_proc_maps(&maps, smaps.as_deref()) {
            map.split_gc(&[(0x1000, 0x2000), (0, 1)]);
            let _ = leakgate_memory::render_address_summary(&map.summary());
        }
    }
}
