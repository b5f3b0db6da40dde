//! Many checks, one error rate: a per-type budget (`types: "*"`) judges
//! hundreds or thousands of series in one run, and each trend test at
//! α = 0.05 alone would let dozens of flat types through by chance.
//!
//! ```
//! use leakgate_gate::family::holm;
//! // Four types tested: one clear rise, three that are noise.
//! let adjusted = holm(&[Some(0.0001), Some(0.04), Some(0.3), Some(0.9), None]);
//! assert_eq!(adjusted[0], Some(0.0004)); // 0.0001 × 4 still tested
//! assert!(adjusted[1].unwrap() > 0.05);  // significant alone, not among four
//! assert_eq!(adjusted[4], None);         // not tested: could not reach the floor
//! ```
//!
//! # The rule
//! Each budget's per-type checks are one family. Its trend p-values are
//! adjusted by Holm's step-down procedure — the p-value of rank i among
//! m, times m − i + 1, made monotone from the smallest up — and a series
//! rises significantly only when its adjusted p is below α. That bounds
//! the chance of any false alarm in the family by α whatever the other
//! types do: caches that fill while a run is judged are real rises, and
//! a false-discovery procedure (Benjamini–Hochberg) would let flat types
//! through more often the more of them there are. A leak's own type rises
//! at every sample and its p is far below α/m (1/8! ≈ 2.5·10⁻⁵ for eight
//! judged samples), so Holm costs it little.
//!
//! Only series that moved are tested: those whose range (largest minus
//! smallest judged value) reaches the smallest growth that can count at
//! all ([`crate::growth::min_growth`]: 64 KiB, 4 objects). Leaving the
//! others out of m does not bias the rest: the range does not depend on
//! the order of the values, and Mann–Kendall's p is exact for every order
//! of the same values, so the p-values of the series kept stay valid
//! (independent filtering, Bourgon, Gentleman & Huber 2010). After an
//! induced GC most types do not move at all, so m is the types that did,
//! not the 1,500 the heap holds. Types that moved less than the growth
//! that matters are tested too: one of them cannot fail alone, but a
//! significant rise of one is the evidence a finding (several types held
//! together, [`crate::judge::judge_findings`]) stands on, and with them in
//! the family that evidence is bounded by the same α.

/// Holm's adjusted p-values. `None` is a series not tested (it counts in
/// no family) and stays `None`.
pub fn holm(p: &[Option<f64>]) -> Vec<Option<f64>> {
    let mut tested: Vec<(usize, f64)> = p
        .iter()
        .enumerate()
        .filter_map(|(i, p)| p.map(|p| (i, if p.is_nan() { 1.0 } else { p })))
        .collect();
    let m = tested.len();
    tested.sort_by(|a, b| a.1.total_cmp(&b.1));
    let mut adjusted = vec![None; p.len()];
    let mut running = 0.0_f64;
    for (rank, &(i, p)) in tested.iter().enumerate() {
        running = running.max(p * (m - rank) as f64);
        adjusted[i] = Some(running.min(1.0));
    }
    adjusted
}

/// Whether a series' values span at least `floor`: the filter that puts a
/// series in its budget's family (see the module docs).
pub fn may_matter(values: &[f64], floor: f64) -> bool {
    let finite = values.iter().copied().filter(|v| v.is_finite());
    let (lo, hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    hi - lo >= floor
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adjusted_p_values_are_monotone_and_capped() {
        let p = [Some(0.01), Some(0.02), Some(0.03), Some(0.5)];
        let a: Vec<f64> = holm(&p).into_iter().flatten().collect();
        // 0.01·4 = 0.04, 0.02·3 = 0.06, 0.03·2 = 0.06, 0.5·1 = 0.5
        for (got, want) in a.iter().zip([0.04, 0.06, 0.06, 0.5]) {
            assert!((got - want).abs() < 1e-12, "{a:?}");
        }
        let a = holm(&[Some(0.9), Some(0.8), Some(f64::NAN)]);
        assert_eq!(a, vec![Some(1.0); 3]);
        assert!(holm(&[]).is_empty());
        assert_eq!(holm(&[None, None]), vec![None, None]);
    }

    #[test]
    fn only_series_that_moved_by_the_floor_are_tested() {
        assert!(may_matter(&[5.0, 9.0, 6.0], 4.0));
        assert!(!may_matter(&[5.0, 8.0, 6.0], 4.0));
        assert!(!may_matter(&[f64::NAN, 1.0], 0.5));
        assert!(!may_matter(&[], 0.0));
    }
}
