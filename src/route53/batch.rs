//! Packing changes into `ChangeResourceRecordSets` batches within Route 53's limits. Pure.

/// What one change costs against a batch's limits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cost {
    /// `ResourceRecord` elements (an UPSERT counts twice).
    pub values: usize,
    /// Characters in all `Value` elements (an UPSERT counts twice).
    pub chars: usize,
}

impl std::ops::Add for Cost {
    type Output = Cost;
    fn add(self, o: Cost) -> Cost {
        Cost {
            values: self.values + o.values,
            chars: self.chars + o.chars,
        }
    }
}

/// The limits of one batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub max_values: usize,
    pub max_chars: usize,
}

/// Route 53's documented limits per `ChangeResourceRecordSets` request.
pub const ROUTE53_LIMITS: Limits = Limits {
    max_values: 1000,
    max_chars: 32_000,
};

/// A unit of changes that is larger than a whole batch may be.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{what} needs {} values and {} characters, more than one Route 53 batch allows ({} values, {} characters)", cost.values, cost.chars, limits.max_values, limits.max_chars)]
pub struct TooLarge {
    pub what: String,
    pub cost: Cost,
    pub limits: Limits,
}

/// Packs `units` (each a group of changes that must share a batch) into as few batches as the
/// limits allow, keeping their order. Greedy in order is optimal for the number of batches
/// when order must be kept.
pub fn pack<T>(
    units: Vec<Vec<T>>,
    cost: impl Fn(&T) -> Cost,
    describe: impl Fn(&[T]) -> String,
    limits: Limits,
) -> Result<Vec<Vec<T>>, TooLarge> {
    let mut batches: Vec<Vec<T>> = Vec::new();
    let mut current: Vec<T> = Vec::new();
    let mut used = Cost::default();
    for unit in units {
        let c = unit.iter().map(&cost).fold(Cost::default(), |a, b| a + b);
        if c.values > limits.max_values || c.chars > limits.max_chars {
            return Err(TooLarge {
                what: describe(&unit),
                cost: c,
                limits,
            });
        }
        let next = used + c;
        if !current.is_empty() && (next.values > limits.max_values || next.chars > limits.max_chars)
        {
            batches.push(std::mem::take(&mut current));
            used = Cost::default();
        }
        used = used + c;
        current.extend(unit);
    }
    if !current.is_empty() {
        batches.push(current);
    }
    Ok(batches)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn c(values: usize, chars: usize) -> Cost {
        Cost { values, chars }
    }

    #[test]
    fn fills_batches_to_the_limit() {
        let units: Vec<Vec<Cost>> = (0..2500).map(|_| vec![c(1, 10)]).collect();
        let b = pack(units, |x| *x, |_| String::new(), ROUTE53_LIMITS).unwrap();
        assert_eq!(
            b.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![1000, 1000, 500]
        );
    }

    #[test]
    fn chars_limit_splits_too() {
        let units: Vec<Vec<Cost>> = (0..10).map(|_| vec![c(1, 10_000)]).collect();
        let b = pack(units, |x| *x, |_| String::new(), ROUTE53_LIMITS).unwrap();
        assert_eq!(b.iter().map(Vec::len).collect::<Vec<_>>(), vec![3, 3, 3, 1]);
    }

    #[test]
    fn a_unit_larger_than_a_batch_is_an_error() {
        let e = pack(
            vec![vec![c(600, 1), c(600, 1)]],
            |x| *x,
            |_| "www A".into(),
            ROUTE53_LIMITS,
        )
        .unwrap_err();
        assert!(e.to_string().contains("www A needs 1200 values"));
    }

    proptest! {
        /// No batch breaks a limit, units are never split, and order is kept.
        #[test]
        fn batches_respect_limits(units in proptest::collection::vec(
            proptest::collection::vec((1usize..400, 0usize..12_000), 1..3), 0..200)) {
            let tagged: Vec<Vec<(usize, Cost)>> = units.iter().enumerate()
                .map(|(i, u)| u.iter().map(|&(v, ch)| (i, c(v, ch))).collect()).collect();
            let fits = tagged.iter().all(|u| {
                let t = u.iter().fold(Cost::default(), |a, b| a + b.1);
                t.values <= 1000 && t.chars <= 32_000
            });
            match pack(tagged.clone(), |x| x.1, |_| String::new(), ROUTE53_LIMITS) {
                Ok(batches) => {
                    prop_assert!(fits);
                    for b in &batches {
                        let t = b.iter().fold(Cost::default(), |a, x| a + x.1);
                        prop_assert!(t.values <= 1000 && t.chars <= 32_000);
                    }
                    let flat: Vec<usize> = batches.iter().flatten().map(|x| x.0).collect();
                    let want: Vec<usize> = tagged.iter().flatten().map(|x| x.0).collect();
                    prop_assert_eq!(flat, want);
                    // A unit's changes all sit in one batch.
                    for (i, _) in tagged.iter().enumerate() {
                        let holding = batches.iter().filter(|b| b.iter().any(|x| x.0 == i)).count();
                        prop_assert!(holding <= 1);
                    }
                }
                Err(_) => prop_assert!(!fits),
            }
        }
    }
}
