//! `marquee traces`: a directory of scenes traced and verified through the binary, with the
//! JUnit XML report read back as a CI system reads it.

use std::path::Path;

use quick_junit::{NonSuccessKind, Report, TestCaseStatus};

use crate::util::{marquee, text};

fn scene(dir: &Path, name: &str, layer: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join(name),
        format!("name = \"{name}\"\nseed = 1\n[canvas]\nwidth = 32\nheight = 8\n[[layer]]\n{layer}\n"),
    )
    .unwrap();
}

fn report(path: &Path) -> Report {
    Report::deserialize_from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn a_directory_of_scenes_is_traced_then_verified_with_a_junit_report() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let scenes = d.join("scenes");
    scene(
        &scenes,
        "flat.toml",
        "plugin = \"solid\"\nconfig = { color = \"#204080\" }",
    );
    scene(&scenes, "ramp.toml", "plugin = \"gradient\"");
    scene(
        &scenes,
        "sparks.toml",
        "plugin = \"random-pixels\"\nconfig = { count = 20 }",
    );
    let (s, out) = (scenes.to_str().unwrap(), d.join("traces"));
    let o = out.to_str().unwrap();
    let junit = d.join("trace.xml");
    let run = marquee(&[
        "traces",
        s,
        "--out",
        o,
        "--frames",
        "12",
        "--junit",
        junit.to_str().unwrap(),
    ]);
    assert!(run.status.success(), "{}", text(&run));
    assert!(
        text(&run).contains("3 scenes: 3 passed, 0 differ, 0 failed"),
        "{}",
        text(&run)
    );
    let r = report(&junit);
    assert_eq!((r.tests, r.failures, r.errors), (3, 0, 0));
    assert!(out.join("ramp/index.json").exists() && out.join("sparks/trace.gif").exists());

    // One scene changed, one scene new (no trace yet): verify finds both, and says where the
    // diff images are.
    scene(
        &scenes,
        "flat.toml",
        "plugin = \"solid\"\nconfig = { color = \"#204081\" }",
    );
    scene(&scenes, "zebra.toml", "plugin = \"solid\"");
    let junit = d.join("verify.xml");
    let run = marquee(&[
        "traces",
        s,
        "--out",
        o,
        "--verify",
        "--junit",
        junit.to_str().unwrap(),
    ]);
    assert_eq!(run.status.code(), Some(1), "{}", text(&run));
    let shown = text(&run);
    assert!(
        shown.contains("DIFFERS") && shown.contains("flat.toml: frame 0"),
        "{shown}"
    );
    assert!(
        shown.contains("4 scenes: 2 passed, 1 differ, 1 failed"),
        "{shown}"
    );
    assert!(
        shown.contains("diff images:") && shown.contains("difference-00000.png"),
        "{shown}"
    );
    let r = report(&junit);
    assert_eq!((r.tests, r.failures, r.errors), (4, 1, 1));
    let cases = &r.test_suites[0].test_cases;
    let flat = cases
        .iter()
        .find(|c| c.name.as_str().ends_with("flat.toml"))
        .unwrap();
    let TestCaseStatus::NonSuccess {
        kind: NonSuccessKind::Failure,
        message,
        description,
        ..
    } = &flat.status
    else {
        panic!("{:?}", flat.status)
    };
    assert!(
        message
            .as_ref()
            .unwrap()
            .as_str()
            .contains("frame 0 of 12 differs")
    );
    let listed = description.as_ref().unwrap().as_str();
    let png = listed
        .lines()
        .find_map(|l| l.strip_prefix("difference: "))
        .unwrap();
    assert!(Path::new(png.trim()).exists(), "{listed}");
    let out_text = flat.system_out.as_ref().unwrap().as_str();
    assert!(
        out_text.contains("[[ATTACHMENT|") && out_text.contains("expected-00000.png"),
        "{out_text}"
    );
    let zebra = cases
        .iter()
        .find(|c| c.name.as_str().ends_with("zebra.toml"))
        .unwrap();
    assert!(matches!(
        zebra.status,
        TestCaseStatus::NonSuccess {
            kind: NonSuccessKind::Error,
            ..
        }
    ));
    assert!(
        cases
            .iter()
            .all(|c| c.classname.as_ref().unwrap().as_str() == "marquee.verify")
    );
}

#[test]
fn scenes_are_shared_out_between_shards_and_names_may_not_collide() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let scenes = d.join("scenes");
    for name in ["a.toml", "b.toml", "c.toml"] {
        scene(&scenes, name, "plugin = \"solid\"");
    }
    let (s, o) = (scenes.to_str().unwrap(), d.join("t"));
    let mut traced = Vec::new();
    for shard in ["1/2", "2/2"] {
        let run = marquee(&[
            "traces",
            s,
            "--out",
            o.to_str().unwrap(),
            "--frames",
            "2",
            "--shard",
            shard,
        ]);
        assert!(run.status.success(), "{}", text(&run));
        traced.extend(String::from_utf8_lossy(&run.stdout).lines().filter_map(|l| {
            l.strip_prefix("traced   ")
                .map(|l| l.split(' ').next().unwrap().to_string())
        }));
    }
    traced.sort();
    let want: Vec<String> = ["a", "b", "c"].iter().map(|n| format!("{s}/{n}.toml")).collect();
    assert_eq!(traced, want, "each scene traced by exactly one shard");
    scene(&d.join("other"), "a.toml", "plugin = \"gradient\"");
    let run = marquee(&[
        "traces",
        &format!("{s}/a.toml"),
        d.join("other/a.toml").to_str().unwrap(),
        "--out",
        o.to_str().unwrap(),
    ]);
    assert_eq!(run.status.code(), Some(2), "{}", text(&run));
    assert!(text(&run).contains("would both trace to"), "{}", text(&run));
}
