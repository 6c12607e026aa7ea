//! Burn (flex, autodiff) cost of the controller's work per child: 80 LSTM steps (20 CNN layers x 4
//! tokens, anchors left out) with a softmax read back at every step to sample, then backward.
use burn::prelude::*;
use burn::tensor::activation::{sigmoid, log_softmax};
use std::time::Instant;

fn main() {
    let dev = Device::flex().autodiff();
    let h = 35usize;
    let mk = |r: usize, c: usize| Tensor::<2>::random([r, c], burn::tensor::Distribution::Uniform(-0.08, 0.08), &dev).require_grad();
    let w = [mk(2 * h, 4 * h), mk(2 * h, 4 * h)];
    let b = [mk(1, 4 * h), mk(1, 4 * h)];
    let cls = mk(h, 4);
    let emb = mk(4, h);
    let start = mk(1, h);
    let steps = 80;
    let children = 40;
    let mut u = 0.123f32;
    let t0 = Instant::now();
    for _ in 0..children {
        let mut hs = vec![Tensor::<2>::zeros([1, h], &dev), Tensor::<2>::zeros([1, h], &dev)];
        let mut cs = hs.clone();
        let mut x = start.clone();
        let mut logp = Tensor::<2>::zeros([1, 1], &dev);
        for _ in 0..steps {
            let mut inp = x;
            for l in 0..2 {
                let z = Tensor::cat(vec![inp, hs[l].clone()], 1);
                let pre = z.matmul(w[l].clone()) + b[l].clone();
                let i = sigmoid(pre.clone().slice([0..1, 0..h]));
                let f = sigmoid(pre.clone().slice([0..1, h..2 * h]));
                let g = pre.clone().slice([0..1, 2 * h..3 * h]).tanh();
                let o = sigmoid(pre.slice([0..1, 3 * h..4 * h]));
                let c = f * cs[l].clone() + i * g;
                let hn = o * c.clone().tanh();
                cs[l] = c;
                hs[l] = hn.clone();
                inp = hn;
            }
            let lp = log_softmax(inp.matmul(cls.clone()), 1);
            let probs: Vec<f32> = lp.clone().exp().to_data().to_vec().unwrap();
            u = (u * 7.31 + 0.17).fract();
            let mut acc = 0.0; let mut k = 3;
            for (j, p) in probs.iter().enumerate() { acc += p; if u < acc { k = j; break; } }
            logp = logp + lp.slice([0..1, k..k + 1]);
            x = emb.clone().slice([k..k + 1, 0..h]);
        }
        let grads = logp.backward();
        let _g = w[0].grad(&grads).unwrap().to_data();
    }
    let per = t0.elapsed().as_secs_f64() / children as f64 * 1e3;
    println!("burn flex autodiff: {per:.3} ms per child (80 steps sample+backward, no anchors)");
}
