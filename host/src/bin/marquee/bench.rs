//! `marquee bench`: a show measured headless, compared with a baseline.

use std::path::PathBuf;

use anyhow::Context;
use marquee::isolate::Isolation;
use marquee::model::paths::OutDir;
use marquee::model::show::Show;
use marquee::plugins::registry::Registry;

use crate::exit::{Exit, Outcome};
use crate::logs::progress_bar;
use crate::{sys, warn_failures};

/// What `marquee bench` takes.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// The scene or playlist file.
    pub scene: PathBuf,
    /// Frames to measure (at most 1,000,000).
    #[arg(long, default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..=marquee::trace::MAX_FRAMES))]
    pub frames: u64,
    /// Frames to make first, unmeasured (at most 1,000,000).
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(0..=marquee::trace::MAX_FRAMES))]
    pub warmup: u64,
    /// Worker threads.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Also write the figures as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Compare with the JSON of an earlier run; exit 1 if the median is slower by more than
    /// `--threshold` times.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// How much slower than the baseline counts as a regression.
    #[arg(long, default_value_t = 1.2)]
    pub threshold: f64,
    /// Run the scene's recorders too (they drop frames they cannot keep up with) and report
    /// the render thread's time handing frames to them.
    #[arg(long)]
    pub recorders: bool,
    /// With `--recorders`: the directory they write in (default: the scene file's).
    #[arg(long, value_name = "DIR", requires = "recorders")]
    pub out_dir: Option<PathBuf>,
}

/// Measures the show `args` names.
pub fn bench(args: BenchArgs, registry: &Registry, isolation: Isolation) -> anyhow::Result<()> {
    let BenchArgs {
        scene,
        frames,
        warmup,
        threads,
        json,
        baseline,
        threshold,
        recorders,
        out_dir,
    } = args;
    warn_failures(registry);
    let baseline = match &baseline {
        None => None,
        Some(path) => {
            let text =
                marquee_plugin_api::files::read_text_bounded(path, marquee::model::scene::MAX_FILE_BYTES)
                    .with_context(|| format!("cannot read the baseline {}", path.display()))?;
            match serde_json::from_str::<marquee::play::bench::BenchReport>(&text) {
                Ok(b) => Some(b),
                Err(e) => {
                    eprintln!(
                        "error: {}:{}:{}: not a `marquee bench --json` file: {e}",
                        path.display(),
                        e.line(),
                        e.column()
                    );
                    return Err(Exit(Outcome::BadInput).into());
                }
            }
        }
    };
    let show = Show::load(&scene, registry)?;
    let bar = progress_bar(frames, "measuring");
    let report = marquee::play::bench::run(
        &show,
        frames,
        warmup,
        threads,
        isolation,
        recorders.then_some(OutDir {
            dir: out_dir,
            unconfined: false,
        }),
        Some(sys::allocations),
        Some(sys::resources),
        |n| bar.set_position(n),
    );
    bar.finish_and_clear();
    let report = report?;
    outln!(
        "{}: {}×{}, {} frames after {} of warm-up, {} thread(s)\n  median {:.4} ms, p95 {:.4} ms, p99 {:.4} ms, {:.1} fps\n  peak memory {} KiB, CPU {:.0} % of a core, {:.2} allocations per frame",
        report.scene,
        report.width,
        report.height,
        report.frames,
        report.warmup,
        report.threads,
        report.median_ms,
        report.p95_ms,
        report.p99_ms,
        report.fps,
        report.peak_rss_kib.unwrap_or(0),
        report.cpu_percent.unwrap_or(0.0),
        report.allocations_per_frame.unwrap_or(0.0)
    )?;
    if let Some((median, p99)) = report.recording_ms {
        outln!("  recording: median {median:.4} ms, p99 {p99:.4} ms of the render thread per frame")?;
        for r in &report.recorders {
            outln!(
                "    {}: {} frames recorded, {} dropped",
                r.id,
                r.recorded,
                r.dropped
            )?;
        }
    }
    if let Some(path) = &json {
        let text = serde_json::to_string_pretty(&report).context("serialising the figures")? + "\n";
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    match baseline {
        Some(b) => {
            let c = marquee::play::bench::compare(&report, &b, threshold);
            outln!("  {}", c.summary)?;
            if c.regressed {
                Err(Exit(Outcome::CheckFailed).into())
            } else {
                Ok(())
            }
        }
        None => Ok(()),
    }
}
