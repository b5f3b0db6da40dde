//! Test builders for dumps, so each test reads as the process it describes.
#![allow(dead_code)]

pub const MEM_COMMIT: u32 = 0x1000;
pub const MEM_RESERVE: u32 = 0x2000;
pub const MEM_FREE: u32 = 0x10000;
pub const MEM_PRIVATE: u32 = 0x20000;
pub const MEM_MAPPED: u32 = 0x40000;
pub const MEM_IMAGE: u32 = 0x100_0000;
pub const PAGE_NOACCESS: u32 = 0x01;
pub const PAGE_READONLY: u32 = 0x02;
pub const PAGE_READWRITE: u32 = 0x04;
pub const PAGE_EXECUTE_READ: u32 = 0x20;
pub const PAGE_GUARD: u32 = 0x100;

/// One `MINIDUMP_MEMORY_INFO`.
#[derive(Clone, Copy)]
pub struct Info {
    pub base: u64,
    pub alloc_base: u64,
    pub size: u64,
    pub state: u32,
    pub protect: u32,
    pub ty: u32,
}

/// Writes minidumps stream by stream (MemoryInfoList, ModuleList,
/// ThreadList with TEBs, MemoryList, SystemInfo).
#[derive(Default)]
pub struct MinidumpBuilder {
    pub x86: bool,
    pub no_system_info: bool,
    pub no_memory_info: bool,
    pub infos: Vec<Info>,
    pub modules: Vec<(u64, u32, String)>,
    /// (thread id, TEB, stack start, stack size)
    pub threads: Vec<(u32, u64, u64, u32)>,
    pub memory: Vec<(u64, Vec<u8>)>,
}

impl MinidumpBuilder {
    pub fn x64() -> Self {
        Self::default()
    }
    pub fn x86() -> Self {
        Self {
            x86: true,
            ..Self::default()
        }
    }
    /// A busy region.
    pub fn region(
        mut self,
        base: u64,
        size: u64,
        alloc_base: u64,
        state: u32,
        ty: u32,
        protect: u32,
    ) -> Self {
        self.infos.push(Info {
            base,
            alloc_base,
            size,
            state,
            protect,
            ty,
        });
        self
    }
    pub fn commit(self, base: u64, size: u64, alloc_base: u64, ty: u32) -> Self {
        self.region(base, size, alloc_base, MEM_COMMIT, ty, PAGE_READWRITE)
    }
    pub fn reserve(self, base: u64, size: u64, alloc_base: u64, ty: u32) -> Self {
        self.region(base, size, alloc_base, MEM_RESERVE, ty, 0)
    }
    pub fn free(mut self, base: u64, size: u64) -> Self {
        self.infos.push(Info {
            base,
            alloc_base: 0,
            size,
            state: MEM_FREE,
            protect: PAGE_NOACCESS,
            ty: 0,
        });
        self
    }
    pub fn module(mut self, base: u64, size: u32, name: &str) -> Self {
        self.modules.push((base, size, name.to_string()));
        self
    }
    pub fn thread(mut self, id: u32, teb: u64, stack_start: u64, stack_size: u32) -> Self {
        self.threads.push((id, teb, stack_start, stack_size));
        self
    }
    pub fn memory(mut self, addr: u64, bytes: Vec<u8>) -> Self {
        self.memory.push((addr, bytes));
        self
    }
    /// Memory block at `addr` holding pointers at the given offsets.
    pub fn pointers(self, addr: u64, len: usize, ptrs: &[(usize, u64)]) -> Self {
        let width = if self.x86 { 4 } else { 8 };
        let mut b = vec![0u8; len];
        for &(off, v) in ptrs {
            b[off..off + width].copy_from_slice(&v.to_le_bytes()[..width]);
        }
        self.memory(addr, b)
    }

    pub fn build(&self) -> Vec<u8> {
        let mut streams: Vec<(u32, Vec<u8>)> = Vec::new(); // type, body (rvas patched below)
        let n_streams = 5u32;
        let dir_rva = 32u32;
        let mut out = vec![0u8; 32 + 12 * n_streams as usize];
        let push = |out: &mut Vec<u8>, b: &[u8]| -> u32 {
            while !out.len().is_multiple_of(4) {
                out.push(0);
            }
            let rva = out.len() as u32;
            out.extend_from_slice(b);
            rva
        };
        // blobs first
        let name_rvas: Vec<u32> = self
            .modules
            .iter()
            .map(|(_, _, n)| {
                let utf16: Vec<u8> = n.encode_utf16().flat_map(|c| c.to_le_bytes()).collect();
                let mut b = (utf16.len() as u32).to_le_bytes().to_vec();
                b.extend_from_slice(&utf16);
                b.extend_from_slice(&[0, 0]);
                push(&mut out, &b)
            })
            .collect();
        let mem_rvas: Vec<u32> = self.memory.iter().map(|(_, b)| push(&mut out, b)).collect();
        // memory info list
        if !self.no_memory_info {
            let mut b = Vec::new();
            b.extend_from_slice(&16u32.to_le_bytes());
            b.extend_from_slice(&48u32.to_le_bytes());
            b.extend_from_slice(&(self.infos.len() as u64).to_le_bytes());
            for i in &self.infos {
                b.extend_from_slice(&i.base.to_le_bytes());
                b.extend_from_slice(&i.alloc_base.to_le_bytes());
                b.extend_from_slice(&i.protect.to_le_bytes());
                b.extend_from_slice(&0u32.to_le_bytes());
                b.extend_from_slice(&i.size.to_le_bytes());
                b.extend_from_slice(&i.state.to_le_bytes());
                b.extend_from_slice(&i.protect.to_le_bytes());
                b.extend_from_slice(&i.ty.to_le_bytes());
                b.extend_from_slice(&0u32.to_le_bytes());
            }
            streams.push((16, b));
        }
        // module list
        let mut b = (self.modules.len() as u32).to_le_bytes().to_vec();
        for ((base, size, _), rva) in self.modules.iter().zip(&name_rvas) {
            b.extend_from_slice(&base.to_le_bytes());
            b.extend_from_slice(&size.to_le_bytes());
            b.extend_from_slice(&0u32.to_le_bytes()); // checksum
            b.extend_from_slice(&0u32.to_le_bytes()); // timestamp
            b.extend_from_slice(&rva.to_le_bytes());
            b.extend_from_slice(&[0u8; 52]); // VS_FIXEDFILEINFO
            b.extend_from_slice(&[0u8; 16]); // cv, misc records
            b.extend_from_slice(&[0u8; 16]); // reserved
        }
        streams.push((4, b));
        // thread list
        let mut b = (self.threads.len() as u32).to_le_bytes().to_vec();
        for &(id, teb, stack, size) in &self.threads {
            b.extend_from_slice(&id.to_le_bytes());
            b.extend_from_slice(&[0u8; 12]);
            b.extend_from_slice(&teb.to_le_bytes());
            b.extend_from_slice(&stack.to_le_bytes());
            b.extend_from_slice(&size.to_le_bytes());
            b.extend_from_slice(&0u32.to_le_bytes()); // stack bytes not in dump
            b.extend_from_slice(&[0u8; 8]); // no context
        }
        streams.push((3, b));
        // memory list
        let mut b = (self.memory.len() as u32).to_le_bytes().to_vec();
        for ((addr, bytes), rva) in self.memory.iter().zip(&mem_rvas) {
            b.extend_from_slice(&addr.to_le_bytes());
            b.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
            b.extend_from_slice(&rva.to_le_bytes());
        }
        streams.push((5, b));
        if !self.no_system_info {
            let mut b = Vec::new();
            let arch: u16 = if self.x86 { 0 } else { 9 };
            b.extend_from_slice(&arch.to_le_bytes());
            b.extend_from_slice(&6u16.to_le_bytes());
            b.extend_from_slice(&0u16.to_le_bytes());
            b.push(4);
            b.push(1);
            for v in [10u32, 0, 19045, 2, 0] {
                b.extend_from_slice(&v.to_le_bytes());
            }
            b.extend_from_slice(&[0u8; 4 + 24]);
            streams.push((7, b));
        }
        let mut dir = Vec::new();
        for (ty, body) in &streams {
            let rva = push(&mut out, body);
            dir.extend_from_slice(&ty.to_le_bytes());
            dir.extend_from_slice(&(body.len() as u32).to_le_bytes());
            dir.extend_from_slice(&rva.to_le_bytes());
        }
        out[0..4].copy_from_slice(b"MDMP");
        out[4..8].copy_from_slice(&0xa793u32.to_le_bytes());
        out[8..12].copy_from_slice(&(streams.len() as u32).to_le_bytes());
        out[12..16].copy_from_slice(&dir_rva.to_le_bytes());
        out[32..32 + dir.len()].copy_from_slice(&dir);
        out
    }
}

pub const PF_X: u32 = 1;
pub const PF_W: u32 = 2;
pub const PF_R: u32 = 4;

/// Writes ELF64 core headers: PT_NOTE (NT_PRSTATUS per thread, NT_FILE)
/// then PT_LOADs, optionally the createdump DIAGINFOHEADER page and the
/// PN_XNUM form. Payload bytes are zeros (or a sparse tail via set_len).
#[derive(Default)]
pub struct ElfCoreBuilder {
    /// (vaddr, memsz, flags)
    pub loads: Vec<(u64, u64, u32)>,
    /// (start, end, name)
    pub files: Vec<(u64, u64, String)>,
    pub stack_pointers: Vec<u64>,
    pub diaginfo: bool,
    pub xnum: bool,
}

impl ElfCoreBuilder {
    pub fn load(mut self, vaddr: u64, memsz: u64, flags: u32) -> Self {
        self.loads.push((vaddr, memsz, flags));
        self
    }
    pub fn file(mut self, start: u64, end: u64, name: &str) -> Self {
        self.files.push((start, end, name.to_string()));
        self
    }
    pub fn thread_sp(mut self, sp: u64) -> Self {
        self.stack_pointers.push(sp);
        self
    }
    pub fn diaginfo(mut self) -> Self {
        self.diaginfo = true;
        self
    }
    pub fn xnum(mut self) -> Self {
        self.xnum = true;
        self
    }

    fn note(out: &mut Vec<u8>, ty: u32, desc: &[u8]) {
        out.extend_from_slice(&5u32.to_le_bytes());
        out.extend_from_slice(&(desc.len() as u32).to_le_bytes());
        out.extend_from_slice(&ty.to_le_bytes());
        out.extend_from_slice(b"CORE\0\0\0\0");
        out.extend_from_slice(desc);
        while !out.len().is_multiple_of(4) {
            out.push(0);
        }
    }

    /// Headers and notes, plus the total file length the payload needs.
    pub fn build_headers(&self) -> (Vec<u8>, u64) {
        let mut loads = self.loads.clone();
        if self.diaginfo {
            loads.push((0x7fff_fff1_0000, 0x1000, PF_R));
        }
        let nph = loads.len() + 1;
        let mut notes = Vec::new();
        for &sp in &self.stack_pointers {
            let mut d = vec![0u8; 336];
            d[264..272].copy_from_slice(&sp.to_le_bytes());
            Self::note(&mut notes, 1, &d);
        }
        if !self.files.is_empty() {
            let mut d = Vec::new();
            d.extend_from_slice(&(self.files.len() as u64).to_le_bytes());
            d.extend_from_slice(&4096u64.to_le_bytes());
            for (s, e, _) in &self.files {
                d.extend_from_slice(&s.to_le_bytes());
                d.extend_from_slice(&e.to_le_bytes());
                d.extend_from_slice(&0u64.to_le_bytes());
            }
            for (_, _, n) in &self.files {
                d.extend_from_slice(n.as_bytes());
                d.push(0);
            }
            Self::note(&mut notes, 0x4649_4c45, &d);
        }
        let phoff = 64u64;
        let shoff = phoff + 56 * nph as u64;
        let note_off = shoff + if self.xnum { 64 } else { 0 };
        let mut payload = (note_off + notes.len() as u64 + 0xfff) & !0xfff;
        let mut out = vec![0u8; 64];
        out[..4].copy_from_slice(b"\x7fELF");
        out[4] = 2;
        out[5] = 1;
        out[6] = 1;
        out[16..18].copy_from_slice(&4u16.to_le_bytes());
        out[18..20].copy_from_slice(&62u16.to_le_bytes());
        out[20..24].copy_from_slice(&1u32.to_le_bytes());
        out[32..40].copy_from_slice(&phoff.to_le_bytes());
        if self.xnum {
            out[40..48].copy_from_slice(&shoff.to_le_bytes());
            out[58..60].copy_from_slice(&64u16.to_le_bytes());
            out[60..62].copy_from_slice(&1u16.to_le_bytes());
        }
        out[52..54].copy_from_slice(&64u16.to_le_bytes());
        out[54..56].copy_from_slice(&56u16.to_le_bytes());
        let phnum: u16 = if self.xnum { 0xffff } else { nph as u16 };
        out[56..58].copy_from_slice(&phnum.to_le_bytes());
        let ph = |out: &mut Vec<u8>,
                  ty: u32,
                  flags: u32,
                  off: u64,
                  vaddr: u64,
                  filesz: u64,
                  memsz: u64| {
            out.extend_from_slice(&ty.to_le_bytes());
            out.extend_from_slice(&flags.to_le_bytes());
            for v in [off, vaddr, 0, filesz, memsz, 0x1000] {
                out.extend_from_slice(&v.to_le_bytes());
            }
        };
        ph(&mut out, 4, 0, note_off, 0, notes.len() as u64, 0);
        for &(vaddr, memsz, flags) in &loads {
            ph(&mut out, 1, flags, payload, vaddr, memsz, memsz);
            payload += memsz;
        }
        if self.xnum {
            let mut sh = vec![0u8; 64];
            sh[44..48].copy_from_slice(&(nph as u32).to_le_bytes());
            out.extend_from_slice(&sh);
        }
        out.extend_from_slice(&notes);
        (out, payload)
    }

    /// The whole core in memory, payload zero-filled.
    pub fn build(&self) -> Vec<u8> {
        let (mut out, len) = self.build_headers();
        out.resize(len as usize, 0);
        out
    }

    /// Writes headers and extends the file sparsely to its full length.
    pub fn write_sparse(&self, path: &std::path::Path) -> std::io::Result<u64> {
        use std::io::Write;
        let (head, len) = self.build_headers();
        let mut f = std::fs::File::create(path)?;
        f.write_all(&head)?;
        f.set_len(len)?;
        Ok(len)
    }
}

/// Committed bytes per usage in `!address -summary`'s order ([`Usage::BUSY`]):
/// Unknown, GC heap, Image, Stack, Heap, TEB, PEB, Other.
///
/// [`Usage::BUSY`]: leakgate_memory::Usage::BUSY
pub fn committed_by_usage(s: &leakgate_memory::MemorySummary) -> [u64; 8] {
    let c = &s.committed_by_usage;
    leakgate_memory::Usage::BUSY.map(|u| c.get(&u).copied().unwrap_or(0))
}
