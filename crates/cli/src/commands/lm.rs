//! `nas train-lm`: train one language model — a searched cell, any cell string, or the LSTM
//! baseline (optionally with as many parameters as a tree cell) — and report validation and
//! test perplexity. The test set is read once, at the end.

use std::path::PathBuf;

use anyhow::{Context, Result, anyhow, bail};
use clap::Args;
use nas_child::rnn::CellKind;
use nas_space::{Architecture, RnnCell};
use nas_store::open_store;
use nas_trainer::train_and_test;
use serde_json::json;

use super::search::{ConfigArgs, SpaceArg};
use crate::store_path;

#[derive(Args)]
pub struct TrainLmArgs {
    #[command(flatten)]
    pub cfg: ConfigArgs,
    /// `lstm`, a trial id from the store, or a cell string
    /// (`add:tanh mul:relu mul:sigmoid | add:relu | c=1 inject=0`).
    #[arg(long, value_name = "lstm|TRIAL|CELL")]
    pub cell: String,
    /// With `--cell lstm`: pick its hidden size so that its parameter count matches a tree cell
    /// of the configured base and size (the paper's equal-size comparison).
    #[arg(long)]
    pub match_params: bool,
    /// Store to read `--cell TRIAL` from.
    #[arg(long, value_name = "PATH", env = "NAS_STORE")]
    pub store: Option<PathBuf>,
    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
}

fn resolve_cell(a: &TrainLmArgs) -> Result<(CellKind, String)> {
    if a.cell == "lstm" {
        return Ok((CellKind::Lstm, "lstm".into()));
    }
    if let Ok(id) = a.cell.parse::<i64>() {
        let store = open_store(&store_path(&a.store).to_string_lossy(), false)?;
        let t = store.trial(id)?.ok_or_else(|| anyhow!("no trial {id} in this store (see `nas top`)"))?;
        return match Architecture::from_json(&t.arch_json).with_context(|| format!("trial {id}"))? {
            Architecture::Rnn(c) => Ok((CellKind::Tree(c), format!("trial {id}: {}", t.arch))),
            other => bail!("trial {id} is a {} architecture, not a recurrent cell", other.space_name()),
        };
    }
    let cell: RnnCell = a.cell.parse().context("--cell")?;
    Ok((CellKind::Tree(cell.clone()), cell.to_string()))
}

pub fn run(mut a: TrainLmArgs) -> Result<()> {
    if a.match_params && a.cell != "lstm" {
        bail!("--match-params sizes the LSTM baseline; use it with --cell lstm");
    }
    a.cfg.space.get_or_insert(SpaceArg::Rnn);
    let config = a.cfg.resolve()?;
    let (kind, name) = resolve_cell(&a)?;
    let (corpus, description) = config.text.load().context("text corpus")?;
    let mut model_cfg = config.lm.clone();
    let vocab = corpus.vocab.len();
    if a.match_params {
        let target = model_cfg.params(vocab, config.rnn.base);
        model_cfg = model_cfg.matching(vocab, 4, target);
        eprintln!(
            "--match-params: LSTM hidden {} ({} parameters; a base-{} tree cell of {} units has {target})",
            model_cfg.hidden,
            model_cfg.params(vocab, 4),
            config.rnn.base,
            config.lm.hidden
        );
    }
    let t = &config.lm_train;
    eprintln!(
        "training {name} on {description}: {} layer(s) of {} units, {} epochs, batch {}, bptt {}",
        model_cfg.layers, model_cfg.hidden, t.epochs, t.batch_size, t.bptt
    );
    let (out, test) = train_and_test(&kind, &corpus, &model_cfg, t, config.seed, |e| {
        eprintln!(
            "  epoch {}/{}: train loss {:.3}, val. perplexity {:.2}, lr {:.3} ({:.1} s)",
            e.epoch + 1,
            t.epochs,
            e.train_loss,
            e.val_perplexity,
            e.learning_rate,
            e.seconds
        )
    })
    .map_err(|e| anyhow!("{name}: {e}"))?;
    if a.json {
        println!(
            "{}",
            json!({
                "cell": name, "params": out.params, "hidden": model_cfg.hidden, "val_perplexity": out.val_perplexity,
                "test_perplexity": test, "reward": out.reward, "tokens_per_second": out.tokens_per_second,
                "epochs": out.epochs,
            })
        );
    } else {
        println!(
            "{name}: {} parameters, val. perplexity {:.2}, test perplexity {test:.2}, reward {:.6}, {:.0} tokens/s",
            out.params, out.val_perplexity, out.reward, out.tokens_per_second
        );
    }
    Ok(())
}
