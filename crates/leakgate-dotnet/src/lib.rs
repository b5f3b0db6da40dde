//! leakgate-dotnet: talking to a running .NET process (diagnostics IPC: dumps,
//! process info, induced GCs, GC heap snapshots over EventPipe) and reading
//! what it gives (the ClrMD inspector for dumps; `nettrace` and `gcheap` for
//! heap snapshots, in Rust; `gccommit` for the GC's own committed bytes).

pub mod gccommit;
pub mod gcheap;
pub mod inspector;
pub mod ipc;
pub mod nettrace;
