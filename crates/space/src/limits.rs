//! Caps on what a configuration or an architecture may ask for, and the range checks every
//! `validate` uses, so a bad value fails with one line naming its key before anything is
//! allocated. The caps are far above what a 2026 machine trains (the paper's largest child has
//! 20 layers of at most 64 filters); they exist so that a typo cannot ask for terabytes.

/// Most layers in a CNN architecture (and `depth.max`).
pub const MAX_LAYERS: usize = 512;
/// Most filters in one layer (also `child.extra_filters` and `cnn.filters` entries).
pub const MAX_FILTERS: u32 = 16_384;
/// Largest filter height or width.
pub const MAX_KERNEL: u32 = 63;
/// Largest stride.
pub const MAX_STRIDE: u32 = 16;
/// Most epochs of any training run (`train.epochs`, `retrain.epochs`, `lm_train.epochs`).
pub const MAX_EPOCHS: usize = 10_000;
/// Largest minibatch.
pub const MAX_BATCH: usize = 65_536;

/// `value` must lie in `min..=max`.
pub fn count<T: PartialOrd + std::fmt::Display>(key: &str, value: T, min: T, max: T) -> Result<(), String> {
    if value < min || value > max {
        return Err(format!("{key} = {value}: must be between {min} and {max}"));
    }
    Ok(())
}

/// `value` must be finite and in `(0, max]`.
pub fn positive(key: &str, value: f64, max: f64) -> Result<(), String> {
    if !(value.is_finite() && value > 0.0 && value <= max) {
        return Err(format!("{key} = {value}: must be a number above 0 and at most {max}"));
    }
    Ok(())
}

/// `value` must be finite and in `[0, max]`.
pub fn non_negative(key: &str, value: f64, max: f64) -> Result<(), String> {
    if !(value.is_finite() && (0.0..=max).contains(&value)) {
        return Err(format!("{key} = {value}: must be a number from 0 to {max}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_name_the_key_and_the_range() {
        assert!(count("train.epochs", 5usize, 1, 10).is_ok());
        let e = count("train.epochs", 0usize, 1, 10).unwrap_err();
        assert_eq!(e, "train.epochs = 0: must be between 1 and 10");
        assert!(positive("lr", 0.1, 10.0).is_ok());
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, 11.0] {
            assert!(positive("lr", bad, 10.0).unwrap_err().starts_with("lr = "), "{bad}");
        }
        assert!(non_negative("wd", 0.0, 1.0).is_ok());
        assert!(non_negative("wd", -1e-9, 1.0).is_err());
        assert!(non_negative("wd", f64::NAN, 1.0).is_err());
    }
}
