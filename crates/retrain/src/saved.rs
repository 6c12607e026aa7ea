//! [`SavedRun`]: the final run's training state in a file beside the model bundle, written after
//! every epoch (to a temporary name, then renamed), so `nas train` killed in its final run
//! continues from its last epoch when started again with the same settings and output folder —
//! exactly, since the state holds weights, optimiser moments and the data generators' positions.
//!
//! The file starts with a key naming what was being trained (architecture, settings, seed,
//! data); a file whose key differs is not used (the run starts over and says why).

use std::path::{Path, PathBuf};

use nas_trainer::Progress;

const MAGIC: &[u8; 8] = b"NASRUN1\n";

/// A final run's state file, for one key.
pub struct SavedRun {
    path: PathBuf,
    key: String,
    /// Why a file present was not used, if one was not.
    pub refused: Option<String>,
}

impl SavedRun {
    pub fn new(path: &Path, key: String) -> Self {
        SavedRun { path: path.to_path_buf(), key, refused: None }
    }

    /// The epochs the file holds for this key (0 without a usable file).
    pub fn epochs(&self) -> u64 {
        self.read().map_or(0, |(epochs, _)| epochs)
    }

    /// Remove the file (the run finished).
    pub fn clear(&self) -> std::io::Result<()> {
        match std::fs::remove_file(&self.path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    fn read(&self) -> Result<(u64, Vec<u8>), String> {
        let bytes = std::fs::read(&self.path).map_err(|e| e.to_string())?;
        let rest = bytes.strip_prefix(MAGIC.as_slice()).ok_or("not a saved run")?;
        let word = |b: &[u8]| -> Option<u64> { Some(u64::from_le_bytes(b.get(..8)?.try_into().ok()?)) };
        let key_len = word(rest).ok_or("truncated")? as usize;
        let key = rest.get(8..8 + key_len).ok_or("truncated")?;
        if key != self.key.as_bytes() {
            return Err("it was written for other settings, architecture or data".into());
        }
        let rest = &rest[8 + key_len..];
        let epochs = word(rest).ok_or("truncated")?;
        Ok((epochs, rest[8..].to_vec()))
    }
}

impl Progress for SavedRun {
    fn load(&mut self) -> Option<(u64, Vec<u8>)> {
        match self.read() {
            Ok(state) => Some(state),
            Err(why) => {
                if self.path.exists() {
                    self.refused = Some(format!("{} not used: {why}", self.path.display()));
                }
                None
            }
        }
    }

    fn due(&mut self, _epochs: u64) -> bool {
        true
    }

    fn save(&mut self, epochs: u64, state: Vec<u8>) {
        let mut bytes = Vec::with_capacity(MAGIC.len() + 24 + self.key.len() + state.len());
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&(self.key.len() as u64).to_le_bytes());
        bytes.extend_from_slice(self.key.as_bytes());
        bytes.extend_from_slice(&epochs.to_le_bytes());
        bytes.extend_from_slice(&state);
        // Losing a save costs the epochs since the previous one, not the run.
        if let Err(e) = nas_trainer::write_atomically(&self.path, "tmp", &bytes) {
            tracing::warn!("cannot save the final run's state to {}: {e}", self.path.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_loads_only_for_its_key_and_a_damaged_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("final-run.state");
        let mut run = SavedRun::new(&path, "key A".into());
        assert_eq!((run.load(), run.refused.clone()), (None, None), "no file: nothing, no complaint");
        run.save(3, vec![1, 2, 3]);
        assert_eq!(run.load(), Some((3, vec![1, 2, 3])));
        assert_eq!(run.epochs(), 3);
        let mut other = SavedRun::new(&path, "key B".into());
        assert_eq!(other.load(), None);
        assert!(other.refused.as_deref().unwrap().contains("other settings"), "{:?}", other.refused);
        std::fs::write(&path, b"NASRUN1\n\x05").unwrap();
        assert_eq!(run.load(), None);
        assert!(run.refused.as_deref().unwrap().contains("truncated"));
        run.clear().unwrap();
        assert!(!path.exists());
        run.clear().unwrap();
    }
}
