//! Loading plugin files: every standard plugin from its `.so`, and every way loading can fail.

use std::path::{Path, PathBuf};

use marquee::plugins::registry::{LoadError, Origin, Registry, load_file};
use marquee_plugin_api::{ABI_VERSION, PluginKind};

use crate::util::{so, standard_sos};

#[test]
fn standard_plugins_load_from_their_so_with_the_builtin_manifest() {
    let builtin = Registry::builtin();
    for file in standard_sos() {
        let p = load_file(&file).unwrap();
        assert_eq!(p.origin, Origin::File(file.clone()));
        assert_eq!(
            p.manifest,
            builtin.get(p.id()).unwrap().manifest,
            "{}",
            file.display()
        );
    }
}

#[test]
fn a_so_plugin_replaces_the_builtin_of_the_same_id() {
    let mut r = Registry::builtin();
    r.load(&so("marquee_plugin_mandelbrot"));
    assert!(matches!(r.get("mandelbrot").unwrap().origin, Origin::File(_)));
    assert_eq!(r.shadowed().len(), 1);
    assert_eq!(r.plugins().len(), Registry::builtin().plugins().len());
}

#[test]
fn the_same_id_from_two_files_is_a_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("libcopy.so");
    std::fs::copy(so("marquee_fixture_panicky"), &copy).unwrap();
    let mut r = Registry::builtin();
    r.load(&so("marquee_fixture_panicky"));
    r.load(&copy);
    assert!(
        matches!(&r.failures()[0], LoadError::Duplicate { id, .. } if id == "panicky"),
        "{:?}",
        r.failures()
    );
}

#[test]
fn abi_major_mismatch_is_refused_with_id_version_and_host_abi() {
    let err = load_file(&so("marquee_fixture_abi_major_2")).unwrap_err();
    match &err {
        LoadError::AbiMismatch {
            id,
            version,
            plugin_abi,
            host,
            ..
        } => {
            assert_eq!((id.as_str(), version.as_str()), ("from-the-future", "9.0.0"));
            assert_eq!(plugin_abi.major, 2);
            assert_eq!(*host, ABI_VERSION);
        }
        other => panic!("unexpected {other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.contains("libmarquee_fixture_abi_major_2") && text.contains("rebuild the plugin"),
        "{text}"
    );
}

#[test]
fn a_file_that_is_not_a_library() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("libfake.so");
    std::fs::write(&fake, "this is not ELF").unwrap();
    let err = load_file(&fake).unwrap_err();
    assert!(matches!(err, LoadError::NotALibrary { .. }), "{err:?}");
    assert!(err.to_string().contains("libfake.so"));
}

/// A shared library that is certainly not a Marquee plugin: the C maths library.
fn libm() -> PathBuf {
    let candidates = [
        "/lib/x86_64-linux-gnu/libm.so.6",
        "/usr/lib/x86_64-linux-gnu/libm.so.6",
        "/lib/aarch64-linux-gnu/libm.so.6",
        "/usr/lib64/libm.so.6",
        "/lib64/libm.so.6",
    ];
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .expect("no libm.so.6 found on this system")
}

#[test]
fn a_library_that_is_not_a_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("libm.so");
    std::fs::copy(libm(), &copy).unwrap();
    let err = load_file(&copy).unwrap_err();
    assert!(matches!(err, LoadError::NotAPlugin { .. }), "{err:?}");
    assert!(err.to_string().contains("export_plugin!"), "{err}");
}

#[test]
fn a_missing_directory_is_reported_and_the_rest_still_loads() {
    // The target directory holds the standard plugins, the example and the fixtures, one of
    // which aborts whoever loads it: scanned in child processes first, as the binary does.
    let scanner = marquee::plugins::scan::Scanner::new(env!("CARGO_BIN_EXE_marquee").into(), None);
    let (r, _) = Registry::discover_scanned(
        &[
            PathBuf::from("/nonexistent/marquee-plugins"),
            crate::util::lib_dir(),
        ],
        scanner,
    );
    assert!(matches!(r.failures()[0], LoadError::Directory { .. }));
    assert!(r.get("panicky").is_some());
    assert!(
        r.failures()
            .iter()
            .any(|f| matches!(f, LoadError::AbiMismatch { .. }))
    );
    assert!(
        r.failures()
            .iter()
            .any(|f| matches!(f, LoadError::Crashed { .. }))
    );
    let builtin = Registry::builtin();
    let mut expected = builtin.ids_of(PluginKind::Renderer);
    expected.extend(["panicky", "plasma", "wayward"]);
    expected.sort_unstable();
    assert_eq!(r.ids_of(PluginKind::Renderer), expected);
}

#[test]
fn load_errors_name_the_file() {
    for e in [
        LoadError::NotAPlugin {
            path: Path::new("/x/liba.so").into(),
        },
        LoadError::Directory {
            path: Path::new("/x").into(),
            reason: "gone".into(),
        },
        LoadError::BuiltForAnother {
            path: Path::new("/x/libb.so").into(),
            built: marquee_plugin_api::AbiVersion { major: 2, minor: 0 },
            host: ABI_VERSION,
        },
    ] {
        assert!(e.to_string().contains(&e.path().display().to_string()));
        assert_eq!(e.to_string().lines().count(), 1, "{e}");
    }
}

#[test]
fn the_external_example_plugin_loads_from_its_so_and_matches_its_stored_trace() {
    let mut r = Registry::builtin();
    r.load(&so("marquee_example_plasma"));
    assert!(r.failures().is_empty(), "{:?}", r.failures());
    assert!(matches!(r.get("plasma").unwrap().origin, Origin::File(_)));
    let example = crate::util::root().join("examples/plasma/tests");
    // The stored trace was made with the plugin linked in; the .so must reproduce it exactly.
    let outcome = marquee::testing::try_check_trace(
        &example.join("plasma.toml"),
        20,
        &example.join("traces/plasma"),
        &r,
    );
    assert_eq!(outcome, Ok(marquee::testing::TraceCheck::Matched));
}

#[test]
fn a_directory_with_only_an_rlib_says_how_to_build_a_plugin() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("libsparkle.rlib"), "!<arch>\n").unwrap();
    let mut r = Registry::builtin();
    r.load_dir(dir.path());
    let [e] = r.failures() else {
        panic!("{:?}", r.failures())
    };
    let shown = e.to_string();
    assert!(
        shown.contains("holds no plugin library (.so), only libsparkle.rlib")
            && shown.contains("crate-type = [\"cdylib\", \"rlib\"]"),
        "{shown}"
    );
}

#[test]
fn every_plugin_crate_is_built_in_through_the_one_list() {
    // plugins/<name>/ is a standard plugin (with plugins/<name>/cdylib for its .so), and
    // plugins/standard/Cargo.toml lists it: nothing else needs editing to add one.
    let mut dirs: Vec<String> = std::fs::read_dir(crate::util::root().join("plugins"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "standard")
        .collect();
    dirs.sort();
    let mut ids: Vec<String> = Registry::builtin()
        .plugins()
        .iter()
        .map(|p| p.id().to_string())
        .collect();
    ids.sort();
    assert_eq!(
        ids, dirs,
        "plugins/standard/Cargo.toml lists every plugin crate, once"
    );
    for dir in &dirs {
        let cdylib = crate::util::root()
            .join("plugins")
            .join(dir)
            .join("cdylib/Cargo.toml");
        assert!(cdylib.exists(), "{} is missing", cdylib.display());
    }
}

#[test]
fn no_plugin_crate_links_another() {
    // What one plugin needs of another (a clip of a recorder, a fallback) goes through the host's
    // registry, so a `.so` that replaces a built-in is what every scene gets: a plugin crate
    // depends on the plugin API and no other plugin.
    for entry in std::fs::read_dir(crate::util::root().join("plugins")).unwrap() {
        let dir = entry.unwrap().path();
        if dir.ends_with("standard") {
            continue;
        }
        let manifest: toml::Table =
            toml::from_str(&std::fs::read_to_string(dir.join("Cargo.toml")).unwrap()).unwrap();
        let linked: Vec<&String> = ["dependencies", "build-dependencies"]
            .iter()
            .filter_map(|k| manifest.get(*k).and_then(|d| d.as_table()))
            .flat_map(|d| d.keys())
            .filter(|name| name.starts_with("marquee-") && *name != "marquee-plugin-api")
            .collect();
        assert!(linked.is_empty(), "{} links {linked:?}", dir.display());
    }
}

/// `marquee ARGS` with the plugin scan's cache in `cache`.
fn marquee_cached(cache: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_marquee"))
        .args(args)
        .env("MARQUEE_CACHE_DIR", cache)
        .env_remove("MARQUEE_PLUGIN_PATH")
        .output()
        .unwrap()
}

#[test]
fn a_plugin_whose_load_time_code_aborts_is_one_failure_line_not_a_dead_host() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    let aborting = plugins.join("libmarquee_fixture_abort_on_load.so");
    std::fs::copy(so("marquee_fixture_abort_on_load"), &aborting).unwrap();
    std::fs::copy(
        so("marquee_example_plasma"),
        plugins.join("libmarquee_example_plasma.so"),
    )
    .unwrap();
    let cache = dir.path().join("cache");
    let listing = |expect_scan: Option<usize>| {
        let out = marquee_cached(&cache, &["plugins", "--plugin-dir", plugins.to_str().unwrap()]);
        let shown = crate::util::text(&out);
        // A failed check (a file did not load), not a process killed by SIGABRT.
        assert_eq!(out.status.code(), Some(1), "{shown}");
        assert!(shown.contains("crashed the process that loaded it"), "{shown}");
        assert!(shown.contains("SIGABRT"), "{shown}");
        assert!(shown.contains("plasma"), "the good plugin still loads: {shown}");
        match expect_scan {
            Some(n) => assert!(
                shown.contains(&format!(
                    "plugin scan: {n} file(s) loaded in a child process first"
                )),
                "{shown}"
            ),
            None => assert!(!shown.contains("plugin scan:"), "all from the cache: {shown}"),
        }
    };
    listing(Some(2));
    // Start-up does not pay twice: both files are known from the cache.
    listing(None);
    assert!(cache.join("plugin-scan.json").exists());
    // A changed file is scanned again.
    let f = std::fs::OpenOptions::new().append(true).open(&aborting).unwrap();
    f.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(5))
        .unwrap();
    drop(f);
    listing(Some(1));
    // And a show runs with the plugins that load.
    let scene = dir.path().join("s.toml");
    std::fs::write(
        &scene,
        "[canvas]\nwidth = 8\nheight = 4\n[[layer]]\nplugin = \"plasma\"\n",
    )
    .unwrap();
    let out = marquee_cached(
        &cache,
        &[
            "run",
            scene.to_str().unwrap(),
            "--plugin-dir",
            plugins.to_str().unwrap(),
            "--output",
            "headless",
            "--frames",
            "3",
            "--unpaced",
        ],
    );
    assert!(out.status.success(), "{}", crate::util::text(&out));
}

#[test]
fn after_a_killed_run_the_next_start_names_its_plugins_and_safe_mode_runs_built_ins_only() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    std::fs::copy(
        so("marquee_example_plasma"),
        plugins.join("libmarquee_example_plasma.so"),
    )
    .unwrap();
    let cache = dir.path().join("cache");
    let scene = dir.path().join("s.toml");
    std::fs::write(
        &scene,
        "[canvas]\nwidth = 8\nheight = 4\n[[layer]]\nplugin = \"plasma\"\n",
    )
    .unwrap();
    let (scene, plugins) = (scene.to_str().unwrap(), plugins.to_str().unwrap());
    let run = |extra: &[&str]| -> Vec<String> {
        [
            &[
                "run",
                scene,
                "--plugin-dir",
                plugins,
                "--output",
                "headless",
                "--unpaced",
            ][..],
            extra,
        ]
        .concat()
        .into_iter()
        .map(String::from)
        .collect()
    };
    // A run killed with SIGKILL while it shows the plasma from its file.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_marquee"))
        .args(run(&["--frames", "100000000"]))
        .env("MARQUEE_CACHE_DIR", &cache)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let runs = cache.join("runs");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::fs::read_dir(&runs).map_or(true, |mut d| d.next().is_none()) {
        assert!(std::time::Instant::now() < deadline, "no run marker appeared");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // The next start says so, naming the plugin and what to do.
    let args = run(&["--frames", "2"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = marquee_cached(&cache, &args);
    let shown = crate::util::text(&out);
    assert!(out.status.success(), "{shown}");
    assert!(shown.contains("ended uncleanly"), "{shown}");
    assert!(
        shown.contains("`plasma`") && shown.contains("libmarquee_example_plasma.so"),
        "{shown}"
    );
    assert!(shown.contains("--safe-mode"), "{shown}");
    // Said once: this run ended cleanly, and the killed one was reported.
    let out = marquee_cached(&cache, &args);
    assert!(
        !crate::util::text(&out).contains("ended uncleanly"),
        "{}",
        crate::util::text(&out)
    );
    // Safe mode: built-in plugins only, so the scene's plasma is unknown.
    let out = marquee_cached(&cache, &[&args[..], &["--safe-mode"]].concat());
    assert_eq!(out.status.code(), Some(2), "{}", crate::util::text(&out));
    assert!(
        crate::util::text(&out).contains("plasma"),
        "{}",
        crate::util::text(&out)
    );
    // One plugin left out by id, and `marquee plugins` says so.
    let out = marquee_cached(
        &cache,
        &["plugins", "--plugin-dir", plugins, "--disable-plugin", "plasma"],
    );
    let shown = crate::util::text(&out);
    assert!(out.status.success(), "{shown}");
    assert!(
        shown.contains("`plasma` from") && shown.contains("is disabled: --disable-plugin"),
        "{shown}"
    );
}
