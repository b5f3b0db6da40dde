//! Deterministic weighted choice among request specs.
//!
//! Smooth weighted round-robin (the nginx upstream algorithm): every pick adds
//! each weight to its running score, takes the highest score and subtracts the
//! total from it. Weights 3:1 give `a a b a` forever, so a test can predict the
//! exact mix and a short run is not skewed by luck the way random choice is.

/// Smooth weighted round-robin state. Ties go to the earliest spec.
#[derive(Debug, Clone)]
pub(crate) struct Mix {
    weights: Vec<i64>,
    current: Vec<i64>,
    total: i64,
}

impl Mix {
    /// `weights` must contain at least one non-zero weight (checked by the caller).
    pub(crate) fn new(weights: &[u32]) -> Mix {
        let weights: Vec<i64> = weights.iter().map(|&w| i64::from(w)).collect();
        let total = weights.iter().sum();
        Mix {
            current: vec![0; weights.len()],
            weights,
            total,
        }
    }

    /// Index of the next spec to send.
    pub(crate) fn next_index(&mut self) -> usize {
        let mut best = 0;
        for i in 0..self.current.len() {
            self.current[i] += self.weights[i];
            if self.current[i] > self.current[best] {
                best = i;
            }
        }
        self.current[best] -= self.total;
        best
    }
}

#[cfg(test)]
mod tests {
    use super::Mix;

    #[test]
    fn three_to_one_is_exact_every_four_picks() {
        let mut mix = Mix::new(&[3, 1]);
        let picks: Vec<usize> = (0..8).map(|_| mix.next_index()).collect();
        assert_eq!(picks, [0, 0, 1, 0, 0, 0, 1, 0]);
    }

    #[test]
    fn zero_weight_is_never_picked() {
        let mut mix = Mix::new(&[0, 2, 1]);
        let picks: Vec<usize> = (0..300).map(|_| mix.next_index()).collect();
        assert!(!picks.contains(&0));
        assert_eq!(picks.iter().filter(|&&i| i == 1).count(), 200);
    }
}
