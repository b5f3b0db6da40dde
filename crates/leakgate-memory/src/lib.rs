//! leakgate-memory
