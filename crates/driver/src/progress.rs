//! The one progress bar of every long command (training steps, analyzed checkpoints).

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// A bar over `len` `unit`s on stderr (drawn only on a terminal), with elapsed time, ETA and a
/// message for the current stage; hidden when `quiet`.
pub fn bar(quiet: bool, len: u64, unit: &str) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let template = format!(
        "{{spinner}} [{{elapsed_precise}}] {{bar:30}} {{pos}}/{{len}} {unit}, ETA {{eta}}  {{wide_msg}}"
    );
    let bar = ProgressBar::new(len)
        .with_style(ProgressStyle::with_template(&template).expect("a valid template"));
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}
