//! CIFAR-10 and CIFAR-100 in their binary format: records of 1 label byte (CIFAR-100: coarse and
//! fine label bytes) followed by 3,072 bytes (1,024 red, 1,024 green, 1,024 blue; 32 × 32).

use std::path::Path;

use crate::idx::read_maybe_gz;
use crate::{DataError, ImageSet, Splits};

const PIXELS: usize = 3 * 32 * 32;

fn read_records(path: &Path, label_bytes: usize, classes: usize) -> Result<ImageSet, DataError> {
    let bytes = read_maybe_gz(path)?;
    let rec = label_bytes + PIXELS;
    if bytes.is_empty() || bytes.len() % rec != 0 {
        return Err(DataError::format(
            path,
            format!("wrong size: {} bytes is not a whole number of {rec}-byte records (truncated?)", bytes.len()),
        ));
    }
    let n = bytes.len() / rec;
    let mut pixels = Vec::with_capacity(n * PIXELS);
    let mut labels = Vec::with_capacity(n);
    for r in bytes.chunks_exact(rec) {
        // CIFAR-100 stores (coarse, fine); the fine label is the class.
        labels.push(r[label_bytes - 1]);
        pixels.extend_from_slice(&r[label_bytes..]);
    }
    let set = ImageSet { channels: 3, height: 32, width: 32, classes, pixels, labels };
    if let Some(&bad) = set.labels.iter().find(|&&l| l as usize >= classes) {
        return Err(DataError::format(path, format!("label {bad} out of range for {classes} classes (wrong format?)")));
    }
    Ok(set)
}

fn concat(parts: Vec<ImageSet>) -> ImageSet {
    let mut it = parts.into_iter();
    let mut first = it.next().expect("at least one part");
    for p in it {
        first.pixels.extend(p.pixels);
        first.labels.extend(p.labels);
    }
    first
}

/// CIFAR-10 from a directory with `data_batch_1.bin` … `data_batch_5.bin` and `test_batch.bin`.
pub fn load_cifar10(dir: &Path) -> Result<Splits, DataError> {
    let train = (1..=5)
        .map(|i| read_records(&dir.join(format!("data_batch_{i}.bin")), 1, 10))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Splits { train: concat(train), test: read_records(&dir.join("test_batch.bin"), 1, 10)? })
}

/// CIFAR-100 from a directory with `train.bin` and `test.bin` (fine labels, 100 classes).
pub fn load_cifar100(dir: &Path) -> Result<Splits, DataError> {
    Ok(Splits {
        train: read_records(&dir.join("train.bin"), 2, 100)?,
        test: read_records(&dir.join("test.bin"), 2, 100)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(n: usize, label_bytes: usize, label: impl Fn(usize) -> u8) -> Vec<u8> {
        let mut out = Vec::new();
        for i in 0..n {
            out.extend(std::iter::repeat_n(7, label_bytes - 1));
            out.push(label(i));
            out.extend((0..PIXELS).map(|p| ((p + i) % 256) as u8));
        }
        out
    }

    #[test]
    fn cifar10_reads_and_checks() {
        let d = tempfile::tempdir().unwrap();
        for i in 1..=5 {
            std::fs::write(d.path().join(format!("data_batch_{i}.bin")), records(3, 1, |k| k as u8)).unwrap();
        }
        std::fs::write(d.path().join("test_batch.bin"), records(2, 1, |_| 9)).unwrap();
        let s = load_cifar10(d.path()).unwrap();
        assert_eq!((s.train.len(), s.test.len(), s.train.channels), (15, 2, 3));
        assert_eq!(s.test.labels, vec![9, 9]);
        assert_eq!(s.train.image(1)[0], 1);

        std::fs::write(d.path().join("data_batch_3.bin"), &records(3, 1, |_| 0)[..5000]).unwrap();
        let e = load_cifar10(d.path()).unwrap_err().to_string();
        assert!(e.contains("data_batch_3.bin") && e.contains("3073-byte records"), "{e}");
        std::fs::remove_file(d.path().join("data_batch_3.bin")).unwrap();
        let e = load_cifar10(d.path()).unwrap_err().to_string();
        assert!(e.contains("data_batch_3.bin") && e.contains("no such file"), "{e}");
    }

    #[test]
    fn cifar100_uses_fine_labels() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("train.bin"), records(4, 2, |i| 90 + i as u8)).unwrap();
        std::fs::write(d.path().join("test.bin"), records(1, 2, |_| 5)).unwrap();
        let s = load_cifar100(d.path()).unwrap();
        assert_eq!(s.train.labels, vec![90, 91, 92, 93]);
        assert_eq!(s.train.classes, 100);
        // A CIFAR-10 file read as CIFAR-100 has the wrong record size.
        std::fs::write(d.path().join("test.bin"), records(1, 1, |_| 5)).unwrap();
        assert!(load_cifar100(d.path()).unwrap_err().to_string().contains("3074-byte records"));
    }
}
