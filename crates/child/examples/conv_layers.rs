//! Time the convolution kernels alone on the benchmark children's larger layers, at batch 64 on
//! the current rayon pool: forward, input gradient and weight gradient, in ms and GFLOP/s.
//!
//! `RAYON_NUM_THREADS=1 cargo run --release -p nas-child --example conv_layers [batch]`

use std::time::Instant;

use nas_child::kernels::conv::{self, Geometry};

fn main() {
    // (name, in channels, size, out channels, kernel, stride, padding)
    let layers = [
        ("stride4 L0", 1, 28, 48, 3, 2, 1),
        ("stride4 L1", 48, 14, 64, 5, 1, 2),
        ("stride4 L2", 112, 14, 64, 3, 1, 1),
        ("stride4 L3", 64, 7, 64, 3, 1, 1),
        ("chain3 L1", 36, 28, 48, 3, 1, 1),
        ("chain3 L2", 48, 28, 64, 3, 1, 1),
        ("skip6 L3", 84, 28, 24, 7, 1, 3),
        ("skip6 L4", 72, 28, 64, 3, 1, 1),
    ];
    let batch: usize = match std::env::args().nth(1).map(|s| s.parse()) {
        None => 64,
        Some(Ok(b)) => b,
        Some(Err(e)) => {
            eprintln!("batch: {e}");
            std::process::exit(2);
        }
    };
    println!("batch {batch}, {} thread(s)", rayon::current_num_threads());
    for (name, c, hw, o, k, s, p) in layers {
        let g = Geometry {
            batch,
            in_channels: c,
            in_size: (hw, hw),
            out_channels: o,
            kernel: (k, k),
            stride: (s, s),
            padding: (p, p, p, p),
        };
        let (oh, ow) = g.out_size();
        let x: Vec<f32> = (0..batch * c * hw * hw).map(|i| (i % 7) as f32 * 0.1).collect();
        let w: Vec<f32> = (0..o * c * k * k).map(|i| (i % 5) as f32 * 0.1).collect();
        let dy: Vec<f32> = (0..batch * o * oh * ow).map(|i| (i % 3) as f32 * 0.1).collect();
        let flops = 2.0 * (batch * o * c * k * k * oh * ow) as f64;
        let time = |f: &dyn Fn() -> Vec<f32>| {
            std::hint::black_box(f());
            let t = Instant::now();
            for _ in 0..5 {
                std::hint::black_box(f());
            }
            t.elapsed().as_secs_f64() / 5.0
        };
        let rates = [
            time(&|| conv::forward(&x, &w, &g)),
            time(&|| conv::backward_input(&w, &dy, &g)),
            time(&|| conv::backward_weight(&x, &dy, &g)),
        ]
        .map(|t| format!("{:6.1} ms {:4.0} GFLOP/s", t * 1e3, flops / t / 1e9));
        println!("{name:<11} forward {} | input grad {} | weight grad {}", rates[0], rates[1], rates[2]);
    }
}
