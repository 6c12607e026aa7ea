//! [`EpochState`]: a child's training state between two epochs — weights, optimiser moments,
//! the position of its data-order and augmentation generators, and the curve so far — as bytes
//! a [`nas_evaluator::Progress`] keeps. [`crate::fit`] restored from it continues exactly as the
//! uninterrupted run would have (tested), so a worker that dies costs at most the epochs since
//! the last save.

use serde::{Deserialize, Serialize};

use crate::EpochMetrics;

const MAGIC: &[u8; 4] = b"NASC";

/// Everything but the tensors, as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Header {
    epochs: Vec<EpochMetrics>,
    images: usize,
    train_seconds: f64,
    /// ChaCha word positions (u128, as decimal text).
    order_position: String,
    augment_position: String,
    /// The run's length as last re-planned (`TrainConfig::fill_seconds`); absent when fixed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    planned_epochs: Option<usize>,
}

/// A child's training state after `epochs.len()` epochs.
#[derive(Debug, Clone, PartialEq)]
pub struct EpochState {
    pub epochs: Vec<EpochMetrics>,
    pub images: usize,
    pub train_seconds: f64,
    pub order_position: u128,
    pub augment_position: u128,
    /// The run's length as last re-planned under `TrainConfig::fill_seconds` (None: the
    /// configured epochs).
    pub planned_epochs: Option<usize>,
    /// The network's weights (a burnpack buffer).
    pub model: Vec<u8>,
    /// The optimiser's state (a burnpack buffer).
    pub optimizer: Vec<u8>,
}

impl EpochState {
    pub fn encode(&self) -> Vec<u8> {
        let header = serde_json::to_vec(&Header {
            epochs: self.epochs.clone(),
            images: self.images,
            train_seconds: self.train_seconds,
            order_position: self.order_position.to_string(),
            augment_position: self.augment_position.to_string(),
            planned_epochs: self.planned_epochs,
        })
        .expect("headers serialise");
        pack(MAGIC, &header, &self.model, &self.optimizer)
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        let (header, model, optimizer) =
            unpack(MAGIC, bytes).map_err(|e| format!("not a child training state: {e}"))?;
        let header: Header = serde_json::from_slice(header).map_err(|e| format!("header: {e}"))?;
        let pos = |s: &str| s.parse::<u128>().map_err(|e| format!("generator position {s:?}: {e}"));
        Ok(EpochState {
            order_position: pos(&header.order_position)?,
            augment_position: pos(&header.augment_position)?,
            epochs: header.epochs,
            images: header.images,
            train_seconds: header.train_seconds,
            planned_epochs: header.planned_epochs,
            model: model.to_vec(),
            optimizer: optimizer.to_vec(),
        })
    }
}

/// `magic`, then the JSON `header`, the weights and the optimiser state (the first two
/// preceded by their length).
pub(crate) fn pack(magic: &[u8; 4], header: &[u8], model: &[u8], optimizer: &[u8]) -> Vec<u8> {
    let mut out = magic.to_vec();
    for part in [header, model] {
        out.extend((part.len() as u64).to_le_bytes());
        out.extend(part);
    }
    out.extend(optimizer);
    out
}

/// The parts [`pack`] wrote: (header, weights, optimiser state).
pub(crate) type Packed<'a> = (&'a [u8], &'a [u8], &'a [u8]);

/// The (header, weights, optimiser state) [`pack`] wrote after `magic`.
pub(crate) fn unpack<'a>(magic: &[u8; 4], bytes: &'a [u8]) -> Result<Packed<'a>, String> {
    let rest = bytes.strip_prefix(magic).ok_or("wrong magic bytes")?;
    let (header, rest) = take_sized(rest).ok_or("truncated header")?;
    let (model, optimizer) = take_sized(rest).ok_or("truncated weights")?;
    Ok((header, model, optimizer))
}

/// Split a little-endian u64 length and that many bytes off the front.
fn take_sized(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let n = u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?) as usize;
    let rest = &bytes[8..];
    (rest.len() >= n).then(|| rest.split_at(n))
}

/// Write `bytes` to `path` through a temporary file beside it, renamed over it (creating the
/// folder), so a crash leaves either the old state or the new one, never half of one.
pub fn write_atomically(path: &std::path::Path, tmp_extension: &str, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(tmp_extension);
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_corruption() {
        let s = EpochState {
            epochs: vec![EpochMetrics {
                epoch: 0,
                train_loss: 1.5,
                val_accuracy: Some(0.5),
                learning_rate: 0.1,
                seconds: 2.0,
            }],
            images: 640,
            train_seconds: 1.9,
            order_position: u128::MAX - 3,
            augment_position: 17,
            planned_epochs: None,
            model: vec![1, 2, 3],
            optimizer: vec![4, 5],
        };
        let bytes = s.encode();
        assert_eq!(EpochState::decode(&bytes).unwrap(), s);
        let replanned = EpochState { planned_epochs: Some(57), ..s.clone() };
        assert_eq!(EpochState::decode(&replanned.encode()).unwrap(), replanned);
        assert!(EpochState::decode(&bytes[..20]).is_err());
        assert!(EpochState::decode(b"junk").is_err());
    }
}
