//! leakgate-runner
