//! The one progress bar of every long command (training steps, analyzed checkpoints).

use std::io::IsTerminal;
use std::time::{Duration, Instant};

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
    std::thread::spawn(move || {
        let mut first_line = None;
        loop {
            std::thread::sleep(LOG_EVERY);
            match weak.upgrade() {
                Some(bar) if !bar.is_finished() => {
                    eprintln!("{}", status_line(&bar, &unit, first_line));
                    first_line.get_or_insert((bar.position(), Instant::now()));
                }
                _ => break,
            }
        }
    });
}

/// One line of a bar's state: `[elapsed] position/length unit, ETA …  message`. The ETA is the
/// pace since `since` (the position and time of the first line written, a minute in; `None`
/// for the first line itself: "?"), so units done before it at no cost (a resumed run's steps,
/// reused records) do not count. indicatif's own estimate said 7 hours for an analysis that
/// ended a minute later.
pub fn status_line(bar: &ProgressBar, unit: &str, since: Option<(u64, Instant)>) -> String {
    let clock = |d: Duration| {
        let s = d.as_secs();
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    };
    let (done, length) = (bar.position(), bar.length().unwrap_or(0));
    let eta = since
        .filter(|&(then, _)| done > then)
        .and_then(|(then, at)| {
            let per_unit = at.elapsed().as_secs_f64() / (done - then) as f64;
            Duration::try_from_secs_f64(per_unit * length.saturating_sub(done) as f64).ok()
        })
        .map_or("?".to_string(), clock);
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
        let line = status_line(&bar, "checkpoints", None);
        assert!(line.starts_with("[0:00:0"), "{line}");
        assert!(line.contains("] 3/40 checkpoints, ETA ?  "), "{line}");
        assert!(line.ends_with("  lanczos"), "{line}");
    }

    /// The ETA is the pace since the first line: 3 units resumed at no cost, then 7 in the
    /// 70 s since that line, leave 30 units at 10 s each, 300 s; never a panic on a huge length.
    #[test]
    fn the_eta_counts_only_units_since_the_previous_line() {
        let bar = ProgressBar::hidden();
        bar.set_length(40);
        bar.set_position(10);
        let previous = Instant::now() - Duration::from_secs(70);
        let line = status_line(&bar, "steps", Some((3, previous)));
        assert!(line.contains("ETA 0:05:00"), "{line}");
        bar.set_length(u64::MAX);
        let line = status_line(&bar, "steps", Some((3, previous)));
        assert!(line.contains("ETA ?"), "{line}");
    }
}
