//! Datasets for child training. Images: readers for the standard formats (IDX for MNIST and
//! Fashion-MNIST, gzipped or not; CIFAR-10/100 binary), a seeded validation split held out from
//! the training set, class-balanced subsets for CPU presets, per-channel normalisation statistics
//! and CIFAR-style augmentation. A small Fashion-MNIST subset is compiled into the crate so the
//! default search and the tests need no download.
//!
//! Every reading error names the file and what is wrong with it. This crate needs no tensors.

mod augment;
mod cifar;
mod error;
mod idx;
mod set;
mod spec;
mod text;

pub use augment::{Augment, augment_into};
pub use cifar::{load_cifar10, load_cifar100};
pub use error::DataError;
pub use idx::{
    MAX_DECODED_BYTES, load_mnist_dir, read_idx_image_header, read_idx_images, read_idx_labels, shipped_fashion_mnist,
    write_idx,
};
pub use set::{ImageSet, Normalization, Splits};
pub use spec::{DatasetSpec, FASHION_MNIST_DEBIAN_DIR};
pub use text::{Corpus, EOS, TextLevel, TextSpec, Vocab, shipped_tiny_text};
