//! `--dataset` specifications: `fashion-mnist[:DIR]`, `mnist:DIR`, `cifar10:DIR`, `cifar100:DIR`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{DataError, Splits, load_cifar10, load_cifar100, load_mnist_dir, shipped_fashion_mnist};

/// Where Debian's `dataset-fashion-mnist` package puts the full set.
pub const FASHION_MNIST_DEBIAN_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// Which dataset, and where its files are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "dir", rename_all = "kebab-case")]
pub enum DatasetSpec {
    /// Fashion-MNIST from DIR; without DIR the Debian path, else the shipped subset.
    FashionMnist(Option<PathBuf>),
    /// MNIST from DIR (IDX files).
    Mnist(PathBuf),
    /// CIFAR-10 binary from DIR.
    Cifar10(PathBuf),
    /// CIFAR-100 binary from DIR.
    Cifar100(PathBuf),
}

impl std::str::FromStr for DatasetSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (name, dir) = match s.split_once(':') {
            Some((n, d)) if !d.is_empty() => (n, Some(PathBuf::from(d))),
            Some((n, _)) => (n, None),
            None => (s, None),
        };
        let need = |dir: Option<PathBuf>| dir.ok_or_else(|| format!("--dataset {name} needs a directory: {name}:DIR"));
        Ok(match name {
            "fashion-mnist" => DatasetSpec::FashionMnist(dir),
            "mnist" => DatasetSpec::Mnist(need(dir)?),
            "cifar10" => DatasetSpec::Cifar10(need(dir)?),
            "cifar100" => DatasetSpec::Cifar100(need(dir)?),
            other => {
                return Err(format!(
                    "unknown dataset {other:?}: expected fashion-mnist[:DIR], mnist:DIR, cifar10:DIR or cifar100:DIR"
                ));
            }
        })
    }
}

impl DatasetSpec {
    /// Load the train and test parts, with a one-line description of what was loaded.
    pub fn load(&self) -> Result<(Splits, String), DataError> {
        Ok(match self {
            DatasetSpec::FashionMnist(Some(d)) => (load_mnist_dir(d)?, format!("Fashion-MNIST from {}", d.display())),
            DatasetSpec::FashionMnist(None) => {
                let debian = Path::new(FASHION_MNIST_DEBIAN_DIR);
                if debian.join("train-images-idx3-ubyte.gz").exists() {
                    (load_mnist_dir(debian)?, format!("Fashion-MNIST from {FASHION_MNIST_DEBIAN_DIR}"))
                } else {
                    (shipped_fashion_mnist(), "the shipped Fashion-MNIST subset (4,000 train / 1,000 test)".into())
                }
            }
            DatasetSpec::Mnist(d) => (load_mnist_dir(d)?, format!("MNIST from {}", d.display())),
            DatasetSpec::Cifar10(d) => (load_cifar10(d)?, format!("CIFAR-10 from {}", d.display())),
            DatasetSpec::Cifar100(d) => (load_cifar100(d)?, format!("CIFAR-100 from {}", d.display())),
        })
    }

    /// Whether this is a CIFAR set (augmented by default).
    pub fn is_cifar(&self) -> bool {
        matches!(self, DatasetSpec::Cifar10(_) | DatasetSpec::Cifar100(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        assert_eq!("fashion-mnist".parse::<DatasetSpec>().unwrap(), DatasetSpec::FashionMnist(None));
        assert_eq!("cifar10:/d".parse::<DatasetSpec>().unwrap(), DatasetSpec::Cifar10("/d".into()));
        assert!("mnist".parse::<DatasetSpec>().unwrap_err().contains("mnist:DIR"));
        assert!("imagenet:/x".parse::<DatasetSpec>().unwrap_err().contains("unknown dataset"));
        let e = DatasetSpec::Mnist("/no/where".into()).load().unwrap_err().to_string();
        assert!(e.contains("/no/where"), "{e}");
    }
}
