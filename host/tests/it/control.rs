//! The remote control (`marquee run --serve`): status and transport over HTTP, every bad input
//! answered with a JSON error, tokens, and a show that keeps its pace under many readers.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::util::root;

/// A live run with its remote control, killed when dropped.
struct Show {
    child: Child,
    /// Its cache directory (the plugin scan's, safe mode's run markers): its own.
    _cache: tempfile::TempDir,
    addr: SocketAddr,
    /// What it printed, line by line.
    lines: std::sync::Mutex<mpsc::Receiver<String>>,
}

impl Show {
    fn start(scene: &str, extra: &[&str]) -> Show {
        let cache = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_marquee"))
            .env("MARQUEE_CACHE_DIR", cache.path())
            .args([
                "run",
                scene,
                "--output",
                "headless",
                "--no-reload",
                "--serve",
                "127.0.0.1:0",
            ])
            .args(extra)
            .current_dir(root())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, lines) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let t0 = Instant::now();
        let addr = loop {
            let Ok(line) = lines.recv_timeout(Duration::from_secs(20).saturating_sub(t0.elapsed())) else {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the run did not say where its remote control is");
            };
            if let Some(rest) = line.split("remote control: http://").nth(1) {
                break rest.split('/').next().unwrap().parse().unwrap();
            }
        };
        Show {
            child,
            _cache: cache,
            addr,
            lines: std::sync::Mutex::new(lines),
        }
    }

    /// Ends the show as Ctrl-C would (SIGTERM) and returns what it printed after its address.
    fn end(&mut self) -> String {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let t0 = Instant::now();
        while self.child.try_wait().unwrap().is_none() {
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "the show did not end on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let lines = self.lines.lock().unwrap();
        let mut said = Vec::new();
        // Until its standard error closes.
        while let Ok(line) = lines.recv_timeout(Duration::from_secs(5)) {
            said.push(line);
        }
        said.join("\n")
    }

    /// Sends `request` (a whole HTTP request) and returns the status code and the body.
    fn raw(&self, request: &[u8]) -> (u16, String) {
        let mut stream = TcpStream::connect(self.addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        stream.write_all(request).unwrap();
        // Nothing more comes: a request cut short ends here instead of waiting for the rest.
        let _ = stream.shutdown(std::net::Shutdown::Write);
        let mut bytes = Vec::new();
        let _ = stream.read_to_end(&mut bytes);
        let answer = String::from_utf8_lossy(&bytes);
        let code = answer
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_string();
        (code, body)
    }

    /// `METHOD PATH` with `headers`: the status code and the body as JSON.
    fn call(&self, method: &str, path: &str, headers: &[&str]) -> (u16, serde_json::Value) {
        let mut request =
            format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n");
        for h in headers {
            request.push_str(h);
            request.push_str("\r\n");
        }
        request.push_str("\r\n");
        let (code, body) = self.raw(request.as_bytes());
        let json = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body:?}"));
        (code, json)
    }

    fn status(&self) -> serde_json::Value {
        let (code, json) = self.call("GET", "/api/status", &[]);
        assert_eq!(code, 200, "{json}");
        json
    }

    /// Waits until `check` holds of the status (at most 10 s).
    fn until(&self, what: &str, check: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        let t0 = Instant::now();
        loop {
            let s = self.status();
            if check(&s) {
                return s;
            }
            assert!(t0.elapsed() < Duration::from_secs(10), "{what}: {s}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Show {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // What it said after its address, for a failing test's output.
        if let Ok(lines) = self.lines.lock() {
            for line in lines.try_iter() {
                eprintln!("{line}");
            }
        }
    }
}

#[test]
fn status_next_pause_resume_over_http() {
    let show = Show::start("scenes/tour.toml", &[]);
    let s = show.until("frames are made", |s| s["frame"].as_u64() > Some(3));
    assert_eq!(s["show"], "tour");
    assert_eq!(s["entry"], 0);
    assert_eq!(s["scene"], "showcase");
    assert_eq!(s["outputs"][0]["name"], "headless");
    assert!(s["frame_ms"]["p99"].as_f64().unwrap() > 0.0, "{s}");
    let (code, json) = show.call("POST", "/api/next", &[]);
    assert_eq!((code, &json["queued"]), (202, &serde_json::json!("next")));
    show.until("next switches the entry", |s| {
        s["entry"] == 1 && s["scene"] == "ticker"
    });
    assert_eq!(show.call("POST", "/api/pause", &[]).0, 202);
    let paused = show.until("paused", |s| s["paused"] == true);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(show.status()["frame"], paused["frame"], "no frame while paused");
    assert_eq!(show.call("POST", "/api/resume", &[]).0, 202);
    let frame = paused["frame"].as_u64().unwrap();
    show.until("resumed", |s| {
        s["paused"] == false && s["frame"].as_u64() > Some(frame + 3)
    });
    assert_eq!(show.call("POST", "/api/recording/stop", &[]).0, 202);
    show.until("recording stopped", |s| s["recording"] == false);
    assert_eq!(show.call("POST", "/api/previous", &[]).0, 202);
    show.until("previous", |s| s["entry"] == 0);
    assert_eq!(show.call("POST", "/api/trigger", &[]).0, 202);
    // Straight to an entry by its number, as the status lists them.
    let entries = show.status()["entries"].as_array().unwrap().len();
    assert!(entries >= 3, "the tour has entries to jump between");
    let body = |b: &str| {
        show.raw(
            format!(
                "POST /api/entry HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{b}",
                b.len()
            )
            .as_bytes(),
        )
    };
    assert_eq!(body("{\"entry\": 2}").0, 202);
    show.until("entry 2", |s| s["entry"] == 2);
    for bad in [
        format!("{{\"entry\": {entries}}}"),
        "{\"entry\": -1}".into(),
        "{}".into(),
        "2".into(),
    ] {
        let (code, text) = body(&bad);
        assert_eq!(code, 400, "{bad}: {text}");
        assert!(text.contains(&format!("from 0 to {}", entries - 1)), "{text}");
    }
}

#[test]
fn every_bad_request_gets_a_json_error_and_the_server_goes_on() {
    let show = Show::start("scenes/showcase.toml", &[]);
    let (code, json) = show.call("GET", "/api/nowhere", &[]);
    assert_eq!(code, 404);
    assert!(
        json["error"]
            .as_str()
            .unwrap()
            .contains("no endpoint /api/nowhere"),
        "{json}"
    );
    let (code, json) = show.call("GET", "/api/next", &[]);
    assert_eq!((code, json["error"].as_str().unwrap()), (405, "POST /api/next"));
    let (code, json) = show.call("DELETE", "/api/status", &[]);
    assert_eq!((code, json["error"].as_str().unwrap()), (405, "GET /api/status"));
    // A body over the limit is refused unread.
    let (code, body) = show
        .raw(b"POST /api/next HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 1000000\r\n\r\n");
    assert_eq!(code, 413, "{body}");
    assert!(body.contains("at most 65536 bytes"), "{body}");
    // Garbage instead of HTTP, and a connection closed half way: the server answers the next.
    let _ = show.raw(b"\x00\xff garbage \r\n\r\n");
    drop(TcpStream::connect(show.addr).unwrap());
    let _ = show.raw(b"GET /api/sta");
    assert_eq!(show.status()["show"], "showcase");
}

#[test]
fn with_a_token_only_requests_that_carry_it_are_answered() {
    let show = Show::start("scenes/showcase.toml", &["--token", "s3cret"]);
    for headers in [
        &[][..],
        &["Authorization: Bearer wrong"],
        &["Authorization: s3cret"],
    ] {
        let (code, json) = show.call("GET", "/api/status", headers);
        assert_eq!(code, 401, "{headers:?}");
        assert!(
            json["error"].as_str().unwrap().contains("needs its token"),
            "{json}"
        );
    }
    assert_eq!(show.call("POST", "/api/pause", &[]).0, 401);
    let (code, json) = show.call("GET", "/api/status", &["Authorization: Bearer s3cret"]);
    assert_eq!((code, &json["show"]), (200, &serde_json::json!("showcase")));
    assert_eq!(show.call("GET", "/api/status?token=s3cret", &[]).0, 200);
    assert_eq!(show.call("GET", "/api/status?token=s3cre", &[]).0, 401);
}

#[test]
fn many_readers_do_not_slow_the_show() {
    let show = Show::start("scenes/showcase.toml", &[]);
    show.until("frames are made", |s| s["frame"].as_u64() > Some(3));
    let served = std::sync::atomic::AtomicU64::new(0);
    let t0 = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                while t0.elapsed() < Duration::from_secs(2) {
                    let (code, _) = show.call("GET", "/api/status", &[]);
                    assert_eq!(code, 200);
                    served.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            });
        }
    });
    let s = show.status();
    assert!(served.into_inner() > 50, "requests were answered");
    // The render loop never waited for a reader: no frame fell behind the clock, none dropped.
    assert_eq!(s["skipped"], 0, "{s}");
    assert_eq!(s["outputs"][0]["dropped"], 0, "{s}");
}

#[test]
fn the_published_api_description_lists_every_endpoint_and_the_status_passes_its_schema() {
    let text = std::fs::read_to_string(root().join("docs/control.openapi.json")).unwrap();
    let api: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut listed: Vec<(String, String)> = Vec::new();
    for (path, methods) in api["paths"].as_object().unwrap() {
        for method in methods.as_object().unwrap().keys() {
            listed.push((method.to_uppercase(), path.clone()));
        }
    }
    listed.sort();
    let mut served: Vec<(String, String)> = marquee::serve::endpoints()
        .into_iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    served.sort();
    assert_eq!(listed, served, "docs/control.openapi.json and serve.rs disagree");
    let schema = jsonschema::validator_for(&api["components"]["schemas"]["Status"]).unwrap();
    let show = Show::start("scenes/showcase.toml", &[]);
    let status = show.until("frames are made", |s| s["frame"].as_u64() > Some(1));
    let errors: Vec<String> = schema.iter_errors(&status).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{status}: {errors:?}");
    // Not vacuous: a status without its frame fails.
    let mut damaged = status.clone();
    damaged.as_object_mut().unwrap().remove("frame");
    assert!(!schema.is_valid(&damaged));
}

/// Reads one HTTP answer's head from `stream`: the status code and the headers, lowercased.
fn head(stream: &mut BufReader<TcpStream>) -> (u16, String) {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if stream.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
            break;
        }
        head.push_str(&line.to_ascii_lowercase());
    }
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, head)
}

/// Opens `GET /api/preview` and returns the stream after its head.
fn open_preview(show: &Show) -> (u16, String, BufReader<TcpStream>) {
    let mut stream = TcpStream::connect(show.addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream
        .write_all(b"GET /api/preview HTTP/1.0\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut reader = BufReader::new(stream);
    let (code, head) = head(&mut reader);
    (code, head, reader)
}

/// The next PNG part of a preview stream, decoded.
fn next_part(reader: &mut BufReader<TcpStream>) -> image::RgbaImage {
    let (_, part) = head(reader);
    assert!(part.contains("content-type: image/png"), "{part}");
    let len: usize = part
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let mut png = vec![0; len + 2];
    reader.read_exact(&mut png).unwrap();
    image::load_from_memory(&png[..len]).unwrap().to_rgba8()
}

#[test]
fn the_preview_is_the_show_as_it_moves() {
    let show = Show::start("scenes/showcase.toml", &[]);
    show.until("frames are made", |s| s["frame"].as_u64() > Some(3));
    let frame = |show: &Show| {
        let (code, png) = show.raw(b"GET /api/frame.png HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        assert_eq!(code, 200);
        png
    };
    assert!(frame(&show).starts_with("\u{fffd}PNG"), "a PNG");
    let (stream_code, head_text, mut reader) = open_preview(&show);
    assert_eq!(stream_code, 200, "{head_text}");
    assert!(
        head_text.contains("multipart/x-mixed-replace; boundary=frame"),
        "{head_text}"
    );
    let first = next_part(&mut reader);
    assert_eq!((first.width(), first.height()), (256, 64));
    // The showcase moves: within a second the preview shows another picture.
    let t0 = Instant::now();
    loop {
        let next = next_part(&mut reader);
        if next != first {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(5), "the preview never changed");
    }
    // It is the show's frame: the status counts it as an output beside headless.
    let s = show.status();
    assert_eq!(s["outputs"][1]["name"], "preview", "{s}");
}

#[test]
fn many_viewers_do_not_slow_the_show_and_too_many_are_refused() {
    use marquee::serve::MAX_VIEWERS;
    let show = Show::start("scenes/showcase.toml", &[]);
    show.until("frames are made", |s| s["frame"].as_u64() > Some(3));
    let mut viewers: Vec<_> = (0..MAX_VIEWERS).map(|_| open_preview(&show)).collect();
    assert!(viewers.iter().all(|(code, _, _)| *code == 200));
    let (code, body, _) = open_preview(&show);
    assert_eq!(code, 503, "{body}");
    // Every viewer gets frames for a second and a half, while the show keeps its pace.
    let t0 = Instant::now();
    std::thread::scope(|scope| {
        for (_, _, reader) in &mut viewers {
            scope.spawn(move || {
                while t0.elapsed() < Duration::from_millis(1500) {
                    next_part(reader);
                }
            });
        }
    });
    let s = show.status();
    assert_eq!(s["skipped"], 0, "{s}");
    assert_eq!(
        s["outputs"][0]["dropped"], 0,
        "the headless output lost nothing: {s}"
    );
    // A viewer that goes gives its place back.
    drop(viewers);
    let t0 = Instant::now();
    while open_preview(&show).0 != 200 {
        assert!(t0.elapsed() < Duration::from_secs(5), "places came back");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_page_works_in_a_real_browser() {
    // Headless Chromium (Debian `chromium`) driven by Playwright (`tests/browser`, `npm ci`):
    // both installed by .ci/run.
    let script = root().join("tests/browser/page.mjs");
    assert!(
        root().join("tests/browser/node_modules/playwright-core").exists(),
        "run `npm ci --prefix tests/browser` first (.ci/run does)"
    );
    let show = Show::start("scenes/tour.toml", &[]);
    // Kept as the test's artifact.
    let dir = crate::util::lib_dir().join("browser-test");
    std::fs::create_dir_all(&dir).unwrap();
    let screenshot = dir.join("page.png");
    let _ = std::fs::remove_file(&screenshot);
    let child = Command::new("node")
        .arg(&script)
        .arg(format!("http://{}/", show.addr))
        .arg(&screenshot)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node is installed");
    let out = crate::util::wait_bounded(child, Duration::from_secs(90), "the browser test");
    let shown = crate::util::text(&out);
    assert!(out.status.success(), "{shown}");
    assert!(
        shown.contains(r#""entry_before":"0","entry_after_next":"1""#),
        "{shown}"
    );
    let shot = image::open(&screenshot)
        .expect("a screenshot was saved")
        .to_rgba8();
    assert!(shot.width() >= 1000, "{}", screenshot.display());
    // The show is paused by the page's last click.
    show.until("paused from the page", |s| s["paused"] == true);
}

/// An OSC string: its bytes, a NUL, padded to a multiple of four (written here by hand, apart
/// from the `rosc` decoder the host uses).
fn osc_string(s: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(s.as_bytes());
    out.push(0);
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

/// An OSC message: `addr` with float arguments `floats`, or an int when `int` is given.
fn osc(addr: &str, floats: &[f32], int: Option<i32>) -> Vec<u8> {
    let mut out = Vec::new();
    osc_string(addr, &mut out);
    let tags: String = std::iter::once(',')
        .chain(floats.iter().map(|_| 'f'))
        .chain(int.map(|_| 'i'))
        .collect();
    osc_string(&tags, &mut out);
    for f in floats {
        out.extend_from_slice(&f.to_be_bytes());
    }
    if let Some(i) = int {
        out.extend_from_slice(&i.to_be_bytes());
    }
    out
}

#[test]
fn osc_drives_the_show_and_bad_messages_are_refused_and_counted() {
    let port = {
        // A free UDP port on loopback for the show to take.
        let probe = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let osc_addr = format!("127.0.0.1:{port}");
    let mut show = Show::start("scenes/tour.toml", &["--osc", &osc_addr]);
    show.until("frames are made", |s| s["frame"].as_u64() > Some(3));
    let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let send = |packet: &[u8]| {
        sender.send_to(packet, &osc_addr).unwrap();
    };
    // A layer's field, as a lighting desk's fader sends it.
    send(&osc("/marquee/layer/sparkles/count", &[], Some(7)));
    show.until("a layer field by OSC", |_| {
        show.call("GET", "/api/layers", &[])
            .1
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["config"]["count"] == 7)
    });
    send(&osc("/marquee/layer/sparkles/count", &[], Some(-3)));
    // A button's press moves on; its release (0) does nothing more.
    send(&osc("/marquee/next", &[1.0], None));
    send(&osc("/marquee/next", &[0.0], None));
    show.until("next by OSC", |s| s["entry"] == 1);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(show.status()["entry"], 1, "the release did not move on again");
    send(&osc("/marquee/entry", &[], Some(2)));
    show.until("entry by OSC", |s| s["entry"] == 2);
    send(&osc("/marquee/brightness", &[0.25], None));
    show.until("brightness by OSC", |s| {
        s["brightness"].as_f64() == Some(64.0 / 255.0)
    });
    send(&osc("/marquee/pause", &[], Some(1)));
    show.until("paused by OSC", |s| s["paused"] == true);
    send(&osc("/marquee/recording", &[], Some(0)));
    show.until("recording stopped by OSC", |s| s["recording"] == false);
    // Bad input: an unknown address, a value out of range, not OSC at all.
    send(&osc("/marquee/explode", &[], None));
    send(&osc("/marquee/brightness", &[7.0], None));
    send(b"\xff\xfe not osc");
    std::thread::sleep(Duration::from_millis(300));
    // Taken: next's press and its release, entry, a layer's count, brightness, pause, recording
    // (7); refused: a count out of range and the 3 below.
    let said = show.end();
    assert!(
        said.contains("OSC: refused a message") && said.contains("/marquee/explode"),
        "{said}"
    );
    assert!(said.contains("expected a brightness from 0 to 1"), "{said}");
    assert!(said.contains("not OSC"), "{said}");
    assert!(said.contains("OSC: 7 message(s) taken, 4 refused"), "{said}");
    assert!(
        said.contains("/marquee/layer/sparkles/count`: plugin `random-pixels`"),
        "{said}"
    );
}

#[test]
fn brightness_dims_what_the_outputs_show() {
    let show = Show::start("scenes/showcase.toml", &[]);
    show.until("frames are made", |s| s["frame"].as_u64() > Some(3));
    let (code, json) = show.call("POST", "/api/brightness", &[]);
    assert_eq!(code, 400, "no body: {json}");
    let with_body = |body: &str| {
        show.raw(
            format!(
                "POST /api/brightness HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
    };
    for bad in ["{\"level\": 2}", "{\"level\": \"x\"}", "not json", "[]"] {
        let (code, body) = with_body(bad);
        assert_eq!(code, 400, "{bad}: {body}");
        assert!(body.contains("brightness from 0 to 1"), "{body}");
    }
    assert_eq!(with_body("{\"level\": 0}").0, 202);
    show.until("dark", |s| s["brightness"] == 0.0);
    // The preview (an output) is black once the dimmed frames reach it.
    let t0 = Instant::now();
    let (_, _, mut reader) = open_preview(&show);
    loop {
        let frame = next_part(&mut reader);
        if frame.pixels().all(|p| p.0[..3] == [0, 0, 0]) {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "the preview never went dark"
        );
    }
    assert_eq!(with_body("{\"level\": 1}").0, 202);
    show.until("full", |s| s["brightness"] == 1.0);
}

#[test]
fn a_layer_field_changes_live_checked_as_a_scene_file_is() {
    let dir = tempfile::tempdir().unwrap();
    let scene = dir.path().join("still.toml");
    std::fs::write(
        &scene,
        "fps = 30\n[canvas]\nwidth = 8\nheight = 4\n[[layer]]\nid = \"wash\"\nplugin = \"solid\"\nconfig = { color = \"#ff0000\" }\n",
    )
    .unwrap();
    let show = Show::start(scene.to_str().unwrap(), &[]);
    show.until("frames are made", |s| s["frame"].as_u64() > Some(2));
    // The layers, with their configs and their plugins' schemas (what the page's forms show).
    let (code, layers) = show.call("GET", "/api/layers", &[]);
    assert_eq!(code, 200);
    assert_eq!(layers[0]["id"], "wash");
    assert_eq!(layers[0]["plugin"], "solid");
    assert_eq!(layers[0]["config"]["color"], "#ff0000");
    assert_eq!(layers[0]["schema"]["properties"]["pulse_hz"]["maximum"], 60.0);
    let post = |path: &str, body: &str| {
        show.raw(
            format!(
                "POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
    };
    let (code, body) = post("/api/layers/wash", r##"{"color": "#00ff00"}"##);
    assert_eq!(code, 200, "{body}");
    // The frame follows: the preview turns green.
    let t0 = Instant::now();
    loop {
        let mut stream = TcpStream::connect(show.addr).unwrap();
        stream
            .write_all(b"GET /api/frame.png HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut bytes = Vec::new();
        stream.read_to_end(&mut bytes).unwrap();
        let at = bytes.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let frame = image::load_from_memory(&bytes[at..]).unwrap().to_rgba8();
        if frame.get_pixel(0, 0).0 == [0, 255, 0, 255] {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "the frame never turned green"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        show.call("GET", "/api/layers", &[]).1[0]["config"]["color"],
        "#00ff00"
    );
    // Every bad change is refused with why, and nothing changes.
    for (path, body, why) in [
        (
            "/api/layers/nope",
            r##"{"color": "#000000"}"##,
            "has no layer `nope`; its layers: wash",
        ),
        (
            "/api/layers/wash",
            r##"{"colour": "#000000"}"##,
            "has no config field `colour`",
        ),
        ("/api/layers/wash", r#"{"pulse_hz": 600}"#, "plugin `solid`: "),
        ("/api/layers/wash", r#"{"pulse_hz": "fast"}"#, "plugin `solid`: "),
        (
            "/api/layers/wash",
            r#"{"color": "green-ish"}"#,
            "plugin `solid`: ",
        ),
        (
            "/api/layers/wash",
            "{}",
            "send a JSON object of the fields to change",
        ),
        (
            "/api/layers/wash",
            "not json",
            "send a JSON object of the fields to change",
        ),
    ] {
        let (code, text) = post(path, body);
        assert_eq!(code, 400, "{path} {body}: {text}");
        assert!(text.contains(why), "{path} {body}: {text}");
    }
    assert_eq!(show.call("GET", "/api/layers/wash", &[]).0, 405);
    // The status counts frames made per second of clock time.
    let fps = show.status()["fps"].as_f64().unwrap();
    assert!(fps > 5.0 && fps < 40.0, "{fps}");
    assert_eq!(
        show.call("GET", "/api/layers", &[]).1[0]["config"]["color"],
        "#00ff00"
    );
}

#[test]
fn the_status_carries_the_instances_counters() {
    // An isolated instance (a plugin from a file) that crashes once: its counts reach the
    // status within the refresh.
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        crate::util::so("marquee_fixture_wayward"),
        dir.path().join("libwayward.so"),
    )
    .unwrap();
    let scene = dir.path().join("crash.toml");
    // Its fifth call aborts, once (the file marks it done).
    let once = dir.path().join("once");
    std::fs::write(
        &scene,
        format!(
            "fps = 60\n[canvas]\nwidth = 8\nheight = 4\n[[layer]]\nid = \"w\"\nplugin = \"wayward\"\nconfig = {{ fail = \"abort\", after = 5, once = {:?} }}\n",
            once.display().to_string()
        ),
    )
    .unwrap();
    let show = Show::start(
        scene.to_str().unwrap(),
        &["--plugin-dir", dir.path().to_str().unwrap()],
    );
    let s = show.until("the crash and the restart counted", |s| {
        s["counters"]["w.isolation.crashes"] == 1 && s["counters"]["w.isolation.restarts"] == 1
    });
    assert!(s["counters"]["w.drawn"].as_u64() > Some(0), "{s}");
}
