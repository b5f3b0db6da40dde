//! leakgate-dotnet: talking to a running .NET process (diagnostics IPC: dumps,
//! process info, induced GCs) and reading what it gives (the ClrMD inspector
//! for dumps; `nettrace` for EventPipe traces, in Rust).

pub mod inspector;
pub mod ipc;
pub mod nettrace;
