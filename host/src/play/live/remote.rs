//! The live loop's side of the remote control (`--serve`, `--osc`): the layer changes it
//! answers each turn, and the status it publishes, never waiting for a reader.

use std::time::Duration;

use super::{Live, LiveReport, LogLine, Observe, Severity};
use crate::compose::brightness;
use crate::play::control::{COUNTERS_EVERY, OutputView, RecorderView};

impl Live<'_> {
    /// What is playing, for readers who ask before the first frame: the entries and the scene
    /// (the rest comes with every frame).
    pub(super) fn remote_start(&self) {
        let Some(remote) = self.io.remote else {
            return;
        };
        let (scene, entries) = (self.player.scene_name(), self.player.entry_names());
        remote.publish(|s| {
            s.entries = entries;
            s.scene = scene.to_string();
        });
    }

    /// Answers the layer changes waiting (each applied, or why not), publishes the layers when
    /// they changed, and the pause, recording and brightness now.
    pub(super) fn remote_turn(&mut self, report: &mut LiveReport) {
        let Some(remote) = self.io.remote else {
            return;
        };
        // Layer changes, each answered: applied, or why not.
        while let Some(change) = remote.next_configure() {
            let outcome = self.player.configure(&change.layer, &change.fields);
            if outcome.is_ok() {
                report.log(LogLine::new(
                    Severity::Info,
                    format!("layer `{}` changed from the remote control", change.layer),
                ));
                self.layers_due = true;
            }
            let _ = change.reply.send(outcome);
        }
        if self.layers_due {
            self.layers_due = remote.publish_layers(self.player.layer_views()).is_err();
        }
        let (paused, recording, level) = (self.pacer.paused(), self.recording, self.brightness);
        remote.publish(|s| {
            s.paused = paused;
            s.recording = recording;
            s.brightness = level as f64 / brightness::FULL as f64;
        });
    }

    /// Publishes this frame's figures to the remote's status, if there is a remote. Allocates
    /// only for what is new (a scene's name, the outputs the first time, a failure).
    pub(super) fn publish(&mut self, observe: &Observe, report: &LiveReport, took: Duration) {
        let Some(remote) = self.io.remote else {
            return;
        };
        let (entry, _) = self.player.position();
        let scene = self.player.scene_name();
        let (show, fps) = (self.show.name(), self.show.fps());
        let handoffs = self.io.handoffs;
        let unpublished = &mut self.unpublished;
        let engine = self.player.engine();
        if let Some(e) = engine {
            e.recorder_samples(&mut self.samples);
        }
        let samples = &self.samples;
        let clock = self.pacer.now().as_secs_f64();
        let made_fps = if clock > 0.0 {
            report.made as f64 / clock
        } else {
            0.0
        };
        let counters = self
            .next
            .is_multiple_of(COUNTERS_EVERY)
            .then(|| engine.map(|e| e.counters()).unwrap_or_default());
        remote.publish(|s| {
            s.fps = made_fps;
            if let Some(counters) = counters {
                s.counters = (counters.into_iter())
                    .map(|c| (format!("{}.{}", c.owner, c.name), c.value))
                    .collect();
            }
            if s.recorders.len() != samples.len() {
                // A new scene's recorders (or none): their ids, once.
                let info = engine.map(|e| e.recorder_info()).unwrap_or_default();
                s.recorders = (0..samples.len())
                    .map(|i| RecorderView {
                        id: info.get(i).map(|r| r.id.clone()).unwrap_or_default(),
                        ..RecorderView::default()
                    })
                    .collect();
            }
            for (r, sample) in s.recorders.iter_mut().zip(samples) {
                (r.written, r.dropped, r.queue, r.failed) =
                    (sample.written, sample.dropped, sample.queue, sample.failed);
            }
            if s.show != show {
                s.show.clear();
                s.show.push_str(show);
            }
            if s.scene != scene {
                s.scene.clear();
                s.scene.push_str(scene);
            }
            s.entry = entry;
            s.frame = self.next;
            s.target_fps = fps;
            s.skipped = report.skipped;
            s.overruns = report.overruns;
            s.frame_time(took);
            if s.outputs.len() != handoffs.len() {
                s.outputs = (0..handoffs.len())
                    .map(|i| OutputView {
                        name: observe.outputs.get(i).cloned().unwrap_or_default(),
                        ..OutputView::default()
                    })
                    .collect();
            }
            for (o, h) in s.outputs.iter_mut().zip(handoffs) {
                o.shown = h.counts().shown;
                o.dropped = h.dropped();
            }
            for message in unpublished.drain(..) {
                s.failure(message);
            }
        });
    }
}
