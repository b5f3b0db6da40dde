//! The heap-graph file the inspector writes with `--heap-graph` (format version 1, written by
//! `inspector/HeapGraphWriter.cs`, which documents the layout), read into a [`HeapGraph`].
//! Binary, not JSON: a heap of 10^6 objects and 2·10^6 references is ~50 MB and reads in
//! well under a second. The file is read as a stream (a file of 10^7 objects is ~500 MB:
//! held whole, it would double the graph's memory). Anything malformed is an error naming
//! the file and the byte offset.
//!
//! ```
//! use leakgate_dotnet::inspector::parse_heap_graph;
//!
//! let mut file = b"LGHEAPGR".to_vec();
//! file.extend(1u32.to_le_bytes()); // format version
//! file.extend(0u32.to_le_bytes()); // flags
//! file.push(0xFF); // the end record: no objects, references or roots
//! file.extend([0u8; 24]);
//! let graph = parse_heap_graph(&file, "empty.graph".as_ref())?;
//! assert_eq!(graph.object_count(), 0);
//!
//! let error = parse_heap_graph(&file[..16], "cut.graph".as_ref()).unwrap_err();
//! assert_eq!(error.to_string(), "cut.graph, at byte 16: the file ends inside a record tag: was it cut short?");
//! # Ok::<(), leakgate_dotnet::inspector::HeapGraphFileError>(())
//! ```

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use leakgate_heap::{FieldId, HeapGraph, HeapGraphBuilder, Root, TypeId};

/// The format version this leakgate reads (the file's header says which it has).
pub const HEAP_GRAPH_FORMAT_VERSION: u32 = 1;

const MAGIC: &[u8; 8] = b"LGHEAPGR";
const NO_FIELD: u32 = u32::MAX;

mod tag {
    pub const TYPE: u8 = 1;
    pub const FIELD: u8 = 2;
    pub const OBJECT: u8 = 3;
    pub const ROOT: u8 = 4;
    pub const END: u8 = 0xFF;
}

/// A heap-graph file that cannot be read: which file, where in it, and what is wrong.
/// The message does not repeat the `cause`; print it with `leakgate_record::error_text`.
#[derive(Debug, thiserror::Error)]
#[error("{}, at byte {offset}: {message}", file.display())]
pub struct HeapGraphFileError {
    pub file: PathBuf,
    pub offset: u64,
    pub message: String,
    /// The error that made the file unusable, when there was one.
    #[source]
    pub cause: Option<HeapGraphFileCause>,
}

/// What failed beneath a [`HeapGraphFileError`].
#[derive(Debug, thiserror::Error)]
pub enum HeapGraphFileCause {
    /// The file could not be read.
    #[error(transparent)]
    Read(std::io::Error),
    /// The records read do not make a graph.
    #[error(transparent)]
    Build(leakgate_heap::BuildError),
}

/// Reads the heap-graph file at `path`, streaming: memory is the graph, not the file.
pub fn read_heap_graph(path: &Path) -> Result<HeapGraph, HeapGraphFileError> {
    let cannot_read = |e| HeapGraphFileError {
        file: path.to_path_buf(),
        offset: 0,
        message: "cannot read it".into(),
        cause: Some(HeapGraphFileCause::Read(e)),
    };
    let file = File::open(path).map_err(cannot_read)?;
    let len = file.metadata().map_err(cannot_read)?.len();
    let len = usize::try_from(len).unwrap_or(usize::MAX);
    parse(
        Reader::new(BufReader::with_capacity(1 << 20, file), len),
        path,
    )
}

/// Parses the bytes of a heap-graph file; `file` names it in errors.
pub fn parse_heap_graph(bytes: &[u8], file: &Path) -> Result<HeapGraph, HeapGraphFileError> {
    parse(Reader::new(bytes, bytes.len()), file)
}

fn parse(mut reader: Reader<impl Read>, file: &Path) -> Result<HeapGraph, HeapGraphFileError> {
    let error = |offset: usize, message: String, cause| HeapGraphFileError {
        file: file.to_path_buf(),
        offset: offset as u64,
        message,
        cause,
    };
    match read_records(&mut reader) {
        Ok(Ok(graph)) => Ok(graph),
        Ok(Err((offset, e))) => Err(error(
            offset,
            "the graph cannot be built".into(),
            Some(HeapGraphFileCause::Build(e)),
        )),
        Err((offset, message)) => {
            let cause = reader.io_error.take().map(HeapGraphFileCause::Read);
            Err(error(offset, message, cause))
        }
    }
}

type Failure = (usize, String);

/// The graph, or why its records do not build one; `Err` when the file is malformed.
fn read_records(
    r: &mut Reader<impl Read>,
) -> Result<Result<HeapGraph, (usize, leakgate_heap::BuildError)>, Failure> {
    let magic: [u8; 8] = r.array("the header")?;
    if &magic != MAGIC {
        return Err((
            0,
            format!("not a leakgate heap graph (it starts {magic:02x?})"),
        ));
    }
    let version = r.u32("the format version")?;
    if version != HEAP_GRAPH_FORMAT_VERSION {
        return Err((
            8,
            format!(
                "format version {version}; this leakgate reads version {HEAP_GRAPH_FORMAT_VERSION} \
                 (was the inspector built from other sources?)"
            ),
        ));
    }
    r.u32("the header flags")?;

    // A reference is 12 bytes in the file: a fair guess that saves regrowing the vectors.
    let mut builder = HeapGraphBuilder::with_capacity(r.len / 48, r.len / 16);
    let mut types: Vec<Option<TypeId>> = Vec::new();
    let mut fields: Vec<Option<FieldId>> = Vec::new();
    let (mut objects, mut references, mut roots) = (0u64, 0u64, 0u64);
    loop {
        let at = r.pos;
        match r.u8("a record tag")? {
            tag::TYPE => {
                let id = r.u32("a type id")?;
                let flags = r.u8("a type's flags")?;
                let name = r.str("a type name")?;
                let ty = builder.add_type(&name, flags & 1 != 0);
                define(&mut types, id, ty).map_err(|m| (at, m))?;
            }
            tag::FIELD => {
                let id = r.u32("a field id")?;
                let name = r.str("a field name")?;
                let field = builder.field_name(&name);
                define(&mut fields, id, field).map_err(|m| (at, m))?;
            }
            tag::OBJECT => {
                let address = r.u64("an object address")?;
                let type_id = r.u32("an object's type id")?;
                let ty = lookup(&types, type_id).ok_or_else(|| {
                    (
                        at,
                        format!("object 0x{address:x} has type id {type_id}, never defined"),
                    )
                })?;
                let size = r.u64("an object size")?;
                let count = r.u32("a reference count")?;
                // Check the whole row is there before reserving anything for it.
                if (count as usize).saturating_mul(12) > r.remaining() {
                    return Err((
                        r.pos,
                        format!(
                            "object 0x{address:x} claims {count} references; the file ends first"
                        ),
                    ));
                }
                let object = builder.add_object(address, ty, size);
                for _ in 0..count {
                    let target = r.u64("a reference")?;
                    let field = match r.u32("a reference's field id")? {
                        NO_FIELD => None,
                        id => Some(lookup(&fields, id).ok_or_else(|| {
                            (
                                r.pos - 4,
                                format!("field id {id} is used before it is defined"),
                            )
                        })?),
                    };
                    builder.add_reference(object, target, field);
                }
                objects += 1;
                references += u64::from(count);
            }
            tag::ROOT => {
                let root = read_root(r, at)?;
                builder.add_root(root.0, root.1);
                roots += 1;
            }
            tag::END => {
                let expected = (
                    r.u64("the object count")?,
                    r.u64("the reference count")?,
                    r.u64("the root count")?,
                );
                if expected != (objects, references, roots) {
                    return Err((
                        at,
                        format!(
                            "the end record counts {expected:?} (objects, references, roots); the \
                             file holds {:?}",
                            (objects, references, roots)
                        ),
                    ));
                }
                if r.remaining() != 0 {
                    return Err((
                        r.pos,
                        format!("{} bytes follow the end record", r.remaining()),
                    ));
                }
                return Ok(builder.build().map_err(|e| (at, e)));
            }
            other => return Err((at, format!("unknown record tag 0x{other:02x}"))),
        }
    }
}

fn read_root(r: &mut Reader<impl Read>, at: usize) -> Result<(Root, u64), Failure> {
    let kind = r.u8("a root kind")?;
    let target = r.u64("a root's target")?;
    let root = match kind {
        1 => Root::static_field(r.str("a static's type")?, r.str("a static's field")?),
        2 => {
            let thread = r.u32("a stack root's thread")?;
            let method = r.str("a stack root's method")?;
            Root::stack(
                (thread != 0).then_some(thread),
                (!method.is_empty()).then_some(method.as_str()),
            )
        }
        3 => Root::StrongHandle,
        4 => Root::PinnedHandle,
        5 => Root::FinalizerQueue,
        6 => Root::DependentHandle,
        7 => Root::Other {
            label: r.str("a root label")?,
        },
        8 => {
            let what = r.str("what the runtime holds")?;
            let name = r.str("the name of what the runtime holds")?;
            Root::runtime(what, (!name.is_empty()).then_some(name.as_str()))
        }
        9 => {
            let declaring_type = r.str("a thread static's type")?;
            let field = r.str("a thread static's field")?;
            let thread = r.u32("a thread static's thread")?;
            Root::thread_static(declaring_type, field, (thread != 0).then_some(thread))
        }
        other => return Err((at, format!("unknown root kind {other}"))),
    };
    Ok((root, target))
}

/// Ids are dense in practice (0, 1, 2, ...); a huge one is rejected rather than allocated.
fn define<T: Copy>(table: &mut Vec<Option<T>>, id: u32, value: T) -> Result<(), String> {
    let index = id as usize;
    if index > table.len() + (1 << 20) {
        return Err(format!(
            "id {id} is far beyond the {} defined so far",
            table.len()
        ));
    }
    if index >= table.len() {
        table.resize(index + 1, None);
    }
    if table[index].is_some() {
        return Err(format!("id {id} is defined twice"));
    }
    table[index] = Some(value);
    Ok(())
}

fn lookup<T: Copy>(table: &[Option<T>], id: u32) -> Option<T> {
    table.get(id as usize).copied().flatten()
}

/// The file as a stream of little-endian fields, with the position for errors.
struct Reader<R> {
    inner: R,
    pos: usize,
    /// The file's length when it was opened: what a count in it may claim.
    len: usize,
    /// Why the last read failed, when the file could not be read (not when it ended).
    io_error: Option<io::Error>,
}

impl<R: Read> Reader<R> {
    fn new(inner: R, len: usize) -> Self {
        Reader {
            inner,
            pos: 0,
            len,
            io_error: None,
        }
    }

    fn remaining(&self) -> usize {
        self.len.saturating_sub(self.pos)
    }

    fn fill(&mut self, buf: &mut [u8], what: &str) -> Result<(), Failure> {
        let cut_short = |pos| {
            (
                pos,
                format!("the file ends inside {what}: was it cut short?"),
            )
        };
        if self.remaining() < buf.len() {
            return Err(cut_short(self.pos));
        }
        match self.inner.read_exact(buf) {
            Ok(()) => {
                self.pos += buf.len();
                Ok(())
            }
            // Shorter than when it was opened.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(cut_short(self.pos)),
            Err(e) => {
                self.io_error = Some(e);
                Err((self.pos, format!("cannot read {what}")))
            }
        }
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], Failure> {
        let mut bytes = [0u8; N];
        self.fill(&mut bytes, what)?;
        Ok(bytes)
    }

    fn u8(&mut self, what: &str) -> Result<u8, Failure> {
        Ok(self.array::<1>(what)?[0])
    }

    fn u32(&mut self, what: &str) -> Result<u32, Failure> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    fn u64(&mut self, what: &str) -> Result<u64, Failure> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    fn str(&mut self, what: &str) -> Result<String, Failure> {
        let at = self.pos;
        let len = self.u32(what)? as usize;
        if len > self.remaining() {
            // Checked before allocating: the length may be anything.
            return Err((
                self.pos,
                format!("the file ends inside {what}: was it cut short?"),
            ));
        }
        let mut bytes = vec![0u8; len];
        self.fill(&mut bytes, what)?;
        String::from_utf8(bytes).map_err(|_| (at, format!("{what} is not UTF-8")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes records the way HeapGraphWriter.cs does.
    #[derive(Default)]
    struct FileWriter {
        bytes: Vec<u8>,
        counts: (u64, u64, u64),
    }

    impl FileWriter {
        fn new() -> FileWriter {
            let mut w = FileWriter::default();
            w.bytes.extend(MAGIC);
            w.u32(HEAP_GRAPH_FORMAT_VERSION).u32(0);
            w
        }
        fn u8(&mut self, v: u8) -> &mut Self {
            self.bytes.push(v);
            self
        }
        fn u32(&mut self, v: u32) -> &mut Self {
            self.bytes.extend(v.to_le_bytes());
            self
        }
        fn u64(&mut self, v: u64) -> &mut Self {
            self.bytes.extend(v.to_le_bytes());
            self
        }
        fn str(&mut self, s: &str) -> &mut Self {
            self.u32(s.len() as u32);
            self.bytes.extend(s.as_bytes());
            self
        }
        fn ty(&mut self, id: u32, name: &str, finalizable: bool) -> &mut Self {
            self.u8(tag::TYPE).u32(id).u8(finalizable as u8).str(name)
        }
        fn field(&mut self, id: u32, name: &str) -> &mut Self {
            self.u8(tag::FIELD).u32(id).str(name)
        }
        fn object(&mut self, address: u64, ty: u32, edges: &[(u64, u32)]) -> &mut Self {
            self.u8(tag::OBJECT).u64(address).u32(ty).u64(24);
            self.u32(edges.len() as u32);
            for &(target, field) in edges {
                self.u64(target).u32(field);
            }
            self.counts.0 += 1;
            self.counts.1 += edges.len() as u64;
            self
        }
        fn root(&mut self, kind: u8, target: u64) -> &mut Self {
            self.counts.2 += 1;
            self.u8(tag::ROOT).u8(kind).u64(target)
        }
        fn end(&mut self) -> Vec<u8> {
            let (o, e, r) = self.counts;
            self.u8(tag::END).u64(o).u64(e).u64(r);
            self.bytes.clone()
        }
    }

    /// A static list of two entries; a stack, a handle and the finalizer queue hold others.
    fn sample_file() -> Vec<u8> {
        let mut w = FileWriter::new();
        w.ty(0, "System.Collections.Generic.List<Entry>", false)
            .ty(1, "Entry[]", false)
            .ty(2, "Entry", true)
            .field(0, "_items");
        w.object(0x100, 0, &[(0x200, 0)])
            .object(0x200, 1, &[(0x300, NO_FIELD), (0x320, NO_FIELD)])
            .object(0x300, 2, &[])
            .object(0x320, 2, &[(0x999, NO_FIELD)]);
        w.root(1, 0x100).str("Registry").str("Entries");
        w.root(2, 0x300).u32(0x3f2c).str("Worker.Run()");
        w.root(2, 0x320).u32(0).str("");
        w.root(3, 0x300)
            .root(4, 0x320)
            .root(5, 0x320)
            .root(6, 0x300);
        w.root(7, 0x200).str("static storage");
        w.root(8, 0x300)
            .str("non-collectible dynamic assembly")
            .str("Contoso.Proxies.Generated17");
        w.root(8, 0x320).str("non-collectible assembly").str("");
        w.root(9, 0x200)
            .str("PerThreadLog")
            .str("Entries")
            .u32(0x51);
        w.end()
    }

    fn parse(bytes: &[u8]) -> Result<HeapGraph, HeapGraphFileError> {
        parse_heap_graph(bytes, Path::new("test.graph"))
    }

    #[test]
    fn a_written_graph_reads_back_with_every_root_kind() {
        let graph = parse(&sample_file()).unwrap();
        assert_eq!((graph.object_count(), graph.edge_count()), (4, 3));
        assert_eq!(graph.stats().unresolved_edges, 1);
        let list = graph.find(0x100).unwrap();
        let array = graph.find(0x200).unwrap();
        assert_eq!(
            graph.references(list).collect::<Vec<_>>(),
            vec![(array, Some("_items"))]
        );
        let entry = graph.find(0x300).unwrap();
        assert!(graph.is_finalizable(graph.type_of(entry)));
        let roots: Vec<String> = graph.roots().iter().map(|(r, _)| r.to_string()).collect();
        assert_eq!(
            roots,
            [
                "static Registry.Entries",
                "stack: Worker.Run() (thread 0x3f2c)",
                "stack",
                "strong handle",
                "pinned handle",
                "finalizer queue",
                "dependent handle",
                "static storage",
                "runtime: non-collectible dynamic assembly Contoso.Proxies.Generated17",
                "runtime: non-collectible assembly",
                "thread static PerThreadLog.Entries (thread 0x51)",
            ]
        );
    }

    #[test]
    fn a_file_cut_anywhere_is_an_error_naming_the_file_and_offset() {
        let whole = sample_file();
        for cut in 0..whole.len() {
            let error = parse(&whole[..cut]).expect_err("a cut file is refused");
            assert_eq!(error.file, Path::new("test.graph"));
            assert!(error.offset <= cut as u64, "cut at {cut}: {error}");
            assert!(
                error.to_string().starts_with("test.graph, at byte "),
                "{error}"
            );
        }
    }

    #[test]
    fn malformed_records_are_errors_that_say_what_is_wrong() {
        let expect = |bytes: Vec<u8>, offset: u64, words: &str| {
            let error = parse(&bytes).unwrap_err();
            assert_eq!(error.offset, offset, "{error}");
            assert!(error.message.contains(words), "{error}");
        };
        let mut bytes = sample_file();
        bytes[0] = b'X';
        expect(bytes, 0, "not a leakgate heap graph");

        let mut bytes = sample_file();
        bytes[8] = 2;
        expect(bytes, 8, "format version 2");

        let mut w = FileWriter::new();
        expect(w.u8(0x42).end(), 16, "unknown record tag 0x42");

        let mut w = FileWriter::new();
        expect(
            w.object(0x100, 7, &[]).end(),
            16,
            "type id 7, never defined",
        );

        let mut w = FileWriter::new();
        w.ty(0, "A", false);
        let object_at = w.bytes.len() as u64;
        expect(
            w.object(0x100, 0, &[(0x100, 3)]).end(),
            object_at + 33,
            "field id 3",
        );

        let mut w = FileWriter::new();
        expect(
            w.ty(0, "A", false).ty(0, "B", false).end(),
            27,
            "defined twice",
        );

        let mut w = FileWriter::new();
        w.ty(0, "A", false)
            .u8(tag::OBJECT)
            .u64(0x100)
            .u32(0)
            .u64(24)
            .u32(u32::MAX);
        expect(w.bytes.clone(), 52, "claims 4294967295 references");

        let mut w = FileWriter::new();
        w.ty(0, "A", false).object(0x100, 0, &[]);
        w.counts.0 = 5;
        let end_at = w.bytes.len() as u64;
        expect(w.end(), end_at, "the end record counts (5, 0, 0)");

        let mut bytes = FileWriter::new().end();
        bytes.push(0);
        expect(bytes, 41, "1 bytes follow the end record");

        let mut w = FileWriter::new();
        w.u8(tag::TYPE).u32(0).u8(0).u32(2).u8(0xFF).u8(0xFE);
        expect(w.end(), 22, "a type name is not UTF-8");

        let mut w = FileWriter::new();
        expect(w.root(10, 0x100).end(), 16, "unknown root kind 10");

        let mut w = FileWriter::new();
        w.root(8, 0x100)
            .str("non-collectible assembly")
            .u32(u32::MAX);
        expect(w.end(), 58, "the name of what the runtime holds");
    }

    #[test]
    fn a_file_reads_as_a_stream_and_an_unreadable_one_keeps_the_cause() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("heap.graph");
        std::fs::write(&path, sample_file()).unwrap();
        let graph = read_heap_graph(&path).unwrap();
        let counts = (
            graph.object_count(),
            graph.edge_count(),
            graph.roots().len(),
        );
        assert_eq!(counts, (4, 3, 11));

        // A directory opens, but reading it fails.
        let error = read_heap_graph(dir.path()).unwrap_err();
        assert_eq!(error.offset, 0);
        assert!(
            matches!(error.cause, Some(HeapGraphFileCause::Read(_))),
            "{error}"
        );
    }

    #[test]
    fn a_missing_file_is_an_error_naming_it() {
        let error = read_heap_graph(Path::new("/nonexistent/heap.graph")).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("/nonexistent/heap.graph, at byte 0: cannot read it")
        );
    }
}
