//! The progress line of a long apply on a terminal: operations done, their rate and the time
//! left. A short apply (most of them) never shows one, and neither does a pipe or a CI log.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// An apply shows its progress once it has run this long.
const AFTER: Duration = Duration::from_secs(2);

/// Whether a progress line is due: on a terminal, for an apply that has run `AFTER` with
/// operations left.
pub fn due(terminal: bool, elapsed: Duration, done: u64, total: u64) -> bool {
    terminal && elapsed >= AFTER && done < total
}

pub struct Line {
    bar: ProgressBar,
    started: Instant,
    terminal: bool,
    shown: AtomicBool,
}

impl Line {
    /// A hidden line for `total` operations of the target `name`.
    pub fn new(name: &str, total: usize) -> Arc<Self> {
        let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::hidden());
        if let Ok(style) = ProgressStyle::with_template(
            "  {prefix}: {pos} of {len} operations, {per_sec}, about {eta} left",
        ) {
            bar.set_style(style);
        }
        bar.set_prefix(name.to_string());
        Arc::new(Self {
            bar,
            started: Instant::now(),
            terminal: std::io::stderr().is_terminal(),
            shown: AtomicBool::new(false),
        })
    }

    /// One more operation done.
    pub fn tick(&self) {
        self.bar.inc(1);
        let due = due(
            self.terminal,
            self.started.elapsed(),
            self.bar.position(),
            self.bar.length().unwrap_or(0),
        );
        if due && !self.shown.swap(true, Ordering::Relaxed) {
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
        }
    }

    pub fn done(&self) -> u64 {
        self.bar.position()
    }

    /// Clears the line before the apply's report is printed.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_long_apply_on_a_terminal_shows_progress() {
        let long = Duration::from_secs(3);
        assert!(due(true, long, 10, 10_000));
        assert!(!due(true, Duration::from_millis(500), 10, 10_000), "not at once");
        assert!(!due(false, long, 10, 10_000), "not in a pipe or a CI log");
        assert!(!due(true, long, 10_000, 10_000), "not once everything is done");
    }

    #[test]
    fn a_line_counts_operations_and_stays_hidden_off_a_terminal() {
        let line = Line::new("customer-acme/acme-ldap", 3);
        line.tick();
        line.tick();
        assert_eq!(line.done(), 2);
        // The tests' stderr is captured, not a terminal.
        assert!(line.bar.is_hidden());
        line.finish();
    }
}
