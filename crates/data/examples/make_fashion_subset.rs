//! Make the shipped Fashion-MNIST subset: a class-balanced, seeded selection of 4,000 training
//! and 1,000 test images, written as gzipped IDX files.
//!
//!   cargo run -p nas-data --example make_fashion_subset -- /usr/share/datasets/fashion-mnist crates/data/assets/fashion-mnist-subset

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (src, dst) = match &args[..] {
        [_, s, d] => (PathBuf::from(s), PathBuf::from(d)),
        _ => return Err("usage: make_fashion_subset SOURCE_DIR DEST_DIR".into()),
    };
    let full = nas_data::load_mnist_dir(&src)?;
    std::fs::create_dir_all(&dst)?;
    for (prefix, set, n) in [("train", &full.train, 4000), ("t10k", &full.test, 1000)] {
        let sub = set.subset(n, 2017)?;
        nas_data::write_idx(
            &dst.join(format!("{prefix}-images-idx3-ubyte.gz")),
            &[n, sub.height, sub.width],
            &sub.pixels,
        )?;
        nas_data::write_idx(&dst.join(format!("{prefix}-labels-idx1-ubyte.gz")), &[n], &sub.labels)?;
    }
    println!("wrote {}", dst.display());
    Ok(())
}
