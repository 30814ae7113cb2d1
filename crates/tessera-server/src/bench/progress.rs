//! The progress bar: on the terminal while the bench runs, nothing when stdout is not one.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Steps of the run, drawn on stderr when stdout is a terminal.
pub struct Progress(ProgressBar);

impl Progress {
    /// A bar of `steps` steps; hidden unless stdout is a terminal.
    pub fn new(steps: u64) -> Self {
        Self::with_target(steps, std::io::stdout().is_terminal())
    }

    fn with_target(steps: u64, visible: bool) -> Self {
        let bar = ProgressBar::with_draw_target(
            Some(steps),
            if visible {
                ProgressDrawTarget::stderr()
            } else {
                ProgressDrawTarget::hidden()
            },
        );
        if let Ok(style) = ProgressStyle::with_template("{elapsed:>4} [{bar:30}] {pos}/{len} {msg}")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        Self(bar)
    }

    /// Names what runs now.
    pub fn doing(&self, what: String) {
        self.0.set_message(what);
    }

    /// One step done.
    pub fn done_one(&self) {
        self.0.inc(1);
    }

    /// Removes the bar.
    pub fn finish(&self) {
        self.0.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn hidden_bar_counts_silently() {
        let p = super::Progress::with_target(3, false);
        p.doing("x".into());
        p.done_one();
        assert!(p.0.is_hidden());
        assert_eq!(p.0.position(), 1);
        p.finish();
    }
}
