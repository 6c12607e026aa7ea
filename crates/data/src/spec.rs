//! `--dataset` specifications: `fashion-mnist[:DIR]`, `mnist:DIR`, `cifar10:DIR`, `cifar100:DIR`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{DataError, Splits, load_cifar10, load_cifar100, load_mnist_dir, shipped_fashion_mnist};

/// Where Debian's `dataset-fashion-mnist` package puts the full set.
pub const FASHION_MNIST_DEBIAN_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// Which dataset, and where its files are. In TOML: `[dataset] kind = "cifar10", dir = "…"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum DatasetSpec {
    /// Fashion-MNIST from `dir`; without it the Debian path, else the shipped subset.
    FashionMnist {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        dir: Option<PathBuf>,
    },
    /// Always the shipped subset (4,000 / 1,000 images): the same data on every machine.
    FashionMnistSubset,
    /// MNIST from `dir` (IDX files).
    Mnist { dir: PathBuf },
    /// CIFAR-10 binary from `dir`.
    Cifar10 { dir: PathBuf },
    /// CIFAR-100 binary from `dir`.
    Cifar100 { dir: PathBuf },
}

impl Default for DatasetSpec {
    fn default() -> Self {
        DatasetSpec::FashionMnist { dir: None }
    }
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
            "fashion-mnist" => DatasetSpec::FashionMnist { dir },
            "fashion-mnist-subset" => DatasetSpec::FashionMnistSubset,
            "mnist" => DatasetSpec::Mnist { dir: need(dir)? },
            "cifar10" => DatasetSpec::Cifar10 { dir: need(dir)? },
            "cifar100" => DatasetSpec::Cifar100 { dir: need(dir)? },
            other => {
                return Err(format!(
                    "unknown dataset {other:?}: expected fashion-mnist[:DIR], fashion-mnist-subset, mnist:DIR, \
                     cifar10:DIR or cifar100:DIR"
                ));
            }
        })
    }
}

impl DatasetSpec {
    /// Load the train and test parts, with a one-line description of what was loaded.
    pub fn load(&self) -> Result<(Splits, String), DataError> {
        let shipped = || (shipped_fashion_mnist(), "the shipped Fashion-MNIST subset".to_string());
        Ok(match self {
            DatasetSpec::FashionMnist { dir: Some(d) } => {
                (load_mnist_dir(d)?, format!("Fashion-MNIST from {}", d.display()))
            }
            DatasetSpec::FashionMnist { dir: None } => {
                let debian = Path::new(FASHION_MNIST_DEBIAN_DIR);
                if debian.join("train-images-idx3-ubyte.gz").exists() {
                    (load_mnist_dir(debian)?, format!("Fashion-MNIST from {FASHION_MNIST_DEBIAN_DIR}"))
                } else {
                    shipped()
                }
            }
            DatasetSpec::FashionMnistSubset => shipped(),
            DatasetSpec::Mnist { dir } => (load_mnist_dir(dir)?, format!("MNIST from {}", dir.display())),
            DatasetSpec::Cifar10 { dir } => (load_cifar10(dir)?, format!("CIFAR-10 from {}", dir.display())),
            DatasetSpec::Cifar100 { dir } => (load_cifar100(dir)?, format!("CIFAR-100 from {}", dir.display())),
        })
    }

    /// The names of the classes, by label, where the dataset has standard ones.
    pub fn class_names(&self) -> Option<Vec<String>> {
        let names: &[&str] = match self {
            DatasetSpec::FashionMnist { .. } | DatasetSpec::FashionMnistSubset => &[
                "T-shirt/top",
                "Trouser",
                "Pullover",
                "Dress",
                "Coat",
                "Sandal",
                "Shirt",
                "Sneaker",
                "Bag",
                "Ankle boot",
            ],
            DatasetSpec::Cifar10 { .. } => {
                &["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
            }
            DatasetSpec::Mnist { .. } | DatasetSpec::Cifar100 { .. } => return None,
        };
        Some(names.iter().map(|s| s.to_string()).collect())
    }

    /// Whether this is a CIFAR set (augmented by default).
    pub fn is_cifar(&self) -> bool {
        matches!(self, DatasetSpec::Cifar10 { .. } | DatasetSpec::Cifar100 { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        assert_eq!("fashion-mnist".parse::<DatasetSpec>().unwrap(), DatasetSpec::FashionMnist { dir: None });
        assert_eq!("cifar10:/d".parse::<DatasetSpec>().unwrap(), DatasetSpec::Cifar10 { dir: "/d".into() });
        assert_eq!("fashion-mnist-subset".parse::<DatasetSpec>().unwrap(), DatasetSpec::FashionMnistSubset);
        assert!("mnist".parse::<DatasetSpec>().unwrap_err().contains("mnist:DIR"));
        assert!("imagenet:/x".parse::<DatasetSpec>().unwrap_err().contains("unknown dataset"));
        let e = DatasetSpec::Mnist { dir: "/no/where".into() }.load().unwrap_err().to_string();
        assert!(e.contains("/no/where"), "{e}");
    }
}
