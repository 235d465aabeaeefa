//! `marquee bench`: a show run headless for N frames after a warm-up, summarised as frame-time
//! percentiles, frames per second, peak memory, CPU use and allocations per frame, and compared
//! with an earlier run.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::engine::{EngineError, EngineOptions, FrameSet};
use crate::model::paths::OutDir;
use crate::model::show::Show;
use crate::play::player::Player;

/// What the process can tell about itself: CPU time used and peak resident memory (KiB).
pub type Resources = fn() -> (Duration, u64);

/// The figures of one bench run, as `--json` writes them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    /// The show's file.
    pub scene: String,
    /// Frame size.
    pub width: u32,
    /// Frame size.
    pub height: u32,
    /// Frames measured (after the warm-up).
    pub frames: u64,
    /// Frames made before measuring.
    pub warmup: u64,
    /// Worker threads.
    pub threads: usize,
    /// Median frame time.
    pub median_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Mean frame time.
    pub mean_ms: f64,
    /// Frames per second over the measured frames (1000 / mean).
    pub fps: f64,
    /// Peak resident memory of the process, in KiB (`None` where unknown).
    pub peak_rss_kib: Option<u64>,
    /// CPU time over wall time while measuring, in percent of one core (`None` where unknown).
    pub cpu_percent: Option<f64>,
    /// Heap allocations per measured frame on the rendering thread (`None` where not counted).
    pub allocations_per_frame: Option<f64>,
    /// With `--recorders`: the render thread's time handing each frame to the recorders (the
    /// `output` frame set), median and 99th percentile.
    #[serde(default)]
    pub recording_ms: Option<(f64, f64)>,
    /// With `--recorders`: each recorder's frames recorded and dropped (they drop what they
    /// cannot keep up with, as in a live run, so that rendering is what is measured).
    #[serde(default)]
    pub recorders: Vec<BenchRecorder>,
}

/// What one recorder did during a bench run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BenchRecorder {
    /// Its id.
    pub id: String,
    /// Frames it recorded.
    pub recorded: u64,
    /// Frames it dropped because its queue was full.
    pub dropped: u64,
}

/// The `q`-quantile of sorted `values` (nearest rank).
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Runs `show` headless: `warmup` frames, then `frames` frames timed one by one. With
/// `recording` the scene's recorders run too, writing in that directory and dropping frames they
/// cannot keep up with. `progress` is called after each measured frame with the count so far.
#[allow(clippy::too_many_arguments)]
pub fn run(
    show: &Show,
    frames: u64,
    warmup: u64,
    threads: usize,
    isolation: crate::isolate::Isolation,
    recording: Option<OutDir>,
    allocations: Option<fn() -> u64>,
    resources: Option<Resources>,
    mut progress: impl FnMut(u64),
) -> Result<BenchReport, EngineError> {
    let mut player = Player::new(
        show,
        &EngineOptions {
            threads,
            scene_recorders: recording.is_some(),
            realtime: true,
            out_dir: recording.clone().unwrap_or_default(),
            isolation,
            ..EngineOptions::default()
        },
    )?;
    for _ in 0..warmup {
        player.step()?;
    }
    let mut ms = Vec::with_capacity(frames as usize);
    let mut output_ms = Vec::with_capacity(frames as usize);
    let before = (allocations.map(|f| f()), resources.map(|f| f().0), Instant::now());
    for i in 0..frames {
        let t0 = Instant::now();
        player.step()?;
        ms.push(t0.elapsed().as_secs_f64() * 1e3);
        if let Some(engine) = player.engine() {
            output_ms.push(engine.timings().1[FrameSet::Record].as_secs_f64() * 1e3);
        }
        progress(i + 1);
    }
    let wall = before.2.elapsed();
    let allocated = match (allocations, before.0) {
        (Some(f), Some(a)) => Some((f() - a) as f64 / frames.max(1) as f64),
        _ => None,
    };
    let (cpu, rss) = match (resources, before.1) {
        (Some(f), Some(cpu0)) => {
            let (cpu1, rss) = f();
            (
                Some((cpu1 - cpu0).as_secs_f64() / wall.as_secs_f64().max(1e-9) * 100.0),
                Some(rss),
            )
        }
        _ => (None, None),
    };
    let _ = player.finish();
    let recorders = player
        .recorder_report()
        .into_iter()
        .map(|r| BenchRecorder {
            id: r.id,
            recorded: r.sample.written,
            dropped: r.sample.dropped,
        })
        .collect();
    output_ms.sort_by(f64::total_cmp);
    let recording_ms = recording
        .is_some()
        .then(|| (percentile(&output_ms, 0.5), percentile(&output_ms, 0.99)));
    let mean = ms.iter().sum::<f64>() / ms.len().max(1) as f64;
    ms.sort_by(f64::total_cmp);
    let (width, height) = player.frame_size();
    Ok(BenchReport {
        scene: show.path().to_string_lossy().into_owned(),
        width,
        height,
        frames,
        warmup,
        threads,
        median_ms: percentile(&ms, 0.5),
        p95_ms: percentile(&ms, 0.95),
        p99_ms: percentile(&ms, 0.99),
        mean_ms: mean,
        fps: if mean > 0.0 { 1000.0 / mean } else { 0.0 },
        peak_rss_kib: rss,
        cpu_percent: cpu,
        allocations_per_frame: allocated,
        recording_ms,
        recorders,
    })
}

/// How a run compares with a baseline.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// Current median over the baseline's.
    pub ratio: f64,
    /// Whether the ratio is past the threshold.
    pub regressed: bool,
    /// One line for people.
    pub summary: String,
}

/// Compares the medians of `now` and `baseline`: a regression when `now` is slower by more than
/// `threshold` times.
pub fn compare(now: &BenchReport, baseline: &BenchReport, threshold: f64) -> Comparison {
    let ratio = now.median_ms / baseline.median_ms.max(1e-9);
    let regressed = ratio > threshold;
    let summary = format!(
        "median {:.4} ms now, {:.4} ms in the baseline: {ratio:.3}× ({}; threshold {threshold}×)",
        now.median_ms,
        baseline.median_ms,
        if regressed { "a regression" } else { "within it" }
    );
    Comparison {
        ratio,
        regressed,
        summary,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), 50.0);
        assert_eq!(percentile(&v, 0.95), 95.0);
        assert_eq!(percentile(&v, 0.99), 99.0);
        assert_eq!(percentile(&[3.0], 0.99), 3.0);
    }

    #[test]
    fn a_regression_is_a_ratio_past_the_threshold() {
        let base = BenchReport {
            scene: "s".into(),
            width: 1,
            height: 1,
            frames: 1,
            warmup: 0,
            threads: 1,
            median_ms: 1.0,
            p95_ms: 1.0,
            p99_ms: 1.0,
            mean_ms: 1.0,
            fps: 1000.0,
            peak_rss_kib: None,
            cpu_percent: None,
            allocations_per_frame: None,
            recording_ms: None,
            recorders: Vec::new(),
        };
        let slower = BenchReport {
            median_ms: 1.3,
            ..base.clone()
        };
        assert!(compare(&slower, &base, 1.2).regressed);
        assert!(!compare(&slower, &base, 1.5).regressed);
        assert!(compare(&slower, &base, 1.2).summary.contains("1.300×"));
    }
}
