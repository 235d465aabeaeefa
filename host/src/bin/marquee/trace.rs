//! `marquee trace`, `verify` and `test`: traces written, re-rendered and compared.

use std::io::Write;
use std::path::PathBuf;

use marquee::isolate::Isolation;
use marquee::model::show::Show;
use marquee::plugins::registry::Registry;
use marquee::trace::shard::Shard;
use marquee::trace::{self, Run};

use crate::exit::{Exit, Outcome};
use crate::logs::progress_bar;
use crate::{frame_rate, positive_seconds, warn_failures};

/// What `marquee trace` takes: a show to trace, or `merge` and the shards to join.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct TraceCmd {
    /// `merge`, or nothing to trace a show.
    #[command(subcommand)]
    pub sub: Option<TraceSub>,
    /// What tracing a show takes.
    #[command(flatten)]
    pub args: TraceArgs,
}

/// What `marquee trace` does besides tracing.
#[derive(Debug, clap::Subcommand)]
pub enum TraceSub {
    /// Joins the shards `trace --shard` wrote (any order) into the whole trace, byte-identical to
    /// an unsharded one; refuses missing, repeated, overlapping or foreign shards.
    Merge(MergeArgs),
}

/// What `marquee trace merge` takes.
#[derive(Debug, clap::Args)]
pub struct MergeArgs {
    /// The shards' trace directories.
    #[arg(required = true)]
    pub shards: Vec<PathBuf>,
    /// The trace directory to write.
    #[arg(long)]
    pub out: PathBuf,
}

/// What tracing a show takes.
#[derive(Debug, clap::Args)]
pub struct TraceArgs {
    /// The scene or playlist file.
    #[arg(required = true)]
    pub scene: Option<PathBuf>,
    /// Seconds of scene time to trace (default for a playlist that does not loop: all of it).
    #[arg(long, conflicts_with = "frames", value_parser = positive_seconds)]
    pub seconds: Option<f64>,
    /// Frames to trace (at most 1,000,000).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=marquee::trace::MAX_FRAMES))]
    pub frames: Option<u64>,
    /// The trace directory to write.
    #[arg(long, required = true)]
    pub out: Option<PathBuf>,
    /// Trace only shard I of N of the frames (1/4 is the first quarter), for `trace merge` to
    /// join; the shard reaches its first frame exactly (docs/scale-out.md).
    #[arg(long, value_name = "I/N")]
    pub shard: Option<Shard>,
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
    /// Verify only shard I of N of the trace's frames (1/4 is the first quarter).
    #[arg(long, value_name = "I/N")]
    pub shard: Option<Shard>,
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

/// Traces the show `cmd` names, or merges shards.
pub fn trace(cmd: TraceCmd, registry: &Registry, isolation: Isolation) -> anyhow::Result<()> {
    if let Some(TraceSub::Merge(args)) = cmd.sub {
        return merge(args);
    }
    let TraceArgs {
        scene,
        seconds,
        frames,
        out,
        shard,
        threads,
        fps,
    } = cmd.args;
    let (Some(scene), Some(out)) = (scene, out) else {
        unreachable!("clap requires SCENE and --out without a subcommand")
    };
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
    let share = shard.map_or(0..frames, |s| s.frames(frames));
    let bar = progress_bar(share.end - share.start, "tracing");
    let run = Run { threads, isolation };
    let outcome = trace::trace_shard(&show, registry, &out, frames, shard, run, |n| bar.set_position(n));
    bar.finish_and_clear();
    let outcome = outcome?;
    let mut ms = outcome.frame_ms.clone();
    ms.sort_by(f64::total_cmp);
    if let Some(s) = shard {
        let how: Vec<String> = (outcome.reached.iter())
            .flat_map(|f| f.instances.iter())
            .map(|(kind, id, reach)| format!("{kind} `{id}` {}", reach.name()))
            .collect();
        let lead = outcome.index.shard.as_ref().map_or(0, |s| s.lead);
        outln!(
            "shard {s}: frames {}–{} of {frames}, encoded from key frame {}; frame {} reached in {:.1} ms{}",
            share.start,
            share.end - 1,
            share.start - lead,
            share.start,
            outcome.reach_ms,
            if how.is_empty() {
                String::new()
            } else {
                format!(" ({})", how.join(", "))
            }
        )?;
    }
    outln!(
        "traced {} frames of {} ({}×{} at {} fps) to {} and {}; median {:.3} ms per frame",
        share.end - share.start,
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
        shard,
    } = args;
    warn_failures(registry);
    let stdout = std::io::stdout();
    let held = trace::read_index(&dir).map_or(0, |i| i.frames.len() as u64);
    let bar = progress_bar(shard.map_or(held, |s| s.frames(held).count() as u64), "verifying");
    let mut done = 0;
    let report = trace::verify_shard(
        &dir,
        registry,
        scene.as_deref(),
        shard,
        Run { threads, isolation },
        |i, ok| {
            done += 1;
            bar.set_position(done);
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
        None if shard.is_some() => {
            outln!(
                "ok: all {} frames of shard {} of {} match (frames {}–{})",
                report.total,
                shard.map_or(String::new(), |s| s.to_string()),
                dir.display(),
                report.first,
                report.first + report.total - 1
            )?;
            Ok(())
        }
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

/// Joins the shards `args` names.
fn merge(args: MergeArgs) -> anyhow::Result<()> {
    let merged = trace::merge::merge(&args.shards, &args.out)?;
    outln!(
        "merged {} shards into {} frames of {} in {} and {} ({:.0} ms)",
        merged.shards,
        merged.index.frames.len(),
        merged.index.scene.path,
        args.out.join(trace::GIF_FILE).display(),
        args.out.join(trace::INDEX_FILE).display(),
        merged.ms
    )?;
    Ok(())
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
