//! Retrain → export → load: the loaded model predicts exactly what the trained one did, and
//! broken bundles are refused with the file named.

use burn::prelude::Device;
use nas_child::ChildConfig;
use nas_data::{Augment, ImageSet, Splits};
use nas_retrain::{
    BundleError, Manifest, ModelMetrics, RECORD, RetrainConfig, RetrainInputs, load_bundle, read_manifest, retrain,
    save_bundle,
};
use nas_space::{Architecture, CnnArch};
use nas_trainer::TrainConfig;

/// The manifest `nas train` would write for retrain result `r` of `arch` with `seed`.
fn manifest_of(r: &nas_retrain::Retrained, arch: &CnnArch, seed: u64) -> Manifest {
    let (nas_version, commit) = Manifest::build_info();
    Manifest {
        format: nas_retrain::FORMAT,
        nas_version,
        commit,
        architecture: Architecture::Cnn(arch.clone()),
        input: r.trained.model.plan().input,
        child: r.child.clone(),
        dataset: r.data.description.clone(),
        dataset_spec: None,
        class_names: None,
        normalization: r.data.norm.clone(),
        seed,
        train: r.train.clone(),
        params: r.trained.outcome.params,
        flops: r.trained.outcome.flops,
        metrics: ModelMetrics {
            test_accuracy: r.test_accuracy,
            test_accuracy_mirror: r.test_accuracy_mirror,
            chosen: Some(r.chosen),
            grid: r.grid.clone(),
            epochs: r.trained.outcome.epochs.clone(),
            seconds: 0.0,
        },
        source_trial: None,
    }
}

#[test]
fn retrain_export_load_gives_identical_predictions() {
    let splits = Splits { train: ImageSet::quadrants(320, 0), test: ImageSet::quadrants(120, 17) };
    let train = TrainConfig { epochs: 3, batch_size: 32, validation: 80, ..Default::default() };
    let child = ChildConfig::default();
    // lr 1e6 diverges: the grid must record that and pick a cell that trains.
    let grid = RetrainConfig {
        learning_rate: vec![1e6, 1e-4, 0.1],
        weight_decay: vec![1e-4],
        bn_epsilon: vec![1e-5, 1e-3],
        decay_at: vec![0.5],
        epochs: 3,
        ..Default::default()
    };
    let inputs = RetrainInputs {
        splits: &splits,
        dataset: "quadrants".into(),
        augment: Augment::default(),
        train: &train,
        child: &child,
        retrain: &grid,
        seed: 3,
        saved: None,
    };
    let arch: CnnArch = "3x3-8;3x3-8<0".parse().unwrap();
    let mut phases = 0;
    let r = retrain(&arch, &inputs, &Device::flex().autodiff(), |_, m| phases += m.is_some() as usize).unwrap();
    assert_eq!(r.grid.len(), 6);
    // The two lr-1e6 cells diverge in their first epoch; the others report every epoch.
    assert_eq!(phases, 4 * 3 + 3, "every trained grid epoch and every final epoch reported");
    assert!(r.grid[0].failure.as_deref().unwrap_or("").contains("diverged"), "{:?}", r.grid[0]);
    assert_eq!(r.chosen.learning_rate, 0.1, "{:#?}", r.grid);
    assert!(r.grid[4].val_accuracy > r.grid[2].val_accuracy, "lr 0.1 learns more than lr 1e-4 in 3 epochs");
    let best = r.grid.iter().filter_map(|g| g.val_accuracy).fold(0.0, f64::max);
    let chosen = r.grid.iter().find(|g| g.cell == r.chosen).unwrap();
    assert_eq!(chosen.val_accuracy, Some(best));
    assert_eq!(r.train.epochs, 3);
    assert_eq!(r.data.train.len(), 320, "the final run trains on training + validation images");
    let evaluated: Vec<bool> = r.trained.outcome.epochs.iter().map(|e| e.val_accuracy.is_some()).collect();
    assert_eq!(evaluated, [false, false, true], "the test part is looked at once, after the last epoch");
    assert!(r.test_accuracy > 0.9, "{}", r.test_accuracy);
    assert_eq!(r.test_accuracy_mirror, None, "trained without flips: no flip test-time augmentation");

    let mut manifest = manifest_of(&r, &arch, 3);
    manifest.class_names = Some(vec!["tl".into(), "tr".into(), "bl".into(), "br".into()]);
    let dir = tempfile::tempdir().unwrap();
    let inference = burn::module::Module::valid(&r.trained.model);
    save_bundle(dir.path(), &manifest, &inference).unwrap();
    for f in ["manifest.json", "arch.json", "model.bpk", "model.safetensors"] {
        assert!(dir.path().join(f).metadata().unwrap().len() > 0, "{f}");
    }
    let read = read_manifest(dir.path()).unwrap();
    assert_eq!(
        (&read.architecture, &read.normalization, read.params, read.metrics.test_accuracy, &read.commit),
        (
            &manifest.architecture,
            &manifest.normalization,
            manifest.params,
            manifest.metrics.test_accuracy,
            &manifest.commit
        )
    );

    let device = Device::flex();
    let model = load_bundle(dir.path(), &device).unwrap();
    let before = nas_retrain::Model { manifest: manifest.clone(), net: inference, device: device.clone() };
    let (a, b) = (before.classify(&splits.test), model.classify(&splits.test));
    assert_eq!(a, b, "loaded weights predict exactly what the trained network did");
    assert!((model.accuracy(&splits.test) - r.test_accuracy).abs() < 1e-12);
    assert_eq!(model.class_name(b[0].class), ["tl", "tr", "bl", "br"][b[0].class]);
    assert!(!model.trained_with_flips());

    // Broken bundles: corrupt weights, another space, a future format.
    std::fs::write(dir.path().join(RECORD), b"garbage").unwrap();
    let e = load_bundle(dir.path(), &device).err().unwrap();
    assert!(matches!(e, BundleError::Weights { .. }) && e.to_string().contains("model.bpk"), "{e}");
    let mut json: serde_json::Value = serde_json::to_value(&manifest).unwrap();
    json["architecture"] = serde_json::from_str(r#"{"space":"nb201","ops":[0,1,2,3,4,0]}"#).unwrap();
    std::fs::write(dir.path().join("manifest.json"), json.to_string()).unwrap();
    let e = load_bundle(dir.path(), &device).err().unwrap().to_string();
    assert!(e.contains("manifest.json") && e.contains("nb201 architecture"), "{e}");
    json["format"] = 99.into();
    std::fs::write(dir.path().join("manifest.json"), json.to_string()).unwrap();
    let e = load_bundle(dir.path(), &device).err().unwrap().to_string();
    assert!(e.contains("format 99"), "{e}");
    std::fs::write(dir.path().join("manifest.json"), "{").unwrap();
    let e = load_bundle(dir.path(), &device).err().unwrap().to_string();
    assert!(e.contains("manifest.json: not a model manifest"), "{e}");
}

/// A final run on flipped images also reports flip test-time augmentation, and the saved bundle
/// reproduces it. (The quadrant classes are mirror pairs, so here it costs accuracy.)
#[test]
fn flip_trained_retrains_report_test_time_augmentation() {
    let splits = Splits { train: ImageSet::quadrants(320, 0), test: ImageSet::quadrants(120, 17) };
    let train = TrainConfig { epochs: 2, batch_size: 32, validation: 80, ..Default::default() };
    let child = ChildConfig::default();
    let grid = RetrainConfig { learning_rate: vec![0.1], epochs: 2, ..Default::default() };
    let augment = Augment { flip: true, ..Augment::default() };
    let inputs = RetrainInputs {
        splits: &splits,
        dataset: "quadrants".into(),
        augment,
        train: &train,
        child: &child,
        retrain: &grid,
        seed: 5,
        saved: None,
    };
    let arch: CnnArch = "3x3-8;3x3-8<0".parse().unwrap();
    let r = retrain(&arch, &inputs, &Device::flex().autodiff(), |_, _| {}).unwrap();
    let mirrored = r.test_accuracy_mirror.expect("trained with flips");
    assert!((0.0..=1.0).contains(&mirrored));
    let manifest = manifest_of(&r, &arch, 5);
    let dir = tempfile::tempdir().unwrap();
    save_bundle(dir.path(), &manifest, &burn::module::Module::valid(&r.trained.model)).unwrap();
    let model = load_bundle(dir.path(), &Device::flex()).unwrap();
    assert!(model.trained_with_flips());
    assert_eq!(read_manifest(dir.path()).unwrap().metrics.test_accuracy_mirror, Some(mirrored));
    assert!((model.accuracy_with_mirror(&splits.test) - mirrored).abs() < 1e-12);
    assert!((model.accuracy(&splits.test) - r.test_accuracy).abs() < 1e-12);
}
