//! The lecture's three generative models, written against the tape and the kernels; none of
//! them touches a bind group. Each trains with one submission per step and reports its
//! figures through a [`Monitor`] that never waits for the GPU.

pub mod gan;
pub mod latent;
pub mod metrics;
pub mod model;
pub mod monitor;
pub mod pixel_rnn;
pub mod random_codes;
pub mod vae;

pub use model::Model;
pub use monitor::{Monitor, Record};

use crate::error::{Error, Result};
use crate::kernels::rng::Stream;

/// What a random stream is for. Each purpose gets its own Philox key derived from the run's
/// seed, so e.g. changing the batch size never changes the initial weights.
#[derive(Clone, Copy, Debug)]
pub enum Purpose {
    Init = 1,
    Batches = 2,
    Noise = 3,
    Evaluation = 4,
    Sampling = 5,
}

/// The stream for `purpose` under `seed` (SplitMix64 of the pair).
pub fn stream(seed: u64, purpose: Purpose) -> Stream {
    let mut z = seed ^ (purpose as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    Stream::new(z ^ (z >> 31))
}

/// Refuses a learning rate that is not a positive finite number.
pub fn check_learning_rate(lr: f32) -> Result<()> {
    if !(lr.is_finite() && lr > 0.0) {
        return Err(Error::Invalid(format!(
            "learning rate {lr} is not a positive number; try 1e-3 (Adam's usual step)"
        )));
    }
    Ok(())
}

/// Refuses a minibatch larger than the training split or empty.
pub fn check_batch(batch: usize, train_count: usize) -> Result<()> {
    if batch == 0 || batch > train_count {
        return Err(Error::Invalid(format!(
            "batch size {batch} does not fit a training split of {train_count} images; \
             use 1..={train_count} (or a larger dataset)"
        )));
    }
    Ok(())
}

/// `log Σ exp(x)` without overflow.
pub fn log_sum_exp(x: &[f64]) -> f64 {
    let top = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !top.is_finite() {
        return top;
    }
    top + x.iter().map(|v| (v - top).exp()).sum::<f64>().ln()
}
