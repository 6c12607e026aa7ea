//! A final run stopped after an epoch continues from the state saved beside the model and ends
//! exactly where the uninterrupted run does; a state written for other settings is not used.

use std::panic::{AssertUnwindSafe, catch_unwind};

use burn::prelude::Device;
use nas_child::ChildConfig;
use nas_data::{Augment, ImageSet, Splits};
use nas_retrain::{Phase, RetrainConfig, RetrainInputs, Retrained, retrain};
use nas_space::CnnArch;
use nas_trainer::TrainConfig;

/// Logits of the trained network on the test images, and its test accuracy.
fn outcome(r: &Retrained, splits: &Splits) -> (Vec<f32>, f64) {
    let x = r.data.batch(&splits.test, &(0..40).collect::<Vec<_>>(), None, &Device::flex().autodiff()).0;
    (r.trained.model.forward(x).into_data().try_to_vec::<f32>().unwrap(), r.test_accuracy)
}

#[test]
fn a_killed_final_run_resumes_exactly() {
    let splits = Splits { train: ImageSet::quadrants(320, 0), test: ImageSet::quadrants(120, 17) };
    let train = TrainConfig { batch_size: 32, validation: 80, ..Default::default() };
    let child = ChildConfig::default();
    let one = RetrainConfig { learning_rate: vec![0.05], weight_decay: vec![1e-4], epochs: 4, ..Default::default() };
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("final-run.state");
    let inputs = |retrain, saved| RetrainInputs {
        splits: &splits,
        dataset: "quadrants".into(),
        augment: Augment::default(),
        train: &train,
        child: &child,
        retrain,
        seed: 5,
        saved,
    };
    let arch: CnnArch = "3x3-8;5x3s2x1-8<0".parse().unwrap();
    let device = Device::flex().autodiff();
    let straight = retrain(&arch, &inputs(&one, None), &device, |_, _| ()).unwrap();

    // Killed at the end of epoch 3, before its save: the file holds 2 epochs.
    let killed = catch_unwind(AssertUnwindSafe(|| {
        retrain(&arch, &inputs(&one, Some(&state)), &device, |phase, m| {
            if let (Phase::Final, Some(m)) = (phase, m)
                && m.epoch == 2
            {
                panic!("killed");
            }
        })
    }));
    assert!(killed.is_err());
    assert!(state.exists(), "the state after epoch 2 is on disk");

    let mut resumed_at = None;
    let resumed = retrain(&arch, &inputs(&one, Some(&state)), &device, |phase, _| {
        if let Phase::Resume { epochs } = phase {
            resumed_at = Some(epochs);
        }
    })
    .unwrap();
    assert_eq!(resumed_at, Some(2));
    assert_eq!(outcome(&resumed, &splits), outcome(&straight, &splits), "resumed = uninterrupted, bit for bit");
    assert_eq!(resumed.trained.outcome.epochs.len(), 4, "the curve keeps the epochs before the kill");
    assert!(!state.exists(), "a finished run removes its state");

    // A state written for other settings (5 epochs here) is refused, with the reason.
    let five = RetrainConfig { epochs: 5, ..one.clone() };
    let _ = catch_unwind(AssertUnwindSafe(|| {
        retrain(&arch, &inputs(&five, Some(&state)), &device, |phase, m| {
            if let (Phase::Final, Some(m)) = (phase, m)
                && m.epoch == 1
            {
                panic!("killed");
            }
        })
    }));
    let fresh = retrain(&arch, &inputs(&one, Some(&state)), &device, |phase, _| {
        assert!(!matches!(phase, Phase::Resume { .. }), "another run's state must not be used");
    })
    .unwrap();
    assert!(fresh.saved_refused.as_deref().is_some_and(|r| r.contains("other settings")), "{:?}", fresh.saved_refused);
    assert_eq!(outcome(&fresh, &splits), outcome(&straight, &splits));
}
