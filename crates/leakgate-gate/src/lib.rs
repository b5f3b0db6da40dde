//! leakgate-gate
