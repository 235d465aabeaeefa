//! `marquee traces`: every scene of a directory traced, or verified against its trace, one result
//! per scene, and the results as a JUnit XML report (what CI systems show as tests).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::shard::Shard;
use super::{Mismatch, Run, TraceError, check_frames, frames_for, trace, verify};
use crate::model::show::Show;
use crate::plugins::registry::Registry;

/// Seconds traced of a scene that loops when neither frames nor seconds are given.
pub const DEFAULT_SECONDS: f64 = 10.0;

/// Trace the scenes, or verify them against their traces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Write each scene's trace.
    Trace,
    /// Verify each scene against the trace written before.
    Verify,
}

/// How a suite runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Trace or verify.
    pub mode: Mode,
    /// Frames per scene when tracing (else `seconds` at the scene's rate).
    pub frames: Option<u64>,
    /// Seconds per scene when tracing without `frames`; without either, a playlist that does
    /// not loop is traced whole and anything else for [`DEFAULT_SECONDS`].
    pub seconds: Option<f64>,
    /// The directory holding one trace directory per scene, named by the scene's file stem.
    pub out: PathBuf,
    /// Only this share of the scenes (scene `k` of the sorted list is in shard `k mod N + 1`).
    pub shard: Option<Shard>,
    /// Threads and isolation.
    pub run: Run,
}

/// What became of one scene.
#[derive(Debug)]
pub enum Verdict {
    /// Traced: this many frames written.
    Traced(u64),
    /// Verified: every one of this many frames matched.
    Matched(u64),
    /// Verified: a frame differs (its diff images written beside the trace).
    Differs {
        /// The first frame that differs.
        mismatch: Mismatch,
        /// Frames checked.
        total: u64,
    },
    /// The scene could not be traced or verified (bad scene, no trace, a plugin failed...).
    Error(String),
}

/// One scene's result.
#[derive(Debug)]
pub struct SceneResult {
    /// The scene file.
    pub scene: PathBuf,
    /// Its trace directory.
    pub trace: PathBuf,
    /// What became of it.
    pub verdict: Verdict,
    /// Notes for people (a changed plugin version...).
    pub notes: Vec<String>,
    /// How long it took.
    pub time: Duration,
}

impl SceneResult {
    /// Whether the scene passed (traced, or every frame matched).
    pub fn passed(&self) -> bool {
        matches!(self.verdict, Verdict::Traced(_) | Verdict::Matched(_))
    }
}

/// The scenes of `scenes` this run takes (its shard), each with its trace directory under
/// `out`. Two scenes with one file stem would share a directory: refused, naming both.
pub fn plan(scenes: &[PathBuf], options: &Options) -> Result<Vec<(PathBuf, PathBuf)>, String> {
    let mut seen: std::collections::BTreeMap<String, &Path> = Default::default();
    for scene in scenes {
        let stem = scene
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        if let Some(other) = seen.insert(stem.clone(), scene) {
            return Err(format!(
                "{} and {} would both trace to {}; give scenes with different file names",
                other.display(),
                scene.display(),
                options.out.join(&stem).display()
            ));
        }
    }
    Ok(scenes
        .iter()
        .enumerate()
        .filter(|(k, _)| {
            options
                .shard
                .is_none_or(|s| *k as u64 % s.count as u64 + 1 == s.index as u64)
        })
        .map(|(_, scene)| {
            let stem = scene.file_stem().unwrap_or_default();
            (scene.clone(), options.out.join(stem))
        })
        .collect())
}

fn one(scene: &Path, dir: &Path, registry: &Registry, options: &Options) -> (Verdict, Vec<String>) {
    let error = |e: TraceError| (Verdict::Error(e.to_string()), Vec::new());
    match options.mode {
        Mode::Trace => {
            let show = match Show::load(scene, registry) {
                Ok(s) => s,
                Err(e) => return error(e.into()),
            };
            let frames = match (options.frames, options.seconds, show.length()) {
                (Some(n), _, _) => n,
                (None, Some(s), _) => frames_for(s, show.fps()),
                (None, None, Some(n)) => n,
                (None, None, None) => frames_for(DEFAULT_SECONDS, show.fps()),
            };
            let traced = check_frames(frames, "the trace")
                .and_then(|frames| trace(&show, registry, dir, frames, options.run.clone()));
            match traced {
                Ok(outcome) => (Verdict::Traced(outcome.index.frames.len() as u64), Vec::new()),
                Err(e) => error(e),
            }
        }
        Mode::Verify => {
            if !dir.join(super::INDEX_FILE).exists() {
                return (
                    Verdict::Error(format!(
                        "no trace at {}; write one with `marquee traces` (without --verify)",
                        dir.display()
                    )),
                    Vec::new(),
                );
            }
            match verify(dir, registry, Some(scene), options.run.clone(), |_, _| {}) {
                Ok(report) => {
                    let verdict = match report.mismatch {
                        None => Verdict::Matched(report.total),
                        Some(mismatch) => Verdict::Differs {
                            mismatch,
                            total: report.total,
                        },
                    };
                    (verdict, report.notes)
                }
                Err(e) => error(e),
            }
        }
    }
}

/// Traces or verifies each scene of `planned` ([`plan`]) in turn, calling `on_result` as each
/// ends; one scene's failure never stops the others.
pub fn run(
    planned: &[(PathBuf, PathBuf)],
    registry: &Registry,
    options: &Options,
    mut on_result: impl FnMut(&SceneResult),
) -> Vec<SceneResult> {
    let mut results = Vec::with_capacity(planned.len());
    for (scene, dir) in planned {
        let t0 = Instant::now();
        let (verdict, notes) = one(scene, dir, registry, options);
        let result = SceneResult {
            scene: scene.clone(),
            trace: dir.clone(),
            verdict,
            notes,
            time: t0.elapsed(),
        };
        on_result(&result);
        results.push(result);
    }
    results
}

/// The results as a JUnit XML report: one test suite, `name`, with a test case per scene (its
/// path as the name); a differing frame is a `failure` whose text lists the diff images (also
/// given as `[[ATTACHMENT|path]]` lines, which Jenkins and GitLab show), anything else that went
/// wrong an `error`.
pub fn junit(results: &[SceneResult], name: &str, mode: Mode) -> String {
    let mut suite = TestSuite::new(name);
    let mut total = Duration::ZERO;
    for r in results {
        total += r.time;
        let status = match &r.verdict {
            Verdict::Traced(_) | Verdict::Matched(_) => TestCaseStatus::success(),
            Verdict::Differs { mismatch: m, total } => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_type("differs");
                s.set_message(format!(
                    "frame {} of {total} differs: hash {} expected, {} found; {} pixels differ from the trace's GIF",
                    m.index, m.expected, m.actual, m.differing_pixels
                ));
                s.set_description(format!(
                    "expected:   {}\nactual:     {}\ndifference: {}",
                    m.images.expected.display(),
                    m.images.actual.display(),
                    m.images.difference.display()
                ));
                s
            }
            Verdict::Error(message) => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
                s.set_type("error");
                s.set_message(message.clone());
                s
            }
        };
        let mut case = TestCase::new(r.scene.display().to_string(), status);
        case.set_classname(match mode {
            Mode::Trace => "marquee.trace",
            Mode::Verify => "marquee.verify",
        });
        case.set_time(r.time);
        let mut out = match &r.verdict {
            Verdict::Traced(n) => format!("traced {n} frames to {}\n", r.trace.display()),
            Verdict::Matched(n) => format!("all {n} frames match {}\n", r.trace.display()),
            Verdict::Differs { mismatch: m, .. } => {
                [&m.images.expected, &m.images.actual, &m.images.difference]
                    .iter()
                    .map(|p| {
                        format!(
                            "[[ATTACHMENT|{}]]\n",
                            std::path::absolute(p)
                                .unwrap_or_else(|_| p.to_path_buf())
                                .display()
                        )
                    })
                    .collect()
            }
            Verdict::Error(_) => String::new(),
        };
        for note in &r.notes {
            out.push_str(&format!("note: {note}\n"));
        }
        if !out.is_empty() {
            case.set_system_out(out);
        }
        suite.add_test_case(case);
    }
    suite.set_time(total);
    let mut report = Report::new("marquee traces");
    report.set_time(total);
    report.add_test_suite(suite);
    report.to_string().expect("a report of strings always serialises")
}
