//! `marquee traces`: a directory of scenes traced, or verified, with a JUnit XML report.

use std::io::Write;
use std::path::PathBuf;

use marquee::isolate::Isolation;
use marquee::plugins::registry::Registry;
use marquee::trace::shard::Shard;
use marquee::trace::suite::{self, Mode, Options, Verdict};
use marquee::trace::{MAX_FRAMES, Run};

use crate::exit::{Exit, Outcome};
use crate::{positive_seconds, warn_failures};

/// What `marquee traces` takes.
#[derive(Debug, clap::Args)]
pub struct TracesArgs {
    /// Scene or playlist files, or directories of them (their `.toml` files).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// The directory of traces: one trace directory per scene, named by its file stem.
    #[arg(long)]
    pub out: PathBuf,
    /// Verify each scene against its trace in --out instead of writing it.
    #[arg(long)]
    pub verify: bool,
    /// Frames to trace per scene.
    #[arg(long, conflicts_with = "seconds", value_parser = clap::value_parser!(u64).range(1..=MAX_FRAMES))]
    pub frames: Option<u64>,
    /// Seconds to trace per scene, at its own rate (default: a playlist that does not loop
    /// whole, anything else 10 s).
    #[arg(long, value_parser = positive_seconds)]
    pub seconds: Option<f64>,
    /// Write a JUnit XML report here (one test case per scene).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Only shard I of N of the scenes (every Nth, from the I-th, in sorted order): a CI matrix
    /// entry per shard, each with its own report.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<Shard>,
    /// Worker threads.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
}

/// Traces or verifies every scene `args` names; exit 1 if any differs or fails.
pub fn traces(args: TracesArgs, registry: &Registry, isolation: Isolation) -> anyhow::Result<()> {
    warn_failures(registry);
    let bad_input = |message: String| {
        eprintln!("error: {message}");
        Exit(Outcome::BadInput)
    };
    let scenes = marquee::testing::scene_files(&args.paths).map_err(bad_input)?;
    let mode = if args.verify { Mode::Verify } else { Mode::Trace };
    let options = Options {
        mode,
        frames: args.frames,
        seconds: args.seconds,
        out: args.out.clone(),
        shard: args.shard,
        run: Run {
            threads: args.threads,
            isolation,
        },
    };
    let planned = suite::plan(&scenes, &options).map_err(bad_input)?;
    let results = suite::run(&planned, registry, &options, |r| {
        let line = match &r.verdict {
            Verdict::Traced(n) => format!(
                "traced   {} ({n} frames to {})",
                r.scene.display(),
                r.trace.display()
            ),
            Verdict::Matched(n) => format!(
                "ok       {} ({n} frames match {})",
                r.scene.display(),
                r.trace.display()
            ),
            Verdict::Differs { mismatch: m, .. } => format!(
                "DIFFERS  {}: frame {} (hash {} expected, {} found; {} pixels differ)",
                r.scene.display(),
                m.index,
                m.expected,
                m.actual,
                m.differing_pixels
            ),
            Verdict::Error(e) => format!("ERROR    {}: {e}", r.scene.display()),
        };
        let _ = writeln!(std::io::stdout().lock(), "{line}");
        for note in &r.notes {
            tracing::info!("{}: note: {note}", r.scene.display());
        }
    });
    if let Some(path) = &args.junit {
        let name = match args.shard {
            Some(s) => format!("marquee traces (shard {s})"),
            None => "marquee traces".to_string(),
        };
        let xml = suite::junit(&results, &name, mode);
        let mut file = marquee_plugin_api::files::create_regular(path)
            .map_err(|e| anyhow::Error::new(e).context(format!("cannot write {}", path.display())))?;
        file.write_all(xml.as_bytes())
            .map_err(|e| anyhow::Error::new(e).context(format!("cannot write {}", path.display())))?;
    }
    let differ: Vec<_> = results
        .iter()
        .filter_map(|r| match &r.verdict {
            Verdict::Differs { mismatch, .. } => Some(mismatch),
            _ => None,
        })
        .collect();
    let errors = results
        .iter()
        .filter(|r| matches!(r.verdict, Verdict::Error(_)))
        .count();
    outln!(
        "{} scene{}: {} passed, {} differ, {errors} failed{}",
        results.len(),
        if results.len() == 1 { "" } else { "s" },
        results.len() - differ.len() - errors,
        differ.len(),
        args.junit
            .as_ref()
            .map_or(String::new(), |p| format!("; JUnit report in {}", p.display()))
    )?;
    if !differ.is_empty() {
        outln!("diff images:")?;
        for m in &differ {
            for p in [&m.images.expected, &m.images.actual, &m.images.difference] {
                outln!("  {}", p.display())?;
            }
        }
    }
    if differ.is_empty() && errors == 0 {
        Ok(())
    } else {
        Err(Exit(Outcome::CheckFailed).into())
    }
}
