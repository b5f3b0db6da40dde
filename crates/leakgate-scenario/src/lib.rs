//! leakgate-scenario
