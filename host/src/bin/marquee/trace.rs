//! `marquee trace`, `verify` and `test`: traces written, re-rendered and compared.

use std::io::Write;
use std::path::PathBuf;

use marquee::isolate::Isolation;
use marquee::model::show::Show;
use marquee::plugins::registry::Registry;
use marquee::trace::{self, Run};

use crate::exit::{Exit, Outcome};
use crate::logs::progress_bar;
use crate::{frame_rate, positive_seconds, warn_failures};

/// What `marquee trace` takes.
#[derive(Debug, clap::Args)]
pub struct TraceArgs {
    /// The scene or playlist file.
    pub scene: PathBuf,
    /// Seconds of scene time to trace (default for a playlist that does not loop: all of it).
    #[arg(long, conflicts_with = "frames", value_parser = positive_seconds)]
    pub seconds: Option<f64>,
    /// Frames to trace (at most 1,000,000).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=marquee::trace::MAX_FRAMES))]
    pub frames: Option<u64>,
    /// The trace directory to write.
    #[arg(long)]
    pub out: PathBuf,
    /// Worker threads.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Trace a scene at this frame rate instead of its own (recorded in the index, which
    /// `verify` follows).
    #[arg(long, value_parser = frame_rate)]
    pub fps: Option<f64>,
}

/// What `marquee verify` takes.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The trace directory.
    pub trace: PathBuf,
    /// Use this scene or playlist file instead of the one recorded in the trace.
    #[arg(long)]
    pub scene: Option<PathBuf>,
    /// Worker threads.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Print only the summary, not a line per frame.
    #[arg(long)]
    pub quiet: bool,
}

/// What `marquee test` takes.
#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// Scene or playlist files, or directories of them (their `.toml` files).
    #[arg(default_value = "tests")]
    pub paths: Vec<PathBuf>,
    /// Frames traced per scene.
    #[arg(long, default_value_t = 30)]
    pub frames: u64,
    /// Rewrite the stored traces with what the scenes make now (after a deliberate change).
    #[arg(long)]
    pub update: bool,
}

/// Traces the show `args` names.
pub fn trace(args: TraceArgs, registry: &Registry, isolation: Isolation) -> anyhow::Result<()> {
    let TraceArgs {
        scene,
        seconds,
        frames,
        out,
        threads,
        fps,
    } = args;
    warn_failures(registry);
    let mut show = Show::load(&scene, registry)?;
    if let Some(fps) = fps
        && !show.set_fps(fps)
    {
        eprintln!("error: --fps applies to scenes; every scene of a playlist keeps its own rate");
        return Err(Exit(Outcome::BadInput).into());
    }
    let frames = match (frames, seconds, show.length()) {
        (Some(n), _, _) => n,
        (None, Some(s), _) => trace::check_frames(trace::frames_for(s, show.fps()), "--seconds")?,
        (None, None, Some(n)) => n,
        (None, None, None) => {
            eprintln!(
                "error: {} loops forever; say how much to trace with --seconds or --frames",
                show.path().display()
            );
            return Err(Exit(Outcome::BadInput).into());
        }
    };
    let bar = progress_bar(frames, "tracing");
    let outcome =
        trace::trace_with_progress(&show, registry, &out, frames, Run { threads, isolation }, |n| {
            bar.set_position(n)
        });
    bar.finish_and_clear();
    let outcome = outcome?;
    let mut ms = outcome.frame_ms.clone();
    ms.sort_by(f64::total_cmp);
    outln!(
        "traced {} frames of {} ({}×{} at {} fps) to {} and {}; median {:.3} ms per frame",
        frames,
        show.path().display(),
        outcome.index.scene.width,
        outcome.index.scene.height,
        show.fps(),
        out.join(trace::GIF_FILE).display(),
        out.join(trace::INDEX_FILE).display(),
        ms[ms.len() / 2]
    )?;
    Ok(())
}

/// Re-renders the trace `args` names and compares it frame by frame.
pub fn verify(args: VerifyArgs, registry: &Registry, isolation: Isolation) -> anyhow::Result<()> {
    let VerifyArgs {
        trace: dir,
        scene,
        threads,
        quiet,
    } = args;
    warn_failures(registry);
    let stdout = std::io::stdout();
    let total = trace::read_index(&dir).map_or(0, |i| i.frames.len() as u64);
    let bar = progress_bar(total, "verifying");
    let report = trace::verify(
        &dir,
        registry,
        scene.as_deref(),
        Run { threads, isolation },
        |i, ok| {
            bar.set_position(i + 1);
            if !quiet {
                bar.suspend(|| {
                    let _ = writeln!(stdout.lock(), "frame {i:5} {}", if ok { "ok" } else { "DIFFERS" });
                });
            }
        },
    );
    bar.finish_and_clear();
    let report = report?;
    for note in &report.notes {
        tracing::info!("note: {note}");
    }
    match &report.mismatch {
        None => {
            outln!("ok: all {} frames of {} match", report.total, dir.display())?;
            Ok(())
        }
        Some(m) => {
            outln!(
                "FAILED: frame {} of {} differs (hash {} expected, {} found; {} pixels differ from the GIF's copy); {} frames matched before it",
                m.index,
                dir.display(),
                m.expected,
                m.actual,
                m.differing_pixels,
                report.matched
            )?;
            outln!("  expected:   {}", m.images.expected.display())?;
            outln!("  actual:     {}", m.images.actual.display())?;
            outln!("  difference: {}", m.images.difference.display())?;
            Err(Exit(Outcome::CheckFailed).into())
        }
    }
}

/// Snapshot-tests the scenes `args` names against their stored traces.
pub fn test(args: TestArgs, registry: &Registry) -> anyhow::Result<()> {
    let TestArgs {
        paths,
        frames,
        update,
    } = args;
    warn_failures(registry);
    let scenes = marquee::testing::scene_files(&paths).map_err(|e| {
        eprintln!("error: {e}");
        Exit(Outcome::BadInput)
    })?;
    let mode = marquee::testing::Mode {
        update,
        ci: std::env::var_os("CI").is_some(),
        how_to_update: "marquee test --update".into(),
    };
    let mut failed = 0;
    for scene in &scenes {
        let dir = marquee::testing::trace_dir_for(scene);
        match marquee::testing::check(scene, frames, &dir, registry, &mode) {
            Ok(marquee::testing::TraceCheck::Matched) => outln!(
                "ok       {} ({frames} frames match {})",
                scene.display(),
                dir.display()
            )?,
            Ok(marquee::testing::TraceCheck::Written) => outln!(
                "written  {} ({frames} frames to {})",
                scene.display(),
                dir.display()
            )?,
            Err(message) => {
                failed += 1;
                outln!("FAILED   {}\n{message}", scene.display())?;
            }
        }
    }
    outln!("{} scenes, {failed} failed", scenes.len())?;
    if failed == 0 {
        Ok(())
    } else {
        Err(Exit(Outcome::CheckFailed).into())
    }
}
