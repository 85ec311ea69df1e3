//! The one progress bar of every long command (training steps, analyzed checkpoints).

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// A bar over `len` `unit`s on stderr, with elapsed time, ETA and a message for the current
/// stage; hidden when `quiet`. Off a terminal (a SLURM job's log, `nohup … > log`) indicatif
/// draws nothing, so a plain [`status_line`] is written every [`LOG_EVERY`] instead: a batch
/// job's log then says where a run of hours is.
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
    if !std::io::stderr().is_terminal() {
        log_lines(&bar, unit.to_string());
    }
    bar
}

/// How often a bar off a terminal writes its [`status_line`].
pub const LOG_EVERY: Duration = Duration::from_secs(60);

/// Writes `bar`'s [`status_line`] to stderr every [`LOG_EVERY`] from a thread of its own, until
/// the bar is finished or dropped (the thread holds only a weak reference, so it never keeps a
/// bar alive).
fn log_lines(bar: &ProgressBar, unit: String) {
    let weak = bar.downgrade();
    std::thread::spawn(move || loop {
        std::thread::sleep(LOG_EVERY);
        match weak.upgrade() {
            Some(bar) if !bar.is_finished() => eprintln!("{}", status_line(&bar, &unit)),
            _ => break,
        }
    });
}

/// One line of a bar's state: `[elapsed] position/length unit, ETA …  message`.
pub fn status_line(bar: &ProgressBar, unit: &str) -> String {
    let clock = |d: Duration| {
        let s = d.as_secs();
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    };
    let (done, length) = (bar.position(), bar.length().unwrap_or(0));
    // The mean time per unit so far: indicatif's own estimate, which weights recent steps,
    // said 7 hours for an analysis of three checkpoints that ended a minute later.
    let eta = match done {
        0 => "?".to_string(),
        _ => clock(
            bar.elapsed()
                .mul_f64(length.saturating_sub(done) as f64 / done as f64),
        ),
    };
    format!(
        "[{}] {done}/{length} {unit}, ETA {eta}  {}",
        clock(bar.elapsed()),
        bar.message()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_line_names_position_length_unit_and_stage() {
        let bar = ProgressBar::hidden();
        bar.set_length(40);
        bar.set_position(3);
        bar.set_message("lanczos");
        let line = status_line(&bar, "checkpoints");
        assert!(line.starts_with("[0:00:0"), "{line}");
        assert!(line.contains("] 3/40 checkpoints, ETA "), "{line}");
        assert!(line.ends_with("  lanczos"), "{line}");
    }
}
