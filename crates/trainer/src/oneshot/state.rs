//! [`SupernetState`]: the one-shot evaluator's state as a file — shared weights, optimiser
//! moments, the step count and the next child to fold in.

use std::path::Path;

use burn::optim::ModuleOptimizer;
use burn::prelude::Module;
use burn::store::ModuleRecord;
use burn::tensor::Bytes;
use nas_child::SuperNet;
use nas_evaluator::ExperimentTag;
use serde::{Deserialize, Serialize};

use crate::TrainConfig;
use crate::resume::{pack, unpack};

const MAGIC: &[u8; 4] = b"NASS";

/// Everything but the tensors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Header {
    steps: u64,
    next_seq: u64,
}

/// The saved state.
pub(crate) struct SupernetState {
    pub steps: u64,
    pub next_seq: u64,
    model: Vec<u8>,
    optimizer: Vec<u8>,
}

/// The state file of `experiment`: its name (characters other than letters, digits, `-` and
/// `_` replaced) and creation time, which tell apart experiments of one name in different stores.
pub(crate) fn file_name(experiment: &ExperimentTag) -> String {
    let name: String = experiment
        .name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
        .collect();
    format!("{name}-{}.supernet", experiment.created_at as u64)
}

impl SupernetState {
    pub fn capture(net: &SuperNet, optim: &ModuleOptimizer, steps: u64, next_seq: u64) -> Result<Self, String> {
        let model = net.clone().into_record().into_bytes().map_err(|e| e.to_string())?.to_vec();
        let optimizer = optim.into_bytes().map_err(|e| e.to_string())?.to_vec();
        Ok(SupernetState { steps, next_seq, model, optimizer })
    }

    /// `net` and a fresh optimiser for `train` with the saved weights and moments.
    pub fn restore(&self, net: SuperNet, train: &TrainConfig) -> Result<(SuperNet, ModuleOptimizer), String> {
        let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(self.model.clone())).map_err(|e| e.to_string())?;
        let net = net.try_load_record(record).map_err(|e| format!("weights: {e}"))?;
        let optim = crate::train::optimizer(train)
            .from_bytes(Bytes::from_bytes_vec(self.optimizer.clone()))
            .map_err(|e| format!("optimiser: {e}"))?;
        Ok((net, optim))
    }

    /// Write to `path` (a temporary file beside it, renamed over it), creating its folder.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let header = serde_json::to_vec(&Header { steps: self.steps, next_seq: self.next_seq }).expect("serialises");
        crate::write_atomically(path, "supernet.tmp", &pack(MAGIC, &header, &self.model, &self.optimizer))
    }

    /// The state at `path`; None when there is no file.
    pub fn read(path: &Path) -> Result<Option<Self>, String> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.to_string()),
        };
        let (header, model, optimizer) = unpack(MAGIC, &bytes).map_err(|e| format!("not a supernet state: {e}"))?;
        let h: Header = serde_json::from_slice(header).map_err(|e| format!("header: {e}"))?;
        Ok(Some(SupernetState {
            steps: h.steps,
            next_seq: h.next_seq,
            model: model.to_vec(),
            optimizer: optimizer.to_vec(),
        }))
    }
}
