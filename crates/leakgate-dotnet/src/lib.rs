//! leakgate-dotnet: talking to a running .NET process (diagnostics IPC: dumps,
//! process info, induced GCs) and reading its dumps (the ClrMD inspector).

pub mod inspector;
pub mod ipc;
