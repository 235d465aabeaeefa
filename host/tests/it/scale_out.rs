//! The recipes of `docs/scale-out.md`, tried here as far as one machine allows: GNU parallel for
//! real (2 jobs); the GitHub Actions workflow's matrix and merge jobs run step by step, with
//! artifacts as directories; the Kubernetes Indexed Job's container command run once per index
//! with `JOB_COMPLETION_INDEX` set, then the merge Job's. Each merged trace must be byte-identical
//! to an unsharded one.

use std::path::{Path, PathBuf};
use std::process::Command;

use yaml_rust2::{Yaml, YamlLoader};

use crate::util::{root, text};

/// Seconds traced by each recipe here (the recipes say 120).
const SECONDS: &str = "2";

/// A directory standing for a checkout or an image: the show's scene files under `scenes/`.
fn checkout(dir: &Path) -> PathBuf {
    let scenes = dir.join("scenes");
    std::fs::create_dir_all(&scenes).unwrap();
    for entry in std::fs::read_dir(root().join("scenes")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            std::fs::copy(&path, scenes.join(path.file_name().unwrap())).unwrap();
        }
    }
    dir.to_path_buf()
}

/// The marquee binary under test where a recipe expects it (a symbolic link: a debug build is
/// a hundred megabytes, and the recipes would copy it eight times).
fn install(bin_dir: &Path) -> PathBuf {
    std::fs::create_dir_all(bin_dir).unwrap();
    let to = bin_dir.join("marquee");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_marquee"), &to).unwrap();
    to
}

/// `marquee trace SCENE --seconds SECONDS` run alone in `work` (a checkout): the reference.
fn unsharded(work: &Path, scene: &str) -> PathBuf {
    let out = work.join("unsharded");
    let run = Command::new(env!("CARGO_BIN_EXE_marquee"))
        .args(["trace", scene, "--seconds", SECONDS, "--out"])
        .arg(&out)
        .current_dir(work)
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", text(&run));
    out
}

fn assert_same_trace(a: &Path, b: &Path) {
    for file in ["index.json", "trace.gif"] {
        let (x, y) = (
            std::fs::read(a.join(file)).unwrap(),
            std::fs::read(b.join(file)).unwrap(),
        );
        assert!(x == y, "{file} of {} differs from {}", b.display(), a.display());
    }
}

fn sh(shell: &str, script: &str, cwd: &Path, env: &[(String, String)]) {
    let path = format!(
        "{}:{}",
        cwd.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run = Command::new(shell)
        .args(["-e", "-c", script])
        .current_dir(cwd)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("PATH", path)
        .output()
        .unwrap();
    assert!(run.status.success(), "{script}\n{}", text(&run));
}

/// Copies the files of `from` into `to`; symbolic links stay links.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let dest = to.join(path.file_name().unwrap());
        match std::fs::read_link(&path) {
            Ok(target) => std::os::unix::fs::symlink(target, dest).unwrap(),
            Err(_) => {
                std::fs::copy(&path, dest).unwrap();
            }
        }
    }
}

#[test]
fn gnu_parallel_traces_two_shards_at_once_and_merges_them() {
    assert!(
        Command::new("parallel")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success()),
        "GNU parallel is missing: `apt-get install parallel` (.ci/run installs it)"
    );
    let dir = tempfile::tempdir().unwrap();
    let work = checkout(dir.path());
    let marquee = install(&work.join("bin"));
    let run = Command::new(root().join("scripts/trace-parallel.sh"))
        .args(["scenes/showcase.toml", SECONDS, "2", "out"])
        .env("MARQUEE", &marquee)
        .current_dir(&work)
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", text(&run));
    assert!(work.join("out/shards/2/index.json").exists());
    assert_same_trace(&unsharded(&work, "scenes/showcase.toml"), &work.join("out/trace"));
}

fn load(file: &str) -> Vec<Yaml> {
    YamlLoader::load_from_str(&std::fs::read_to_string(root().join(file)).unwrap()).unwrap()
}

fn string(y: &Yaml) -> String {
    match y {
        Yaml::String(s) => s.clone(),
        Yaml::Integer(i) => i.to_string(),
        other => panic!("not a string: {other:?}"),
    }
}

/// The steps of a job, in order.
fn steps(job: &Yaml) -> Vec<&Yaml> {
    job["steps"].as_vec().expect("a job has steps").iter().collect()
}

#[test]
fn the_github_actions_recipe_runs_its_matrix_and_merge_jobs() {
    let doc = &load("docs/recipes/github-actions.yml")[0];
    let mut env: Vec<(String, String)> = doc["env"]
        .as_hash()
        .unwrap()
        .iter()
        .map(|(k, v)| (string(k), string(v)))
        .collect();
    let shards: u32 = env
        .iter()
        .find(|(k, _)| k == "SHARDS")
        .unwrap()
        .1
        .parse()
        .unwrap();
    let scene = env.iter().find(|(k, _)| k == "SCENE").unwrap().1.clone();
    env.retain(|(k, _)| k != "TRACE_SECONDS");
    env.push(("TRACE_SECONDS".into(), SECONDS.into()));
    let matrix: Vec<u32> = doc["jobs"]["shard"]["strategy"]["matrix"]["shard"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|s| s.as_i64().unwrap() as u32)
        .collect();
    assert_eq!(
        matrix,
        (1..=shards).collect::<Vec<_>>(),
        "the matrix lists shards 1 to SHARDS"
    );
    assert_eq!(string(&doc["jobs"]["merge"]["needs"]), "shard");

    let dir = tempfile::tempdir().unwrap();
    let artifacts = dir.path().join("artifacts");
    // The build job is not run here: its artifact is the binary under test.
    install(&artifacts.join("marquee"));
    let run_job = |job: &Yaml, workspace: &Path, matrix: Option<u32>| {
        checkout(workspace);
        for step in steps(job) {
            let with = &step["with"];
            match (step["uses"].as_str(), step["run"].as_str()) {
                (Some(u), _) if u.starts_with("actions/checkout@") => {}
                (Some(u), _) if u.starts_with("actions/download-artifact@") => {
                    let to = workspace.join(with["path"].as_str().unwrap());
                    if let Some(name) = with["name"].as_str() {
                        copy_dir(&artifacts.join(name), &to);
                    } else {
                        // A pattern: each artifact into a directory of its name.
                        let prefix = with["pattern"].as_str().unwrap().trim_end_matches('*');
                        for entry in std::fs::read_dir(&artifacts).unwrap() {
                            let name = entry.unwrap().file_name().into_string().unwrap();
                            if name.starts_with(prefix) {
                                copy_dir(&artifacts.join(&name), &to.join(&name));
                            }
                        }
                    }
                }
                (Some(u), _) if u.starts_with("actions/upload-artifact@") => {
                    let name = with["name"].as_str().unwrap().replace(
                        "${{ matrix.shard }}",
                        &matrix.map_or(String::new(), |m| m.to_string()),
                    );
                    copy_dir(
                        &workspace.join(with["path"].as_str().unwrap()),
                        &artifacts.join(name),
                    );
                }
                (None, Some(script)) => {
                    let script = script.replace(
                        "${{ matrix.shard }}",
                        &matrix.map_or(String::new(), |m| m.to_string()),
                    );
                    assert!(
                        !script.contains("${{"),
                        "an expression this test does not stand in for: {script}"
                    );
                    sh("bash", &script, workspace, &env);
                }
                other => panic!("a step this test does not know: {other:?}"),
            }
        }
    };
    for shard in &matrix {
        run_job(
            &doc["jobs"]["shard"],
            &dir.path().join(format!("shard-{shard}")),
            Some(*shard),
        );
    }
    let merge = dir.path().join("merge");
    run_job(&doc["jobs"]["merge"], &merge, None);
    assert_same_trace(&unsharded(&merge, &scene), &merge.join("merged"));
    assert_same_trace(&merge.join("merged"), &artifacts.join("trace"));
}

#[test]
fn the_kubernetes_recipe_runs_each_completion_index_then_merges() {
    let docs = load("docs/recipes/k8s-indexed-job.yaml");
    assert_eq!(docs.len(), 2, "the indexed job and the merge job");
    let spec = &docs[0]["spec"];
    assert_eq!(spec["completionMode"].as_str(), Some("Indexed"));
    let completions = spec["completions"].as_i64().unwrap();
    assert_eq!(spec["parallelism"].as_i64(), Some(completions));
    let dir = tempfile::tempdir().unwrap();
    let image = checkout(&dir.path().join("show"));
    install(&image.join("bin"));
    let volume = dir.path().join("volume");
    let container = |doc: &Yaml| -> (String, Vec<(String, String)>) {
        let c = &doc["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(c["workingDir"].as_str(), Some("/show"));
        let command: Vec<String> = c["command"].as_vec().unwrap().iter().map(string).collect();
        assert_eq!(command, ["sh", "-c"]);
        let mut env: Vec<(String, String)> = c["env"]
            .as_vec()
            .unwrap()
            .iter()
            .map(|e| (string(&e["name"]), string(&e["value"])))
            .collect();
        // The volume's mount path, and a shorter trace.
        let mount = c["volumeMounts"][0]["mountPath"].as_str().unwrap();
        for (k, v) in &mut env {
            if v == mount {
                *v = volume.to_str().unwrap().to_string();
            }
            if k == "TRACE_SECONDS" {
                *v = SECONDS.to_string();
            }
        }
        (string(&c["args"][0]), env)
    };
    let (script, env) = container(&docs[0]);
    let shards = env.iter().find(|(k, _)| k == "SHARDS").unwrap().1.clone();
    assert_eq!(
        shards,
        completions.to_string(),
        "SHARDS is the number of completions"
    );
    for index in 0..completions {
        let mut env = env.clone();
        env.push(("JOB_COMPLETION_INDEX".into(), index.to_string()));
        sh("sh", &script, &image, &env);
    }
    let (script, env) = container(&docs[1]);
    sh("sh", &script, &image, &env);
    assert_same_trace(&unsharded(&image, "scenes/showcase.toml"), &volume.join("merged"));
}
