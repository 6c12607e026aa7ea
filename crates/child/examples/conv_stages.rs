use nas_child::kernels::conv::{self, Geometry};
use std::time::Instant;
fn main() {
    let layers = [
        ("s4 L0", 1, 28, 48, 3, 2, 1),
        ("s4 L1", 48, 14, 64, 5, 1, 2),
        ("s4 L2", 112, 14, 64, 3, 1, 1),
        ("s4 L3", 64, 7, 64, 3, 1, 1),
        ("c3 L1", 36, 28, 48, 3, 1, 1),
        ("c3 L2", 48, 28, 64, 3, 1, 1),
    ];
    let batch: usize = std::env::args().nth(1).map(|s| s.parse().unwrap()).unwrap_or(64);
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
        let time = |f: &dyn Fn()| {
            f();
            let n = 5;
            let t = Instant::now();
            for _ in 0..n {
                f();
            }
            t.elapsed().as_secs_f64() / n as f64
        };
        let tf = time(&|| {
            std::hint::black_box(conv::forward(&x, &w, &g));
        });
        let ti = time(&|| {
            std::hint::black_box(conv::backward_input(&w, &dy, &g));
        });
        let tw = time(&|| {
            std::hint::black_box(conv::backward_weight(&x, &dy, &g));
        });
        println!(
            "{name}: fwd {:.1} ms {:.0} GF/s | dx {:.1} ms {:.0} GF/s | dw {:.1} ms {:.0} GF/s",
            tf * 1e3,
            flops / tf / 1e9,
            ti * 1e3,
            flops / ti / 1e9,
            tw * 1e3,
            flops / tw / 1e9
        );
    }
}
