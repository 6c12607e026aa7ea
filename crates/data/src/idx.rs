//! IDX files (MNIST, Fashion-MNIST), gzipped or not, and the shipped Fashion-MNIST subset.
//!
//! Format: a big-endian magic `0x0000_08NN` (`08` = unsigned bytes, `NN` = number of
//! dimensions), one big-endian `u32` per dimension, then the bytes. Images are `[n, h, w]`,
//! labels `[n]`.

use std::io::Read;
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;

use crate::{DataError, ImageSet, Splits};

/// Largest decompressed file read (a gzip bomb stops here instead of filling memory); the
/// full CIFAR-100 training batch is 150 MiB.
pub const MAX_DECODED_BYTES: u64 = 4 << 30;

/// Read a file, gunzipping it when it starts with the gzip magic.
pub(crate) fn read_maybe_gz(path: &Path) -> Result<Vec<u8>, DataError> {
    let raw = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    decode_maybe_gz(path, raw)
}

fn decode_maybe_gz(path: &Path, raw: Vec<u8>) -> Result<Vec<u8>, DataError> {
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        GzDecoder::new(&raw[..])
            .take(MAX_DECODED_BYTES + 1)
            .read_to_end(&mut out)
            .map_err(|e| DataError::format(path, format!("corrupt gzip data ({e})")))?;
        if out.len() as u64 > MAX_DECODED_BYTES {
            return Err(DataError::format(path, format!("decompresses to more than {MAX_DECODED_BYTES} bytes")));
        }
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// The `(count, height, width)` an IDX image file's header promises, read without decoding
/// the rest (to reject a file before allocating for it).
pub fn read_idx_image_header(path: &Path) -> Result<(usize, usize, usize), DataError> {
    let file = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
    let mut head = Vec::with_capacity(16);
    let mut raw = std::io::BufReader::new(file);
    let mut magic = [0u8; 2];
    let n = raw.read(&mut magic).map_err(|e| DataError::io(path, e))?;
    let rest = std::io::Cursor::new(magic[..n].to_vec()).chain(raw);
    let reader: Box<dyn Read> =
        if magic[..n] == [0x1f, 0x8b] { Box::new(GzDecoder::new(rest)) } else { Box::new(rest) };
    reader.take(16).read_to_end(&mut head).map_err(|e| DataError::format(path, format!("unreadable header ({e})")))?;
    let shape = parse_header(path, &head, 3)?;
    Ok((shape[0], shape[1], shape[2]))
}

/// The shape an IDX header of `dims` dimensions declares.
fn parse_header(path: &Path, bytes: &[u8], dims: usize) -> Result<Vec<usize>, DataError> {
    if bytes.len() < 4 {
        return Err(DataError::format(path, format!("truncated: {} bytes, not even an IDX header", bytes.len())));
    }
    let magic = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    let expected = 0x0800 | dims as u32;
    if magic != expected {
        return Err(DataError::format(
            path,
            format!(
                "wrong magic number 0x{magic:08x}, expected 0x{expected:08x} (IDX, unsigned bytes, {dims} dimensions)"
            ),
        ));
    }
    if bytes.len() < 4 + 4 * dims {
        return Err(DataError::format(path, "truncated header".to_string()));
    }
    Ok((0..dims).map(|d| u32::from_be_bytes(bytes[4 + 4 * d..8 + 4 * d].try_into().unwrap()) as usize).collect())
}

fn parse_idx(path: &Path, bytes: &[u8], dims: usize) -> Result<(Vec<usize>, usize), DataError> {
    let shape = parse_header(path, bytes, dims)?;
    let header = 4 + 4 * dims;
    let want = shape.iter().try_fold(1usize, |p, &d| p.checked_mul(d));
    let have = bytes.len() - header;
    if want != Some(have) {
        let want = want.map_or("more than can be addressed".to_string(), |w| w.to_string());
        return Err(DataError::format(
            path,
            format!(
                "wrong size: the header promises {shape:?} = {want} bytes of data, the file has {have}{}",
                if want.parse().is_ok_and(|w: usize| have < w) { " (truncated?)" } else { "" }
            ),
        ));
    }
    Ok((shape, header))
}

/// Read an IDX image file: `(count, height, width, pixels)`.
pub fn read_idx_images(path: &Path) -> Result<(usize, usize, usize, Vec<u8>), DataError> {
    let bytes = read_maybe_gz(path)?;
    images_from_bytes(path, bytes)
}

fn images_from_bytes(path: &Path, mut bytes: Vec<u8>) -> Result<(usize, usize, usize, Vec<u8>), DataError> {
    let (shape, header) = parse_idx(path, &bytes, 3)?;
    if shape[1] == 0 || shape[2] == 0 {
        return Err(DataError::format(path, format!("images are {}×{}: no pixels", shape[1], shape[2])));
    }
    bytes.drain(..header);
    Ok((shape[0], shape[1], shape[2], bytes))
}

/// Read an IDX label file.
pub fn read_idx_labels(path: &Path) -> Result<Vec<u8>, DataError> {
    let bytes = read_maybe_gz(path)?;
    labels_from_bytes(path, bytes)
}

fn labels_from_bytes(path: &Path, mut bytes: Vec<u8>) -> Result<Vec<u8>, DataError> {
    let (_, header) = parse_idx(path, &bytes, 1)?;
    bytes.drain(..header);
    Ok(bytes)
}

/// `dir/name` or `dir/name.gz`, whichever exists.
fn find(dir: &Path, name: &str) -> Result<PathBuf, DataError> {
    let plain = dir.join(name);
    let gz = dir.join(format!("{name}.gz"));
    if gz.exists() {
        Ok(gz)
    } else if plain.exists() {
        Ok(plain)
    } else {
        Err(DataError::Io { path: plain.display().to_string(), reason: "no such file (nor .gz)".into() })
    }
}

fn assemble(
    part: &str,
    images: (usize, usize, usize, Vec<u8>),
    labels: Vec<u8>,
    labels_path: &Path,
) -> Result<ImageSet, DataError> {
    let (n, h, w, pixels) = images;
    if labels.len() != n {
        return Err(DataError::format(labels_path, format!("{} labels for {n} {part} images", labels.len())));
    }
    let set = ImageSet { channels: 1, height: h, width: w, classes: 10, pixels, labels };
    set.check(&labels_path.display().to_string())?;
    Ok(set)
}

/// Load MNIST or Fashion-MNIST from a directory holding the four standard file names
/// (`train-images-idx3-ubyte`, `train-labels-idx1-ubyte`, `t10k-…`), each optionally `.gz`.
pub fn load_mnist_dir(dir: &Path) -> Result<Splits, DataError> {
    if !dir.is_dir() {
        return Err(DataError::Io { path: dir.display().to_string(), reason: "no such directory".into() });
    }
    let mut parts = Vec::new();
    for (part, prefix) in [("training", "train"), ("test", "t10k")] {
        let ip = find(dir, &format!("{prefix}-images-idx3-ubyte"))?;
        let lp = find(dir, &format!("{prefix}-labels-idx1-ubyte"))?;
        parts.push(assemble(part, read_idx_images(&ip)?, read_idx_labels(&lp)?, &lp)?);
    }
    let test = parts.pop().unwrap();
    let train = parts.pop().unwrap();
    if (train.height, train.width) != (test.height, test.width) {
        return Err(DataError::Invalid(format!("{}: training and test images differ in size", dir.display())));
    }
    Ok(Splits { train, test })
}

const SHIPPED: [(&str, &[u8]); 4] = [
    ("train-images-idx3-ubyte.gz", include_bytes!("../assets/fashion-mnist-subset/train-images-idx3-ubyte.gz")),
    ("train-labels-idx1-ubyte.gz", include_bytes!("../assets/fashion-mnist-subset/train-labels-idx1-ubyte.gz")),
    ("t10k-images-idx3-ubyte.gz", include_bytes!("../assets/fashion-mnist-subset/t10k-images-idx3-ubyte.gz")),
    ("t10k-labels-idx1-ubyte.gz", include_bytes!("../assets/fashion-mnist-subset/t10k-labels-idx1-ubyte.gz")),
];

/// The class-balanced Fashion-MNIST subset compiled into the crate (4,000 training and 1,000
/// test images; MIT licence, Zalando SE — see `assets/fashion-mnist-subset/README.md`).
pub fn shipped_fashion_mnist() -> Splits {
    let get = |i: usize| {
        let p = Path::new(SHIPPED[i].0);
        decode_maybe_gz(p, SHIPPED[i].1.to_vec()).expect("the shipped subset is valid")
    };
    let p = Path::new("shipped");
    let train = assemble("training", images_from_bytes(p, get(0)).unwrap(), labels_from_bytes(p, get(1)).unwrap(), p);
    let test = assemble("test", images_from_bytes(p, get(2)).unwrap(), labels_from_bytes(p, get(3)).unwrap(), p);
    Splits { train: train.expect("valid"), test: test.expect("valid") }
}

/// Write an IDX file (gzipped when `path` ends in `.gz`); used to make subsets.
pub fn write_idx(path: &Path, shape: &[usize], data: &[u8]) -> std::io::Result<()> {
    let mut out = (0x0800u32 | shape.len() as u32).to_be_bytes().to_vec();
    for &d in shape {
        out.extend_from_slice(&(d as u32).to_be_bytes());
    }
    out.extend_from_slice(data);
    if path.extension().is_some_and(|e| e == "gz") {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(&out)?;
        out = enc.finish()?;
    }
    std::fs::write(path, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_sized_images_empty_sets_and_lying_headers_are_errors_not_panics() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("zero-idx3-ubyte");
        write_idx(&p, &[5, 0, 0], &[]).unwrap();
        let e = read_idx_images(&p).unwrap_err().to_string();
        assert!(e.contains("zero-idx3-ubyte") && e.contains("0×0"), "{e}");
        // A header promising 2^32 × 2^32 × 2^32 bytes: no overflow.
        let mut lie = 0x0803u32.to_be_bytes().to_vec();
        for _ in 0..3 {
            lie.extend(u32::MAX.to_be_bytes());
        }
        let q = dir.path().join("lie-idx3-ubyte");
        std::fs::write(&q, &lie).unwrap();
        assert!(read_idx_images(&q).unwrap_err().to_string().contains("wrong size"));
        assert_eq!(read_idx_image_header(&q).unwrap(), (u32::MAX as usize, u32::MAX as usize, u32::MAX as usize));
        let gz = dir.path().join("imgs-idx3-ubyte.gz");
        write_idx(&gz, &[2, 3, 4], &[0; 24]).unwrap();
        assert_eq!(read_idx_image_header(&gz).unwrap(), (2, 3, 4));
        // An empty training set.
        let d = dir.path().join("empty");
        std::fs::create_dir(&d).unwrap();
        write_set(&d, 0, false);
        let e = load_mnist_dir(&d).unwrap_err().to_string();
        assert!(e.contains("no images"), "{e}");
    }

    fn write_set(dir: &Path, n: usize, gz: bool) {
        let ext = if gz { ".gz" } else { "" };
        for prefix in ["train", "t10k"] {
            let pixels: Vec<u8> = (0..n * 28 * 28).map(|i| (i % 251) as u8).collect();
            write_idx(&dir.join(format!("{prefix}-images-idx3-ubyte{ext}")), &[n, 28, 28], &pixels).unwrap();
            let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
            write_idx(&dir.join(format!("{prefix}-labels-idx1-ubyte{ext}")), &[n], &labels).unwrap();
        }
    }

    #[test]
    fn reads_plain_and_gzipped() {
        for gz in [false, true] {
            let d = tempfile::tempdir().unwrap();
            write_set(d.path(), 20, gz);
            let s = load_mnist_dir(d.path()).unwrap();
            assert_eq!((s.train.len(), s.test.len(), s.train.height, s.train.width), (20, 20, 28, 28));
            assert_eq!(s.train.labels[13], 3);
            assert_eq!(s.train.image(1)[0], (784 % 251) as u8);
        }
    }

    fn error_for(setup: impl Fn(&Path)) -> String {
        let d = tempfile::tempdir().unwrap();
        write_set(d.path(), 20, false);
        setup(d.path());
        load_mnist_dir(d.path()).unwrap_err().to_string()
    }

    #[test]
    fn each_error_names_the_file_and_the_problem() {
        let e = error_for(|d| std::fs::remove_file(d.join("t10k-labels-idx1-ubyte")).unwrap());
        assert!(e.contains("t10k-labels-idx1-ubyte") && e.contains("no such file"), "{e}");
        let e = error_for(|d| {
            let p = d.join("train-images-idx3-ubyte");
            let b = std::fs::read(&p).unwrap();
            std::fs::write(&p, &b[..b.len() - 100]).unwrap();
        });
        assert!(e.contains("train-images-idx3-ubyte") && e.contains("truncated"), "{e}");
        let e = error_for(|d| {
            let p = d.join("train-images-idx3-ubyte");
            let mut b = std::fs::read(&p).unwrap();
            b[3] = 0x01;
            std::fs::write(&p, b).unwrap();
        });
        assert!(e.contains("wrong magic number 0x00000801"), "{e}");
        let e = error_for(|d| std::fs::write(d.join("train-labels-idx1-ubyte"), [0u8, 0, 8]).unwrap());
        assert!(e.contains("train-labels-idx1-ubyte") && e.contains("truncated"), "{e}");
        let e = error_for(|d| write_idx(&d.join("train-labels-idx1-ubyte"), &[19], &[0; 19]).unwrap());
        assert!(e.contains("19 labels for 20 training images"), "{e}");
        let e = error_for(|d| write_idx(&d.join("train-labels-idx1-ubyte"), &[20], &[12; 20]).unwrap());
        assert!(e.contains("label 12"), "{e}");
        let e = error_for(|d| {
            std::fs::write(d.join("t10k-images-idx3-ubyte.gz"), b"\x1f\x8bnot really gzip").unwrap();
        });
        assert!(e.contains("t10k-images-idx3-ubyte.gz") && e.contains("corrupt gzip"), "{e}");
        let e = load_mnist_dir(Path::new("/nonexistent/dir")).unwrap_err().to_string();
        assert!(e.contains("/nonexistent/dir"), "{e}");
    }

    #[test]
    fn the_shipped_subset_is_balanced_fashion_mnist() {
        let s = shipped_fashion_mnist();
        assert_eq!((s.train.len(), s.test.len()), (4000, 1000));
        assert_eq!(s.train.class_counts(), vec![400; 10]);
        assert_eq!(s.test.class_counts(), vec![100; 10]);
        let n = s.train.normalization();
        // Fashion-MNIST's mean pixel is ≈ 0.286, its std ≈ 0.353.
        assert!((n.mean[0] - 0.286).abs() < 0.02 && (n.std[0] - 0.353).abs() < 0.02, "{n:?}");
    }
}
