//! The progress line while a run works: phase, elapsed time, requests, samples.
//! Drawn only on a terminal (indicatif hides itself otherwise) and never with `-q`/`--json`.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use leakgate_runner::Event;

pub struct Progress {
    bar: ProgressBar,
    requests: u64,
    errors: u64,
    phase: &'static str,
}

impl Progress {
    pub fn new(scenario: &str, samples: usize, visible: bool) -> Progress {
        let target = if visible {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(Some(samples as u64), target);
        bar.set_style(
            ProgressStyle::with_template("{spinner} {prefix:.bold} [{elapsed_precise}] {bar:20.cyan/blue} {pos}/{len} samples  {msg}")
                .expect("a valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix(scenario.to_string());
        bar.enable_steady_tick(Duration::from_millis(200));
        Progress {
            bar,
            requests: 0,
            errors: 0,
            phase: "starting",
        }
    }

    pub fn on_event(&mut self, event: Event) {
        match event {
            Event::Phase(p) => self.phase = p.label(),
            Event::Load { requests, errors } => {
                self.requests = requests;
                self.errors = errors;
            }
            Event::Sample { index, of } => {
                self.bar.set_length(of as u64);
                self.bar.set_position(index as u64);
            }
        }
        self.bar.set_message(format!(
            "{} · {} requests{}",
            self.phase,
            self.requests,
            if self.errors > 0 {
                format!(" ({} errors)", self.errors)
            } else {
                String::new()
            }
        ));
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
