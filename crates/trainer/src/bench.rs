//! Throughput measurements for `nas bench child`: training steps per second of a fixed child and
//! the sgemm rate of the same backend, measured in the same run.

use std::time::Instant;

use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::GradientsParams;
use burn::prelude::*;
use nas_child::kernels::Kernels;
use nas_child::{ChildConfig, ChildNet, InputShape, Plan, PlanError};
use nas_space::CnnArch;

/// One measurement.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepRate {
    pub images_per_second: f64,
    /// Forward FLOPs per image × 3 (forward + backward) × images per second.
    pub gflops: f64,
}

/// Time `steps` SGD training steps of `arch` on random images of `input` at `batch` on `path`
/// (its backend, autodiff added here, and kernels), after two warm-up steps, on the
/// current rayon pool's threads.
pub fn training_rate(
    arch: &CnnArch,
    input: InputShape,
    batch: usize,
    steps: usize,
    path: &CpuPath,
) -> Result<StepRate, PlanError> {
    let device = path.device.clone().autodiff();
    device.seed(0);
    let child = ChildConfig { kernels: path.kernels, ..ChildConfig::default() };
    let plan = Plan::new(arch, input, &child)?;
    plan.check_memory(batch, &child)?;
    let flops = plan.flops as f64;
    let mut optim = crate::train::optimizer(&crate::TrainConfig::default());
    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    let x = Tensor::<4>::random(
        [batch, input.channels, input.height, input.width],
        burn::tensor::Distribution::Normal(0.0, 1.0),
        &device,
    );
    let labels: Vec<i64> = (0..batch).map(|i| (i % input.classes) as i64).collect();
    let y = Tensor::<1, Int>::from_data(TensorData::new(labels, [batch]), &device);
    let model = ChildNet::new(plan, &child, &device);
    let secs = time_steps(model, &mut optim, 0.01, steps, |m| loss_fn.forward(m.forward(x.clone()), y.clone()));
    let ips = (steps * batch) as f64 / secs;
    Ok(StepRate { images_per_second: ips, gflops: 3.0 * flops * ips / 1e9 })
}

/// Seconds taken by `steps` SGD steps (rate `lr`) of `model` on the loss `loss` computes, after
/// two warm-up steps. The loss is read back every step, as a training loop does.
pub(crate) fn time_steps<M: burn::module::Module>(
    mut model: M,
    optim: &mut burn::optim::ModuleOptimizer,
    lr: f64,
    steps: usize,
    loss: impl Fn(&M) -> Tensor<1>,
) -> f64 {
    let mut started = Instant::now();
    for s in 0..steps + 2 {
        if s == 2 {
            started = Instant::now();
        }
        let l = loss(&model);
        let _: f32 = l.clone().into_scalar();
        let grads = GradientsParams::from_grads(l.backward(), &model);
        model = optim.step(lr, model, grads);
    }
    started.elapsed().as_secs_f64()
}

/// GFLOP/s of an `n × n × n` f32 matrix product on burn's `flex` backend (best of `reps`), on the
/// current rayon pool's threads.
pub fn sgemm_gflops(n: usize, reps: usize) -> f64 {
    let device = Device::flex();
    let a = Tensor::<2>::random([n, n], burn::tensor::Distribution::Default, &device);
    let b = Tensor::<2>::random([n, n], burn::tensor::Distribution::Default, &device);
    let _: f32 = a.clone().matmul(b.clone()).sum().into_scalar();
    let mut best = f64::MAX;
    for _ in 0..reps {
        let t = Instant::now();
        let _: f32 = a.clone().matmul(b.clone()).sum().into_scalar();
        best = best.min(t.elapsed().as_secs_f64());
    }
    2.0 * (n as f64).powi(3) / best / 1e9
}

/// One way of training a child on the CPU that `nas bench child` times.
#[derive(Debug, Clone)]
pub struct CpuPath {
    /// Name in the report.
    pub name: &'static str,
    pub device: Device,
    pub kernels: Kernels,
}

/// The CPU paths built into this binary: burn's pure-Rust `flex` with our kernels (the default),
/// `flex` with burn's own convolutions and batch norm (what the default replaced), and libtorch
/// (`tch`) with the `tch` feature.
pub fn cpu_backends() -> Vec<CpuPath> {
    #[allow(unused_mut)]
    let mut all = vec![
        CpuPath { name: "flex", device: Device::flex(), kernels: Kernels::Fast },
        CpuPath { name: "flex/burn-ops", device: Device::flex(), kernels: Kernels::Burn },
    ];
    // burn 0.22 marks its libtorch backend deprecated (to be removed in a later release); it is
    // kept here, behind the feature, for users who already have libtorch.
    #[cfg(feature = "tch")]
    #[allow(deprecated)]
    all.push(CpuPath { name: "tch", device: Device::libtorch(), kernels: Kernels::Burn });
    all
}

/// Run `f` on a rayon pool of `threads` threads (burn's `flex` and our convolutions use the
/// current pool).
pub fn with_threads<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    match rayon::ThreadPoolBuilder::new().num_threads(threads.max(1)).build() {
        Ok(pool) => pool.install(f),
        Err(_) => f(),
    }
}
