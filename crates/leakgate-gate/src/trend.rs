//! Trend statistics: pure functions over a slice of numbers.
//!
//! Memory is noisy, so "last > first" is not evidence of a leak. These are
//! the standard non-parametric tools for "does this keep going up":
//! Mann–Kendall (is there a monotonic trend?) and Theil–Sen (how steep,
//! robust to outliers, with Sen's confidence interval).
//!
//! ```
//! use leakgate_gate::trend::{mann_kendall, theil_sen};
//!
//! let y = [1.0, 2.0, 3.0, 4.0, 5.0];
//! let mk = mann_kendall(&y);
//! assert_eq!(mk.s, 10.0);
//! assert!(mk.p_increasing < 0.05);
//! let x = [0.0, 1.0, 2.0, 3.0, 4.0];
//! assert_eq!(theil_sen(&x, &y, 0.05).unwrap().slope, 1.0);
//! ```

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use statrs::function::erf::{erf_inv, erfc};

/// Result of the Mann–Kendall test.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, JsonSchema)]
pub struct MannKendall {
    pub n: usize,
    /// Sum of signs of all later-minus-earlier differences.
    pub s: f64,
    /// Variance of S under no trend, corrected for ties.
    pub var_s: f64,
    /// Normal score with continuity correction.
    pub z: f64,
    pub p_two_sided: f64,
    /// One-sided p for an upward trend.
    pub p_increasing: f64,
}

/// Standard normal CDF.
pub fn normal_cdf(z: f64) -> f64 {
    0.5 * erfc(-z / std::f64::consts::SQRT_2)
}

/// Standard normal quantile.
pub fn normal_quantile(p: f64) -> f64 {
    std::f64::consts::SQRT_2 * erf_inv(2.0 * p - 1.0)
}

/// Tie-corrected variance of S: [n(n−1)(2n+5) − Σ t(t−1)(2t+5)] / 18,
/// t over groups of equal values.
pub fn mk_variance(y: &[f64]) -> f64 {
    let n = y.len() as f64;
    let mut sorted: Vec<f64> = y.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mut ties = 0.0;
    let mut i = 0;
    while i < sorted.len() {
        // At least one step, so a NaN (equal to nothing, itself included) cannot stall the loop.
        let mut j = i + 1;
        while j < sorted.len() && sorted[j] == sorted[i] {
            j += 1;
        }
        let t = (j - i) as f64;
        ties += t * (t - 1.0) * (2.0 * t + 5.0);
        i = j;
    }
    (n * (n - 1.0) * (2.0 * n + 5.0) - ties) / 18.0
}

/// Mann–Kendall trend test. p-values are exact (the permutation
/// distribution of S) for up to [`EXACT_MAX_N`] values without ties;
/// otherwise from the normal score with tie and continuity corrections.
/// With fewer than 2 values, or all values equal, p is 1.
pub fn mann_kendall(y: &[f64]) -> MannKendall {
    let n = y.len();
    let mut s = 0.0;
    for i in 0..n {
        for j in i + 1..n {
            s += sign(y[j] - y[i]);
        }
    }
    let var_s = if n < 2 { 0.0 } else { mk_variance(y) };
    let z = if var_s <= 0.0 {
        0.0
    } else if s > 0.0 {
        (s - 1.0) / var_s.sqrt()
    } else if s < 0.0 {
        (s + 1.0) / var_s.sqrt()
    } else {
        0.0
    };
    let (p_two_sided, p_increasing) = if var_s <= 0.0 {
        (1.0, 1.0)
    } else if let Some(upper) = exact_upper_tail(y, s) {
        // Exact: P(S ≥ s) from the permutation distribution (no ties, small n).
        let tail = exact_upper_tail(y, s.abs()).unwrap_or(upper);
        ((2.0 * tail).min(1.0), upper)
    } else {
        (
            (2.0 * (1.0 - normal_cdf(z.abs()))).min(1.0),
            1.0 - normal_cdf(z),
        )
    };
    MannKendall {
        n,
        s,
        var_s,
        z,
        p_two_sided,
        p_increasing,
    }
}

/// Series up to this length without ties get exact p-values; the normal
/// approximation is off by a factor of up to 1.7 below ~10 values (n = 5, all
/// rising: 0.014 approximated, 1/120 = 0.0083 exact), which matters when a
/// decision is taken at a small, strict level (sequential sampling).
pub const EXACT_MAX_N: usize = 60;

/// P(S ≥ s) under no trend, from the exact permutation distribution of S
/// (S = N − 2·inversions, N = n(n−1)/2; inversions follow the Mahonian
/// distribution). `None` when the series has ties (their null distribution
/// depends on the tie pattern), a non-finite value, or more than
/// [`EXACT_MAX_N`] values.
pub fn exact_upper_tail(y: &[f64], s: f64) -> Option<f64> {
    let n = y.len();
    if n > EXACT_MAX_N || y.iter().any(|v| !v.is_finite()) {
        return None;
    }
    let mut sorted = y.to_vec();
    sorted.sort_by(f64::total_cmp);
    if sorted.windows(2).any(|w| w[0] == w[1]) {
        return None;
    }
    let pairs = n * n.saturating_sub(1) / 2;
    // S ≥ s  ⇔  inversions ≤ (N − s)/2.
    let max_inversions = ((pairs as f64 - s) / 2.0).floor();
    if max_inversions < 0.0 {
        return Some(0.0);
    }
    let max_inversions = (max_inversions as usize).min(pairs);
    Some(inversion_cdf(n)[max_inversions].min(1.0))
}

/// P(inversions ≤ k) for a random permutation of n, computed once for
/// every n up to [`EXACT_MAX_N`] (36k numbers).
fn inversion_cdf(n: usize) -> &'static [f64] {
    static CDFS: std::sync::OnceLock<Vec<Vec<f64>>> = std::sync::OnceLock::new();
    &CDFS.get_or_init(|| {
        (0..=EXACT_MAX_N)
            .map(|n| {
                let mut acc = 0.0;
                inversion_distribution(n)
                    .into_iter()
                    .map(|p| {
                        acc += p;
                        acc
                    })
                    .collect()
            })
            .collect()
    })[n]
}

/// Probability of each number of inversions in a random permutation of n:
/// adding the m-th element adds 0..m−1 inversions, equally likely.
fn inversion_distribution(n: usize) -> Vec<f64> {
    let pairs = n * n.saturating_sub(1) / 2;
    let mut dist = vec![0.0; pairs + 1];
    dist[0] = 1.0;
    let mut top = 0; // the largest count reachable so far
    for m in 2..=n {
        // new[k] = (dist[k] + dist[k−1] + … + dist[k−m+1]) / m, by a running sum.
        let new_top = top + m - 1;
        let mut next = vec![0.0; pairs + 1];
        let mut window = 0.0;
        for k in 0..=new_top {
            if k <= top {
                window += dist[k];
            }
            if k >= m && k - m <= top {
                window -= dist[k - m];
            }
            next[k] = window / m as f64;
        }
        dist = next;
        top = new_top;
    }
    dist
}

fn sign(d: f64) -> f64 {
    if d > 0.0 {
        1.0
    } else if d < 0.0 {
        -1.0
    } else {
        0.0
    }
}

/// Theil–Sen line with Sen's confidence interval for the slope.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, JsonSchema)]
pub struct TheilSen {
    /// Median of pairwise slopes.
    pub slope: f64,
    /// Median of y − slope·x.
    pub intercept: f64,
    /// Lower and upper bound of the (1 − alpha) interval of the slope.
    pub ci: [f64; 2],
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Value at a 1-based fractional rank, interpolating between neighbours.
fn at_rank(sorted: &[f64], rank: f64) -> f64 {
    let r = rank.clamp(1.0, sorted.len() as f64) - 1.0;
    let lo = r.floor() as usize;
    let hi = r.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (r - lo as f64)
}

/// Theil–Sen slope of y over x. Pairs with equal x are skipped. The
/// interval follows Sen (1968) / Gilbert (1987, §16.5): with N pairwise
/// slopes sorted and C = z(1−α/2)·√Var(S), the bounds are the slopes of
/// rank (N − C)/2 and (N + C)/2 + 1. `None` when no pair has distinct x.
pub fn theil_sen(x: &[f64], y: &[f64], alpha: f64) -> Option<TheilSen> {
    assert_eq!(x.len(), y.len(), "x and y differ in length");
    let n = x.len();
    let mut slopes = Vec::with_capacity(n * n.saturating_sub(1) / 2);
    for i in 0..n {
        for j in i + 1..n {
            if x[j] != x[i] {
                slopes.push((y[j] - y[i]) / (x[j] - x[i]));
            }
        }
    }
    if slopes.is_empty() {
        return None;
    }
    let slope = median(&mut slopes); // also sorts
    let mut residuals: Vec<f64> = x.iter().zip(y).map(|(x, y)| y - slope * x).collect();
    let intercept = median(&mut residuals);
    let big_n = slopes.len() as f64;
    let c = normal_quantile(1.0 - alpha / 2.0) * mk_variance(y).sqrt();
    let lower = at_rank(&slopes, (big_n - c) / 2.0);
    let upper = at_rank(&slopes, (big_n + c) / 2.0 + 1.0);
    Some(TheilSen {
        slope,
        intercept,
        ci: [lower, upper],
    })
}

/// Last minus first; 0 for an empty slice.
pub fn total_growth(y: &[f64]) -> f64 {
    match (y.first(), y.last()) {
        (Some(a), Some(b)) => b - a,
        _ => 0.0,
    }
}

/// Strictly increasing from each sample to the next (LeakCanary's "grew
/// on every heap dump" signal). False for fewer than 2 values.
pub fn grew_every_sample(y: &[f64]) -> bool {
    y.len() >= 2 && y.windows(2).all(|w| w[1] > w[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) {
        assert!((a - b).abs() <= tol, "{a} vs {b}");
    }

    // Reference values worked from the textbook formulas (Gilbert 1987,
    // ch. 16; Hipel & McLeod 1994) and Φ evaluated with Python's
    // `0.5 * math.erfc(-z / math.sqrt(2))` (no scipy on this machine).

    #[test]
    fn strictly_increasing_five() {
        // n=5: S=10, Var=5·4·15/18=16.6667, Z=(10−1)/4.08248=2.20454.
        // Exact (no ties): one of the 120 orders has S = 10, so p_one =
        // 1/120 (the normal approximation says 1−Φ(2.20454) = 0.013743).
        let mk = mann_kendall(&[1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(mk.s, 10.0);
        close(mk.var_s, 16.666_667, 1e-5);
        close(mk.z, 2.204_541, 1e-5);
        close(mk.p_increasing, 1.0 / 120.0, 1e-12);
        close(mk.p_two_sided, 2.0 / 120.0, 1e-12);
    }

    #[test]
    fn exact_tails_match_counted_permutations() {
        // (n, s, permutations with S ≥ s, n!), counted by enumerating every
        // permutation (Python itertools, by hand-checkable for n ≤ 5).
        for (n, s, count, all) in [
            (4, 6.0, 1.0, 24.0),
            (5, 8.0, 5.0, 120.0),
            (6, 13.0, 6.0, 720.0),
            (7, 15.0, 76.0, 5040.0),
            (8, 20.0, 285.0, 40320.0),
            (8, 14.0, 2191.0, 40320.0),
        ] {
            let y: Vec<f64> = (0..n).map(f64::from).collect();
            close(exact_upper_tail(&y, s).unwrap(), count / all, 1e-12);
        }
        let y: Vec<f64> = (0..10).map(f64::from).collect();
        assert_eq!(exact_upper_tail(&y, -45.0), Some(1.0));
        assert_eq!(exact_upper_tail(&y, 46.0), Some(0.0));
        assert_eq!(exact_upper_tail(&[1.0, 1.0, 2.0], 1.0), None, "ties");
        assert_eq!(exact_upper_tail(&[1.0, f64::NAN], 1.0), None);
        // Large n: close to the normal approximation.
        let y: Vec<f64> = (0..40).map(|i| ((i * 17) % 40) as f64).collect();
        let mk = mann_kendall(&y);
        let normal = 1.0 - normal_cdf(mk.z);
        close(mk.p_increasing, normal, 0.01);
    }

    #[test]
    fn ties_reduce_the_variance() {
        // y = [1,2,2,3,3,3,4], n=7.
        // S: from 1: +6; from each 2: one tie, four rises → +4, +4; from
        // each 3: ties with the other 3s, one rise to 4 → +1 ×3. S = 17.
        // Var no ties = 7·6·19/18 = 44.3333; tie groups t=2: 2·1·9=18,
        // t=3: 3·2·11=66 → Var = (798 − 18 − 66)/18 = 39.6667.
        // Z = 16/√39.6667 = 2.540429; p_one = 0.005536; p_two = 0.011072.
        let mk = mann_kendall(&[1.0, 2.0, 2.0, 3.0, 3.0, 3.0, 4.0]);
        assert_eq!(mk.s, 17.0);
        close(mk.var_s, 39.666_667, 1e-5);
        close(mk.z, 2.540_429, 1e-5);
        close(mk.p_increasing, 0.005_536, 1e-5);
        close(mk.p_two_sided, 0.011_072, 1e-5);
    }

    #[test]
    fn mixed_series_with_a_decrease() {
        // y = [5,3,4,4,6,2,7,8], n=8.
        // S: i=0(5): 3−,4−,4−,6+,2−,7+,8+ → −1; i=1(3): +,+,+,−,+,+ → 4;
        // i=2(4): 0,+,−,+,+ → 2; i=3(4): +,−,+,+ → 2; i=4(6): −,+,+ → 1;
        // i=5(2): +,+ → 2; i=6(7): + → 1. S = 11.
        // Var = (8·7·21 − 2·1·9)/18 = (1176−18)/18 = 64.3333.
        // Z = 10/8.020806 = 1.246757; p_one = 0.106243; p_two = 0.212486.
        let mk = mann_kendall(&[5.0, 3.0, 4.0, 4.0, 6.0, 2.0, 7.0, 8.0]);
        assert_eq!(mk.s, 11.0);
        close(mk.var_s, 64.333_333, 1e-5);
        close(mk.z, 1.246_757, 1e-5);
        close(mk.p_increasing, 0.106_243, 1e-5);
        close(mk.p_two_sided, 0.212_486, 1e-5);
    }

    #[test]
    fn decreasing_and_flat() {
        let mk = mann_kendall(&[4.0, 3.0, 2.0, 1.0]);
        // S=−6, Var=4·3·13/18=8.6667, Z=−5/2.943920=−1.698416.
        close(mk.z, -1.698_416, 1e-5);
        assert!(mk.p_increasing > 0.95);
        let flat = mann_kendall(&[7.0; 6]);
        assert_eq!((flat.s, flat.var_s, flat.p_increasing), (0.0, 0.0, 1.0));
        assert_eq!(mann_kendall(&[1.0]).p_two_sided, 1.0);
    }

    #[test]
    fn normal_helpers() {
        close(normal_cdf(0.0), 0.5, 1e-12);
        close(normal_cdf(1.959_964), 0.975, 1e-6);
        close(normal_quantile(0.975), 1.959_964, 1e-5);
    }

    #[test]
    fn theil_sen_resists_an_outlier() {
        let x: Vec<f64> = (0..7).map(f64::from).collect();
        let mut y: Vec<f64> = x.iter().map(|x| 2.0 * x + 1.0).collect();
        y[3] = 100.0;
        let ts = theil_sen(&x, &y, 0.05).unwrap();
        assert_eq!(ts.slope, 2.0);
        assert_eq!(ts.intercept, 1.0);
        assert!(ts.ci[0] <= 2.0 && ts.ci[1] >= 2.0, "{:?}", ts.ci);
    }

    #[test]
    fn sen_interval_by_hand() {
        // x=0..4, y=[0,1,3,2,4]: the 10 pairwise slopes sorted are
        // [-1, 0.5, 0.5, 0.6667, 1, 1, 1, 1.5, 2, 2]; median = 1.
        // Var(S) = 5·4·15/18 = 16.6667, C = 1.959964·4.082483 = 8.001519
        // (alpha .05); ranks (10−8.0015)/2 = 0.9992 → clamped to 1 → −1,
        // (10+8.0015)/2+1 = 10.0008 → clamped to 10 → 2.
        let x = [0.0, 1.0, 2.0, 3.0, 4.0];
        let y = [0.0, 1.0, 3.0, 2.0, 4.0];
        let ts = theil_sen(&x, &y, 0.05).unwrap();
        assert_eq!(ts.slope, 1.0);
        assert_eq!(ts.ci, [-1.0, 2.0]);
        // alpha .5: z = 0.674490, C = 2.753593; lower rank 3.623204 lies
        // between ranks 3 (0.5) and 4 (0.6667): 0.5 + 0.623204·0.1667 =
        // 0.603867; upper rank 7.376796 between ranks 7 (1) and 8 (1.5):
        // 1 + 0.376796·0.5 = 1.188398.
        let ts = theil_sen(&x, &y, 0.5).unwrap();
        close(ts.ci[0], 0.603_867, 1e-5);
        close(ts.ci[1], 1.188_398, 1e-5);
    }

    #[test]
    fn growth_helpers() {
        assert_eq!(total_growth(&[3.0, 1.0, 7.0]), 4.0);
        assert_eq!(total_growth(&[]), 0.0);
        assert!(grew_every_sample(&[1.0, 2.0, 3.0]));
        assert!(!grew_every_sample(&[1.0, 2.0, 2.0]));
        assert!(!grew_every_sample(&[1.0]));
        assert!(theil_sen(&[1.0, 1.0], &[0.0, 5.0], 0.05).is_none());
    }
}
