//! `nas eval`: test accuracy of model bundles, each with its 95 % interval, and — given two or
//! more — whether the others are really above or below the first: paired on the same test
//! images, the difference with its 95 % interval and McNemar's exact test
//! ([`nas_retrain::Paired`]). For models trained on flipped images, the same under flip
//! test-time augmentation.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use nas_data::DatasetSpec;
use nas_retrain::{Paired, load_bundle, wilson_interval};

#[derive(Args)]
pub struct EvalArgs {
    /// Model bundle directories (written by `nas train`). With two or more, each after the first
    /// is compared with the first on the same test images.
    #[arg(required = true, value_name = "MODEL")]
    pub models: Vec<PathBuf>,
    /// Dataset whose test part to score (default: the one the models were trained on).
    #[arg(long, value_name = "SPEC")]
    pub data: Option<DatasetSpec>,
}

/// One bundle's per-image hits: plain, and with flip test-time augmentation where it trained on
/// flips.
struct Scored {
    name: String,
    plain: Vec<bool>,
    mirrored: Option<Vec<bool>>,
}

pub fn eval(a: EvalArgs) -> Result<()> {
    let device = nas_retrain::inference_device();
    let mut models = Vec::with_capacity(a.models.len());
    for path in &a.models {
        models.push((path, load_bundle(path, &device)?));
    }
    let spec = match &a.data {
        Some(d) => d.clone(),
        None => {
            let (first, model) = &models[0];
            let Some(spec) = &model.manifest.dataset_spec else {
                bail!("{}: the manifest names no dataset; pass --data", first.display());
            };
            if let Some((other, _)) = models.iter().find(|(_, m)| m.manifest.dataset_spec.as_ref() != Some(spec)) {
                bail!(
                    "{} and {} were trained on different datasets; pass --data to score both on one",
                    first.display(),
                    other.display()
                );
            }
            spec.clone()
        }
    };
    let (splits, what) = spec.load().context("--data")?;
    let test = &splits.test;
    let mut scored = Vec::with_capacity(models.len());
    for (path, model) in &models {
        model.check(test, &what)?;
        let s = Scored {
            name: path.display().to_string(),
            plain: model.correct(test),
            mirrored: model.trained_with_flips().then(|| model.correct_with_mirror(test)),
        };
        let prefix = if models.len() > 1 { format!("{}: ", s.name) } else { String::new() };
        let (acc, interval) = accuracy(&s.plain);
        println!("{prefix}test accuracy {acc:.4} on {} test images of {what} ({interval})", test.len());
        if let Some(m) = &s.mirrored {
            let (acc, interval) = accuracy(m);
            println!(
                "{prefix}test accuracy {acc:.4} with flip test-time augmentation ({interval}; each image's softmax \
                 averaged with its mirror's, the model trained on flipped images)"
            );
        }
        scored.push(s);
    }
    if let Some((first, others)) = scored.split_first()
        && !others.is_empty()
    {
        println!(
            "\nagainst {} on the same {} images (difference, its 95 % interval, the images only one gets right, \
             McNemar's exact p; p < 0.05: the difference is unlikely to be chance):",
            first.name,
            test.len()
        );
        for other in others {
            println!("  {}: {}", other.name, compare(&first.plain, &other.plain));
            if let (Some(f), Some(o)) = (&first.mirrored, &other.mirrored) {
                println!("  {} (flip TTA): {}", other.name, compare(f, o));
            }
        }
    }
    Ok(())
}

/// The accuracy of `hits` and its Wilson interval, as `95 % interval 0.9291–0.9388`.
fn accuracy(hits: &[bool]) -> (f64, String) {
    let right = hits.iter().filter(|&&h| h).count();
    let (lo, hi) = wilson_interval(right, hits.len());
    (right as f64 / hits.len().max(1) as f64, format!("95 % interval {lo:.4}–{hi:.4}"))
}

/// One paired line: `+0.0025 (95 % -0.0014 … +0.0064), only the first right on 181, only this one on 206,
/// p = 0.222` (the second's accuracy minus the first's).
fn compare(first: &[bool], other: &[bool]) -> String {
    let p = Paired::new(first, other).expect("both scored on the same test images");
    let (lo, hi) = p.difference_interval();
    format!(
        "{:+.4} (95 % {lo:+.4} … {hi:+.4}), only the first right on {}, only this one on {}, p = {:.3}",
        p.difference(),
        p.only_first,
        p.only_second,
        p.mcnemar_p()
    )
}
