//! Time the fused batch norm + ReLU kernels alone on the benchmark children's activation shapes
//! (batch 64, current rayon pool): forward and backward, in ms and GB/s of activation read.
//!
//! `RAYON_NUM_THREADS=1 cargo run --release -p nas-child --example bn_relu_rate`

use std::time::Instant;

use nas_child::kernels::bn_relu::{self, Shape};

fn main() {
    println!("{} thread(s)", rayon::current_num_threads());
    for (channels, pixels) in [(36, 784), (64, 784), (64, 196), (64, 49)] {
        let s = Shape { batch: 64, channels, pixels };
        let n = s.batch * channels * pixels;
        let x: Vec<f32> = (0..n).map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0).collect();
        let dy: Vec<f32> = (0..n).map(|i| ((i * 104729) % 1000) as f32 / 500.0 - 1.0).collect();
        let (gamma, beta) = (vec![1.0f32; channels], vec![0.1f32; channels]);
        let time = |f: &dyn Fn()| {
            f();
            let t = Instant::now();
            for _ in 0..10 {
                f();
            }
            t.elapsed().as_secs_f64() / 10.0
        };
        let fw = bn_relu::forward(&x, &gamma, &beta, 1e-5, &s);
        let tf = time(&|| {
            std::hint::black_box(bn_relu::forward(&x, &gamma, &beta, 1e-5, &s));
        });
        let tb = time(&|| {
            std::hint::black_box(bn_relu::backward(&x, &fw.output, &dy, &gamma, &fw.mean, &fw.variance, 1e-5, &s));
        });
        let gb = n as f64 * 4.0 / 1e9;
        println!(
            "[64, {channels}, {pixels}]: forward {:.2} ms ({:.1} GB/s of x), backward {:.2} ms ({:.1} GB/s of x, y, dy)",
            tf * 1e3,
            gb / tf,
            tb * 1e3,
            3.0 * gb / tb
        );
    }
}
