//! Named presets, compiled into the binary from `presets/*.toml` so `--preset NAME` works from
//! any directory. A preset is a partial configuration layered over the paper's defaults.

/// (name, one-line description, TOML text).
pub const PRESETS: &[(&str, &str, &str)] = &[
    (
        "tiny",
        "embedded default: real training on the shipped Fashion-MNIST subset, seconds per child",
        include_str!("../../../presets/tiny.toml"),
    ),
    (
        "fashion-cpu",
        "80 children on full Fashion-MNIST sized for a 2-core CPU, the best 4 re-scored on all images (about 25 min alone), then `nas train` on all 60,000 images",
        include_str!("../../../presets/fashion-cpu.toml"),
    ),
    (
        "fashion-oneshot",
        "a one-shot (ENAS) search on full Fashion-MNIST: 15,000 children rewarded under shared weights on a 2-core CPU, then `nas train` of the best",
        include_str!("../../../presets/fashion-oneshot.toml"),
    ),
    (
        "paper-cifar10",
        "the paper's CIFAR-10 setting (12,800 children × 50 epochs; for GPUs)",
        include_str!("../../../presets/paper-cifar10.toml"),
    ),
    (
        "paper-oneshot",
        "a one-shot search of the paper's CIFAR-10 space at ENAS's budget (~310 supernet epochs; for GPUs)",
        include_str!("../../../presets/paper-oneshot.toml"),
    ),
    (
        "ptb-cpu",
        "20 recurrent cells as small PTB language models, sized for a 2-core CPU (--dataset ptb:DIR)",
        include_str!("../../../presets/ptb-cpu.toml"),
    ),
    (
        "paper-ptb",
        "the paper's recurrent-cell search: 2×650 PTB language models, 35 epochs (for big machines)",
        include_str!("../../../presets/paper-ptb.toml"),
    ),
];

/// The TOML text of a named preset.
pub fn preset(name: &str) -> Option<&'static str> {
    PRESETS.iter().find(|p| p.0 == name).map(|p| p.2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SearchConfig;

    #[test]
    fn every_preset_parses_and_validates() {
        for (name, _, text) in PRESETS {
            let c = SearchConfig::from_layers(Some((name, text)), None).unwrap();
            c.validate().unwrap_or_else(|e| panic!("preset {name}: {e}"));
        }
        let paper = SearchConfig::from_layers(Some(("paper-cifar10", preset("paper-cifar10").unwrap())), None).unwrap();
        assert_eq!((paper.samples, paper.train.epochs, paper.batch), (12_800, 50, 8));
        assert_eq!((paper.replicas, paper.shards), (100, 20));
        // The paper's CIFAR-10 space: no strides, no pooling, its single learning-rate drop.
        assert!(paper.cnn.strides.is_empty() && !paper.cnn.pooling);
        assert_eq!(paper.retrain.schedule, nas_retrain::RetrainSchedule::Decay);
        // The CPU presets can downsample, and recalibrate batch norm before validating.
        for name in ["tiny", "fashion-cpu"] {
            let c = SearchConfig::from_layers(Some((name, preset(name).unwrap())), None).unwrap();
            assert!(c.cnn.pooling && c.cnn.strides.contains(&2), "{name}");
            assert!(c.train.bn_recalibration_batches > 0, "{name}");
            assert_eq!(c.retrain.schedule, nas_retrain::RetrainSchedule::Cosine, "{name}");
        }
        // fashion-cpu ends with re-scoring and retrains under a compute cap; the others do not re-score.
        let fc = SearchConfig::from_layers(Some(("fashion-cpu", preset("fashion-cpu").unwrap())), None).unwrap();
        assert_eq!((fc.rescore.top_k, fc.rescore.epochs, fc.rescore.train_subset), (4, 4, None));
        assert_eq!((fc.retrain.width, fc.retrain.max_flops), (2.0, Some(60_000_000)));
        assert!(!paper.rescore.enabled());
        // The one-shot presets share weights.
        for name in ["fashion-oneshot", "paper-oneshot"] {
            let c = SearchConfig::from_layers(Some((name, preset(name).unwrap())), None).unwrap();
            assert_eq!(c.evaluator, nas_evaluator::EvaluatorSpec::Oneshot, "{name}");
        }
        let fo =
            SearchConfig::from_layers(Some(("fashion-oneshot", preset("fashion-oneshot").unwrap())), None).unwrap();
        assert_eq!((fo.samples, fo.oneshot.reward_images, fo.oneshot.warmup_steps), (15_000, 256, 4300));
        assert_eq!((fo.rescore.top_k, fo.rescore.epochs), (4, 4));
        // Its retrain fills the hour: up to 4× the filters, narrowed until 50 timed minutes fit.
        assert_eq!((fo.retrain.width, fo.retrain.max_flops, fo.retrain.epochs), (4.0, Some(60_000_000), 50));
        assert_eq!(fo.retrain.max_minutes, Some(50.0));
        // …on the kernels' 8 lanes, the minutes the width leaves spent on epochs.
        assert_eq!((fo.retrain.filter_multiple, fo.retrain.fill_seconds()), (8, Some(3000.0)));
        // One grid cell, the search's own optimiser settings: what `nas train --no-grid` measured.
        assert_eq!(
            (fo.retrain.learning_rate.clone(), fo.retrain.weight_decay.clone()),
            (vec![fo.train.learning_rate], vec![fo.train.weight_decay])
        );
        let ptb = SearchConfig::from_layers(Some(("paper-ptb", preset("paper-ptb").unwrap())), None).unwrap();
        assert_eq!((ptb.space, ptb.rnn.base, ptb.lm.hidden, ptb.lm.layers), (nas_space::SpaceKind::Rnn, 8, 650, 2));
        assert_eq!((ptb.lm_train.epochs, ptb.lm_train.reward_c), (35, 80.0));
    }

    #[test]
    fn the_documented_example_configs_parse_and_validate() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                let c = SearchConfig::from_file(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                c.validate().unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                seen += 1;
            }
        }
        assert!(seen > 0, "no example configs in {}", dir.display());
    }
}
