//! Observability: the metrics stream (never blocking, counting what it drops), `marquee bench`
//! with baselines, and JSON logs.

use std::io::{self, BufRead, Write};
use std::sync::Arc;
use std::time::Duration;

use marquee::observe::metrics::{MetricsStream, QUEUE};

use crate::util::{marquee, text};

/// A sink that stalls for `pause` after every `every` lines.
struct Slow {
    lines: Arc<std::sync::atomic::AtomicU64>,
    every: u64,
    pause: Duration,
}

impl Write for Slow {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        for _ in buf.iter().filter(|&&b| b == b'\n') {
            let n = self.lines.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            if n.is_multiple_of(self.every) {
                std::thread::sleep(self.pause);
            }
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn at_a_thousand_frames_a_second_a_slow_reader_loses_under_one_percent() {
    let lines = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let sink = Slow {
        lines: lines.clone(),
        every: 50,
        pause: Duration::from_millis(40),
    };
    let mut stream = MetricsStream::start(Box::new(sink));
    const FRAMES: u64 = 3000;
    for i in 0..FRAMES {
        stream.frame(|r| r.frame = i);
        std::thread::sleep(Duration::from_millis(1));
    }
    let report = stream.finish().unwrap();
    assert!(report.dropped * 100 < FRAMES, "{report:?}");
    assert_eq!(report.written + report.dropped, FRAMES + 1, "{report:?}");
    assert_eq!(lines.load(std::sync::atomic::Ordering::SeqCst), report.written);
}

/// A sink whose writes wait until it is released.
struct Stuck(Arc<(std::sync::Mutex<bool>, std::sync::Condvar)>);

impl Write for Stuck {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let (lock, released) = &*self.0;
        let mut open = lock.lock().unwrap();
        while !*open {
            open = released.wait(open).unwrap();
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.write(&[]).map(|_| ())
    }
}

#[test]
fn a_stalled_reader_never_blocks_the_frames_and_every_lost_line_is_counted() {
    let gate = Arc::new((std::sync::Mutex::new(false), std::sync::Condvar::new()));
    let mut stream = MetricsStream::start(Box::new(Stuck(gate.clone())));
    // The reader is stuck: the queue fills, then frames are dropped, and still every call
    // returns at once (this loop would hang otherwise).
    let frames = QUEUE as u64 + 2000;
    for i in 0..frames {
        stream.frame(|r| r.frame = i);
    }
    let dropped = stream.dropped();
    assert!(dropped >= 1000, "{dropped}");
    *gate.0.lock().unwrap() = true;
    gate.1.notify_all();
    let report = stream.finish().unwrap();
    assert_eq!(report.dropped, dropped);
    // Every frame line was either written or counted as dropped; plus the end line.
    assert_eq!(report.written + report.dropped, frames + 1, "{report:?}");
}

#[test]
fn finishing_never_waits_past_its_deadline_for_a_stuck_reader() {
    let gate = Arc::new((std::sync::Mutex::new(false), std::sync::Condvar::new()));
    let mut stream = MetricsStream::start(Box::new(Stuck(gate.clone())));
    for i in 0..QUEUE as u64 + 10 {
        stream.frame(|r| r.frame = i);
    }
    let t0 = std::time::Instant::now();
    let e = stream.finish_within(Duration::from_millis(200)).unwrap_err();
    // The deadline, then one second for a writer that was cut off to notice.
    assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
    assert_eq!(e.kind(), io::ErrorKind::TimedOut);
    assert!(
        e.to_string().contains("did not take the last lines within 200ms"),
        "{e}"
    );
    // The writer left behind ends when its sink does.
    *gate.0.lock().unwrap() = true;
    gate.1.notify_all();
}

#[test]
fn a_socket_reader_that_never_reads_cannot_hold_the_end_of_a_run() {
    let dir = tempfile::tempdir().unwrap();
    let scene = dir.path().join("tiny.toml");
    std::fs::write(
        &scene,
        "fps = 25\n[canvas]\nwidth = 8\nheight = 4\n[[layer]]\nplugin = \"solid\"\n",
    )
    .unwrap();
    // Accepts the connection, then never reads: the socket's buffers fill, then the queue.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    let holder = std::thread::spawn(move || {
        let t0 = std::time::Instant::now();
        while t0.elapsed() < Duration::from_secs(18) {
            if let Ok((socket, _)) = listener.accept() {
                return Some(socket);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    });
    let metrics = format!("tcp://{addr}");
    let child = crate::util::headless(&scene, 200_000, &["--metrics", &metrics])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = crate::util::wait_bounded(
        child,
        Duration::from_secs(18),
        "a run with a stuck metrics reader",
    );
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    assert!(shown.contains("did not take the last lines within 5s"), "{shown}");
    assert!(
        shown.contains("200000 frames"),
        "the run itself completed: {shown}"
    );
    assert!(holder.join().unwrap().is_some(), "the run connected");
}

/// `docs/metrics.schema.json`, checked to be what `marquee schema metrics` prints, compiled.
fn metrics_schema() -> jsonschema::Validator {
    let published: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(crate::util::root().join("docs/metrics.schema.json")).unwrap(),
    )
    .unwrap();
    let out = marquee(&["schema", "metrics"]);
    assert!(out.status.success(), "{}", text(&out));
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        published, printed,
        "docs/metrics.schema.json is stale: `marquee schema metrics > docs/metrics.schema.json`"
    );
    jsonschema::validator_for(&published).expect("a valid JSON Schema")
}

#[test]
fn every_kind_of_metrics_line_passes_the_published_schema_and_a_damaged_one_fails() {
    use marquee::engine::RecorderInfo;
    use marquee::isolate::watch::{Watch, What};
    use marquee::observe::metrics::{FrameRecord, Line, RecorderLine, StartLine, WatchdogLine};
    use marquee_plugin_api::PluginKind;
    let schema = metrics_schema();
    let lines = [
        Line::Start(StartLine {
            show: "s".into(),
            path: "s.toml".into(),
            fps: 60.0,
            width: 4,
            height: 2,
            every: 1,
            outputs: vec!["headless".into()],
            choice: "asked for".into(),
        }),
        Line::Layers {
            ids: vec!["a".into()],
        },
        Line::Recorders {
            recorders: [r#"{"codec":"mpeg4"}"#, "", "not json"]
                .map(|about| {
                    RecorderLine::from(&RecorderInfo {
                        id: "v".into(),
                        plugin: "video".into(),
                        about: about.into(),
                    })
                })
                .to_vec(),
        },
        Line::Frame(Box::new(FrameRecord {
            layers: vec![Duration::from_micros(5)],
            recorders: vec![Default::default()],
            allocations: Some(0),
            ..FrameRecord::default()
        })),
        Line::Frame(Box::default()),
        Line::Watchdog(WatchdogLine::from(
            &Watch::new(PluginKind::Renderer, "fractal", "mandelbrot").event(
                7,
                What::Hung {
                    call: "render",
                    deadline: Duration::from_millis(500),
                },
                Some(Duration::from_millis(50)),
            ),
        )),
        Line::End {
            frames: 1,
            lines_dropped: 0,
        },
    ];
    for line in &lines {
        let value = serde_json::to_value(line).unwrap();
        let errors: Vec<String> = schema.iter_errors(&value).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{value}: {errors:#?}");
    }
    let recorders = serde_json::to_value(&lines[2]).unwrap();
    assert_eq!(recorders["recorders"][0]["info"]["codec"], "mpeg4");
    assert_eq!(recorders["recorders"][1]["info"], serde_json::json!({}));
    assert_eq!(recorders["recorders"][2]["info"]["text"], "not json");
    // The schema is not vacuous: a frame line without a set's time, or of an unknown type, fails.
    let mut frame = serde_json::to_value(&lines[3]).unwrap();
    frame["sets_ms"].as_object_mut().unwrap().remove("render");
    assert!(!schema.is_valid(&frame), "{frame}");
    assert!(!schema.is_valid(&serde_json::json!({"type": "nonsense"})));
}

#[test]
fn run_streams_metrics_lines_to_a_file_and_a_loopback_socket() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("m.jsonl");
    let out = marquee(&[
        "run",
        "scenes/showcase.toml",
        "--output",
        "headless",
        "--unpaced",
        "--frames",
        "40",
        "--metrics",
        file.to_str().unwrap(),
        "--metrics-every",
        "4",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(lines[0]["type"], "start");
    assert_eq!(lines[0]["width"], 256);
    assert_eq!(lines[1]["type"], "layers");
    assert_eq!(lines[1]["ids"], serde_json::json!(["fractal", "sparkles"]));
    assert_eq!(
        lines[2],
        serde_json::json!({"type": "recorders", "recorders": []})
    );
    let schema = metrics_schema();
    for line in &lines {
        let errors: Vec<String> = schema.iter_errors(line).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{line}: {errors:#?}");
    }
    let frames: Vec<_> = lines.iter().filter(|l| l["type"] == "frame").collect();
    assert_eq!(frames.len(), 10, "every 4th of 40 frames");
    assert_eq!(frames[1]["frame"], 4);
    assert!(frames[1]["sets_ms"]["render"].as_f64().unwrap() > 0.0);
    assert_eq!(frames[1]["layers_ms"].as_array().unwrap().len(), 2);
    // Steady state: the render thread allocates nothing per frame.
    assert_eq!(frames.last().unwrap()["allocations"], 0);
    assert_eq!(lines.last().unwrap()["type"], "end");
    assert_eq!(lines.last().unwrap()["lines_dropped"], 0);

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = format!("tcp://{}", listener.local_addr().unwrap());
    let reader = std::thread::spawn(move || {
        let (socket, _) = listener.accept().unwrap();
        io::BufReader::new(socket)
            .lines()
            .map(|l| l.unwrap())
            .collect::<Vec<_>>()
    });
    let out = marquee(&[
        "run",
        "scenes/showcase.toml",
        "--output",
        "headless",
        "--unpaced",
        "--frames",
        "5",
        "--metrics",
        &addr,
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let got = reader.join().unwrap();
    assert_eq!(got.len(), 1 + 2 + 5 + 1, "{got:?}");

    let out = marquee(&[
        "run",
        "scenes/showcase.toml",
        "--metrics",
        "tcp://192.0.2.1:9",
        "--frames",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("loopback"),
        "{}",
        text(&out)
    );
}

#[test]
fn bench_reports_percentiles_and_catches_a_regression_against_a_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("b.json");
    let out = marquee(&[
        "bench",
        "scenes/showcase.toml",
        "--frames",
        "30",
        "--warmup",
        "5",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("median") && stdout.contains("p99") && stdout.contains("allocations per frame"));
    let mut report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["frames"], 30);
    assert_eq!(
        report["allocations_per_frame"], 0.0,
        "steady frames allocate nothing"
    );
    assert!(report["p99_ms"].as_f64().unwrap() >= report["median_ms"].as_f64().unwrap());
    assert!(report["peak_rss_kib"].as_u64().unwrap() > 0);

    // A baseline 100 times faster than anything real: a regression, exit 1.
    report["median_ms"] = serde_json::json!(report["median_ms"].as_f64().unwrap() / 100.0);
    let fast = dir.path().join("fast.json");
    std::fs::write(&fast, report.to_string()).unwrap();
    let args = |baseline: &str| {
        vec![
            "bench".to_string(),
            "scenes/showcase.toml".into(),
            "--frames".into(),
            "10".into(),
            "--warmup".into(),
            "2".into(),
            "--baseline".into(),
            baseline.into(),
        ]
    };
    let run = |a: Vec<String>| marquee(&a.iter().map(String::as_str).collect::<Vec<_>>());
    let out = run(args(fast.to_str().unwrap()));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("a regression"),
        "{}",
        text(&out)
    );
    // The same baseline with a generous threshold passes.
    let mut generous = args(fast.to_str().unwrap());
    generous.extend(["--threshold".to_string(), "1000000".to_string()]);
    assert!(run(generous).status.success());
    // A file that is not a bench report is bad input, named with its line.
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{\n  \"median_ms\": \"fast\"\n}\n").unwrap();
    let out = run(args(bad.to_str().unwrap()));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("bad.json:2:"),
        "{}",
        text(&out)
    );
}

#[test]
fn logs_can_be_json_lines() {
    let out = marquee(&[
        "--log-format",
        "json",
        "run",
        "scenes/showcase.toml",
        "--output",
        "headless",
        "--frames",
        "2",
        "--unpaced",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<serde_json::Value> = stderr.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(lines.iter().any(|l| {
        l["fields"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("output: headless"))
    }));
    assert!(lines.iter().all(|l| l["level"].is_string()));
}
