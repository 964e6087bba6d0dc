//! Reporting: a run tells an [`Observer`] what happens; the caller decides what to show.
//!
//! The library never prints. The examples' terminal (progress bars, a live make status line)
//! is one implementation; [`Collector`] keeps every event for tests and tools; [`Silent`]
//! drops them.

use std::sync::Mutex;

use crate::record::{BuildRecord, StepRecord};
use crate::steps::PlannedStep;

/// What a run reports while it goes. Every method has an empty default; implement what you
/// show. Calls come from the thread running the step, except [`Observer::line`] and
/// [`Observer::progress`], which may come from worker threads.
pub trait Observer: Send + Sync {
    /// Step `index` (from 1) of `total` starts.
    fn step_started(&self, index: usize, total: usize, step: &PlannedStep) {
        let _ = (index, total, step);
    }
    /// A note on the running step (what was reused, what was verified, counters).
    fn step_note(&self, step: &str, note: &str) {
        let _ = (step, note);
    }
    /// A step ended (its status says how).
    fn step_finished(&self, step: &StepRecord) {
        let _ = step;
    }
    /// A long command (make, configure) starts; its output lines follow through
    /// [`Observer::line`].
    fn command_started(&self, label: &str) {
        let _ = label;
    }
    /// A line of make's or configure's output.
    fn line(&self, line: &kforge_kbuild::Line<'_>) {
        let _ = line;
    }
    /// The long command ended.
    fn command_finished(&self) {}
    /// Download, extraction or clone progress of the source called `label`.
    fn progress(&self, label: &str, progress: &kforge_fetch::Progress<'_>) {
        let _ = (label, progress);
    }
    /// The fetch of `label` ended.
    fn progress_finished(&self, label: &str) {
        let _ = label;
    }
    /// A report the user must see even when quiet (the full verification when values were
    /// lost).
    fn report(&self, text: &str) {
        let _ = text;
    }
    /// The run ended; `summary` is what `summary.txt` holds.
    fn finished(&self, record: &BuildRecord, summary: &str) {
        let _ = (record, summary);
    }
}

/// An observer that drops everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Observer for Silent {}

/// One event a [`Collector`] kept.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// [`Observer::step_started`].
    StepStarted {
        /// From 1.
        index: usize,
        /// Steps planned.
        total: usize,
        /// The step's name.
        name: String,
    },
    /// [`Observer::step_note`].
    StepNote {
        /// The step.
        step: String,
        /// The note.
        note: String,
    },
    /// [`Observer::step_finished`].
    StepFinished(StepRecord),
    /// [`Observer::command_started`].
    CommandStarted(String),
    /// [`Observer::line`] (the text only).
    Line(String),
    /// [`Observer::progress_finished`].
    ProgressFinished(String),
    /// [`Observer::report`].
    Report(String),
    /// [`Observer::finished`] (the summary).
    Finished(String),
}

/// An observer that keeps every event (progress ticks excepted), for tests and tools.
#[derive(Debug, Default)]
pub struct Collector {
    events: Mutex<Vec<Event>>,
}

impl Collector {
    /// An empty collector.
    pub fn new() -> Collector {
        Collector::default()
    }

    /// The events so far.
    pub fn events(&self) -> Vec<Event> {
        self.events.lock().map(|e| e.clone()).unwrap_or_default()
    }

    fn push(&self, event: Event) {
        if let Ok(mut events) = self.events.lock() {
            events.push(event);
        }
    }
}

impl Observer for Collector {
    fn step_started(&self, index: usize, total: usize, step: &PlannedStep) {
        self.push(Event::StepStarted {
            index,
            total,
            name: step.name.clone(),
        });
    }
    fn step_note(&self, step: &str, note: &str) {
        self.push(Event::StepNote {
            step: step.into(),
            note: note.into(),
        });
    }
    fn step_finished(&self, step: &StepRecord) {
        self.push(Event::StepFinished(step.clone()));
    }
    fn command_started(&self, label: &str) {
        self.push(Event::CommandStarted(label.into()));
    }
    fn line(&self, line: &kforge_kbuild::Line<'_>) {
        self.push(Event::Line(line.text.to_string()));
    }
    fn progress_finished(&self, label: &str) {
        self.push(Event::ProgressFinished(label.into()));
    }
    fn report(&self, text: &str) {
        self.push(Event::Report(text.into()));
    }
    fn finished(&self, _record: &BuildRecord, summary: &str) {
        self.push(Event::Finished(summary.into()));
    }
}

impl<O: Observer + ?Sized> Observer for std::sync::Arc<O> {
    fn step_started(&self, index: usize, total: usize, step: &PlannedStep) {
        (**self).step_started(index, total, step);
    }
    fn step_note(&self, step: &str, note: &str) {
        (**self).step_note(step, note);
    }
    fn step_finished(&self, step: &StepRecord) {
        (**self).step_finished(step);
    }
    fn command_started(&self, label: &str) {
        (**self).command_started(label);
    }
    fn line(&self, line: &kforge_kbuild::Line<'_>) {
        (**self).line(line);
    }
    fn command_finished(&self) {
        (**self).command_finished();
    }
    fn progress(&self, label: &str, progress: &kforge_fetch::Progress<'_>) {
        (**self).progress(label, progress);
    }
    fn progress_finished(&self, label: &str) {
        (**self).progress_finished(label);
    }
    fn report(&self, text: &str) {
        (**self).report(text);
    }
    fn finished(&self, record: &BuildRecord, summary: &str) {
        (**self).finished(record, summary);
    }
}
