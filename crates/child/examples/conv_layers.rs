//! Time the convolution kernels alone, layer by layer, at batch 64 on the current rayon pool:
//! forward, input gradient and weight gradient, in ms and GFLOP/s. Without an architecture, the
//! benchmark children's larger layers; with one (a CNN string, 28×28×1 input as on
//! Fashion-MNIST), every layer of that child as the compiler plans it, and the share of the
//! three passes' time each layer takes.
//!
//! `RAYON_NUM_THREADS=1 cargo run --release -p nas-child --example conv_layers [batch] [arch]`

use std::time::Instant;

use nas_child::kernels::conv::{self, Geometry};
use nas_child::{ChildConfig, InputShape, Plan};
use nas_space::CnnArch;

/// (name, in channels, size, out channels, kernel, stride, padding) of the benchmark children.
const BENCH_LAYERS: [(&str, usize, usize, usize, usize, usize, usize); 8] = [
    ("stride4 L0", 1, 28, 48, 3, 2, 1),
    ("stride4 L1", 48, 14, 64, 5, 1, 2),
    ("stride4 L2", 112, 14, 64, 3, 1, 1),
    ("stride4 L3", 64, 7, 64, 3, 1, 1),
    ("chain3 L1", 36, 28, 48, 3, 1, 1),
    ("chain3 L2", 48, 28, 64, 3, 1, 1),
    ("skip6 L3", 84, 28, 24, 7, 1, 3),
    ("skip6 L4", 72, 28, 64, 3, 1, 1),
];

fn main() {
    let mut args = std::env::args().skip(1);
    let batch: usize = match args.next().map(|s| s.parse()) {
        None => 64,
        Some(Ok(b)) => b,
        Some(Err(e)) => fail(&format!("batch: {e}")),
    };
    let layers: Vec<(String, Geometry)> = match args.next() {
        None => BENCH_LAYERS
            .iter()
            .map(|&(name, c, hw, o, k, s, p)| {
                let g = Geometry {
                    batch,
                    in_channels: c,
                    in_size: (hw, hw),
                    out_channels: o,
                    kernel: (k, k),
                    stride: (s, s),
                    padding: (p, p, p, p),
                };
                (name.to_string(), g)
            })
            .collect(),
        Some(s) => child_layers(&s, batch),
    };
    println!("batch {batch}, {} thread(s)", rayon::current_num_threads());
    let mut rows = Vec::new();
    for (name, g) in &layers {
        let (oh, ow) = g.out_size();
        let (c, (h, w), o, (kh, kw)) = (g.in_channels, g.in_size, g.out_channels, g.kernel);
        let x: Vec<f32> = (0..batch * c * h * w).map(|i| (i % 7) as f32 * 0.1).collect();
        let wt: Vec<f32> = (0..o * c * kh * kw).map(|i| (i % 5) as f32 * 0.1).collect();
        let dy: Vec<f32> = (0..batch * o * oh * ow).map(|i| (i % 3) as f32 * 0.1).collect();
        let flops = 2.0 * (batch * o * c * kh * kw * oh * ow) as f64;
        let time = |f: &dyn Fn() -> Vec<f32>| {
            std::hint::black_box(f());
            let t = Instant::now();
            for _ in 0..5 {
                std::hint::black_box(f());
            }
            t.elapsed().as_secs_f64() / 5.0
        };
        let times = [
            time(&|| conv::forward(&x, &wt, g)),
            time(&|| conv::backward_input(&wt, &dy, g)),
            time(&|| conv::backward_weight(&x, &dy, g)),
        ];
        rows.push((name.clone(), times, flops));
    }
    let total: f64 = rows.iter().flat_map(|r| r.1).sum();
    for (name, times, flops) in rows {
        let rates = times.map(|t| format!("{:6.2} ms {:4.0} GFLOP/s", t * 1e3, flops / t / 1e9));
        let share = 100.0 * times.iter().sum::<f64>() / total;
        println!(
            "{name:<11} forward {} | input grad {} | weight grad {} | {share:4.1} %",
            rates[0], rates[1], rates[2]
        );
    }
    println!("all layers: {:.2} ms per batch of {batch}", total * 1e3);
}

/// Every convolution of the child `arch` on 28×28×1 images, as [`Plan`] compiles it.
fn child_layers(arch: &str, batch: usize) -> Vec<(String, Geometry)> {
    let arch: CnnArch = arch.parse().unwrap_or_else(|e| fail(&format!("arch: {e}")));
    let input = InputShape { channels: 1, height: 28, width: 28, classes: 10 };
    let config = ChildConfig::default();
    let plan = Plan::new(&arch, input, &config).unwrap_or_else(|e| fail(&format!("arch: {e}")));
    plan.layers
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let g = Geometry {
                batch,
                in_channels: l.in_channels,
                in_size: l.in_size,
                out_channels: l.out_channels,
                kernel: l.kernel,
                stride: l.stride,
                padding: l.padding,
            };
            let (k, s) = (l.kernel, l.stride);
            (
                format!(
                    "L{i} {}x{}s{}x{} {}→{} {}x{}",
                    k.0, k.1, s.0, s.1, l.in_channels, l.out_channels, l.in_size.0, l.in_size.1
                ),
                g,
            )
        })
        .collect()
}

fn fail(message: &str) -> ! {
    eprintln!("{message}");
    std::process::exit(2);
}
