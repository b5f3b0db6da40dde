//! Human-readable numbers for reasons and reports: sizes in KiB/MiB/GiB
//! with one decimal, counts as integers.
//!
//! ```
//! use leakgate_gate::units::{human, human_signed};
//! use leakgate_scenario::budget::Unit;
//! assert_eq!(human(36.2 * 1048576.0, Unit::Bytes), "36.2 MiB");
//! assert_eq!(human_signed(-3.0, Unit::Count), "-3");
//! ```

use leakgate_scenario::budget::Unit;

/// A size or count for people: `512 B`, `4.0 KiB`, `36.2 MiB`, `1.5 GiB`, `200`.
pub fn human(v: f64, unit: Unit) -> String {
    match unit {
        Unit::Count => {
            if (v - v.round()).abs() < 1e-9 {
                format!("{}", v.round() as i64)
            } else {
                format!("{v:.1}")
            }
        }
        Unit::Bytes => match binary_unit(v) {
            (1.0, _) => format!("{} B", v.round() as i64),
            (div, u) => format!("{:.1} {u}", v / div),
        },
    }
}

/// The binary unit a person reads `bytes` in: (divisor, name), from B to GiB.
pub fn binary_unit(bytes: f64) -> (f64, &'static str) {
    let a = bytes.abs();
    if a >= (1u64 << 30) as f64 {
        ((1u64 << 30) as f64, "GiB")
    } else if a >= (1u64 << 20) as f64 {
        ((1u64 << 20) as f64, "MiB")
    } else if a >= 1024.0 {
        (1024.0, "KiB")
    } else {
        (1.0, "B")
    }
}

/// Like [`human`] with an explicit `+` for growth.
pub fn human_signed(v: f64, unit: Unit) -> String {
    let s = human(v, unit);
    if v > 0.0 { format!("+{s}") } else { s }
}

/// A count with thousands separated: `1,536`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

/// A p-value for tables: 3 significant decimals, `<0.001` below that.
pub fn p_value(p: f64) -> String {
    if p < 0.001 {
        "<0.001".into()
    } else {
        format!("{p:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_pick_a_unit() {
        assert_eq!(human(100.0, Unit::Bytes), "100 B");
        assert_eq!(human(4096.0, Unit::Bytes), "4.0 KiB");
        assert_eq!(human(1.5 * (1u64 << 30) as f64, Unit::Bytes), "1.5 GiB");
        assert_eq!(human_signed(32.2 * 1048576.0, Unit::Bytes), "+32.2 MiB");
        assert_eq!(human(200.0, Unit::Count), "200");
        assert_eq!(human(2.5, Unit::Count), "2.5");
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1536), "1,536");
        assert_eq!(count(12_345_678), "12,345,678");
        assert_eq!(p_value(0.0004), "<0.001");
        assert_eq!(p_value(0.04321), "0.043");
    }
}
