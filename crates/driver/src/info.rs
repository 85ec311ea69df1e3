//! `curvscope info`: what a checkpoint is, and how well it does on a dataset.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use curvscope_hessian::norm;
use curvscope_model::{load_checkpoint, Precision};
use serde_json::json;

use crate::checkpoints::{dtype_name, refuse_run_folder};
use crate::data::{data_mismatch, DataArgs, DataCache, DataChoice};
use crate::flags;
use crate::network::{check_representable, objective, Device};

/// Arguments of `curvscope info`.
#[derive(clap::Args, Debug)]
pub struct InfoArgs {
    /// Checkpoint folder (model.safetensors + checkpoint.json).
    #[arg(value_name = "CKPT", value_parser = flags::utf8_path())]
    pub checkpoint: PathBuf,
    #[command(flatten)]
    pub data: DataArgs,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: InfoArgs) -> Result<ExitCode> {
    let dir = &args.checkpoint;
    refuse_run_folder(dir, |last| format!("`curvscope info {}`", last.display()))?;
    let checkpoint = load_checkpoint(dir)
        .with_context(|| format!("cannot load checkpoint {}", dir.display()))?;
    let meta = &checkpoint.meta;
    let mut offset = 0;
    let tensors: Vec<_> = meta
        .arch
        .params()
        .into_iter()
        .map(|(name, shape)| {
            let len: usize = shape.iter().product();
            let values = &checkpoint.theta[offset..offset + len];
            offset += len;
            json!({ "name": name, "shape": shape, "numel": len, "norm": norm(values) })
        })
        .collect();
    let choice = DataChoice::resolve(dir, meta, args.data.data.as_deref(), args.data.data_seed)?;
    let mut info = json!({
        "path": dir,
        "arch": meta.arch,
        "arch_summary": meta.arch.to_string(),
        "n_params": checkpoint.theta.len(),
        "dtype": dtype_name(checkpoint.dtype),
        "tensors": tensors,
        "meta": meta,
        "theta_norm": norm(&checkpoint.theta),
    });
    // The checkpoint itself loaded; a dataset that does not fit is reported after its description.
    let evaluation = evaluate(
        &checkpoint,
        &choice,
        args.data.data.is_none(),
        args.data.precision,
        args.data.device,
    );
    match &evaluation {
        Ok(e) => info["evaluation"] = e.clone(),
        Err(err) => info["evaluation_error"] = format!("{err:#}").into(),
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&info)?);
    } else {
        print!("{}", text(&info));
    }
    match evaluation {
        Ok(_) => Ok(ExitCode::SUCCESS),
        Err(err) => {
            eprintln!("error: cannot evaluate on '{}': {err:#}", choice.spec);
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Loss and accuracy of the checkpoint on the chosen data.
fn evaluate(
    checkpoint: &curvscope_model::Checkpoint,
    choice: &DataChoice,
    default_data: bool,
    precision: Precision,
    device: Device,
) -> Result<serde_json::Value> {
    let mut cache = DataCache::default();
    let data = cache.get(choice)?;
    let theta = &checkpoint.theta;
    check_representable(&checkpoint.meta.arch, theta, precision)?;
    let objective = objective(&checkpoint.meta.arch, data, precision, device)?;
    let (loss, accuracy) = objective.loss_and_accuracy(theta);
    if !loss.is_finite() {
        bail!("the loss is {loss}");
    }
    Ok(json!({
        "data": choice.spec,
        "data_seed": choice.seed,
        "dataset": data.info(),
        "loss": loss,
        "accuracy": accuracy,
        "warning": default_data.then(|| data_mismatch(&checkpoint.meta, data)).flatten(),
    }))
}

/// The human-readable form of the JSON description.
fn text(info: &serde_json::Value) -> String {
    let mut out = format!(
        "checkpoint  {}\narch        {}\nparameters  {} ({} tensors)\ndtype       {}\n‖θ‖         {}\n",
        info["path"].as_str().unwrap_or_default(),
        info["arch_summary"].as_str().unwrap_or_default(),
        info["n_params"],
        info["tensors"].as_array().map_or(0, Vec::len),
        info["dtype"].as_str().unwrap_or_default(),
        info["theta_norm"],
    );
    for t in info["tensors"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "  {:<20} {:<18} {:>9} values  ‖·‖ = {}\n",
            t["name"].as_str().unwrap_or_default(),
            t["shape"].to_string(),
            t["numel"],
            t["norm"]
        ));
    }
    out.push_str("metadata\n");
    for (key, value) in info["meta"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| *k != "arch")
    {
        out.push_str(&format!("  {key:<18} {value}\n"));
    }
    if let Some(e) = info.get("evaluation") {
        out.push_str(&format!(
            "data        {} (seed {}): {}, N = {}\nloss        {}\naccuracy    {}\n",
            e["data"].as_str().unwrap_or_default(),
            e["data_seed"],
            e["dataset"]["name"].as_str().unwrap_or_default(),
            e["dataset"]["n"],
            e["loss"],
            match &e["accuracy"] {
                serde_json::Value::Null => "none (the net is not a classifier)".to_string(),
                accuracy => accuracy.to_string(),
            }
        ));
        if let Some(w) = e["warning"].as_str() {
            out.push_str(&format!("warning     {w}\n"));
        }
    }
    out
}
