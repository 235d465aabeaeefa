//! The remote control over HTTP (`marquee run --serve ADDR`): a small JSON API in front of a
//! [`Remote`] — the show's status, and transport commands — on a few threads of its own.
//!
//! A request never touches the render thread: status is read from the snapshot the live loop
//! publishes, commands go on its bounded queue (a full one answers 503 at once). Every answer,
//! errors included, is a JSON object; a request with a body over [`MAX_BODY`] is refused
//! unread; where a token is set, a request without it gets 401. `docs/control.md` lists the
//! endpoints; `docs/control.openapi.json` describes them.

use std::io::Read;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::json;
use tiny_http::{Header, Method, Request, Response};

use crate::output::Control;
use crate::output::preview::PreviewFeed;
use crate::play::control::{Command, NotConfigured, Refused, Remote};

/// The largest request body read, in bytes.
pub const MAX_BODY: usize = 64 << 10;
/// Threads answering requests.
pub const WORKERS: usize = 2;
/// Preview streams served at once (each on a thread of its own); more are refused (503).
pub const MAX_VIEWERS: usize = 32;
/// The page (`GET /`), embedded: no build step, nothing fetched from elsewhere.
pub const PAGE: &str = include_str!("serve/page.html");

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot serve the remote control on {addr}: {reason}; pick another address or port with --serve")]
pub struct ServeError {
    /// The address asked for.
    pub addr: SocketAddr,
    /// What the OS said.
    pub reason: String,
}

/// A running server; dropping it stops it.
pub struct Server {
    http: Arc<tiny_http::Server>,
    workers: Vec<JoinHandle<()>>,
    /// The address it listens on (the port chosen, where 0 was asked for).
    pub addr: SocketAddr,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Listens on `addr` and answers for `remote`; with a `token`, only requests that carry it
    /// (`Authorization: Bearer TOKEN`, or `?token=TOKEN`).
    pub fn start(
        addr: SocketAddr,
        token: Option<String>,
        remote: Remote,
        preview: Option<Arc<PreviewFeed>>,
    ) -> Result<Server, ServeError> {
        let http = tiny_http::Server::http(addr).map_err(|e| ServeError {
            addr,
            reason: e.to_string(),
        })?;
        let bound = http.server_addr().to_ip().ok_or_else(|| ServeError {
            addr,
            reason: "not an IP address".into(),
        })?;
        let http = Arc::new(http);
        let shared = Arc::new(Shared {
            remote,
            token,
            preview,
            viewers: Arc::new(AtomicUsize::new(0)),
        });
        let workers = (0..WORKERS)
            .map(|i| {
                let (http, shared) = (Arc::clone(&http), Arc::clone(&shared));
                std::thread::Builder::new()
                    .name(format!("marquee-serve-{i}"))
                    .spawn(move || {
                        for request in http.incoming_requests() {
                            answer(request, &shared);
                        }
                    })
                    .expect("a server thread starts")
            })
            .collect();
        Ok(Server {
            http,
            workers,
            addr: bound,
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        for _ in &self.workers {
            self.http.unblock();
        }
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

/// What the server's threads share.
struct Shared {
    remote: Remote,
    token: Option<String>,
    preview: Option<Arc<PreviewFeed>>,
    /// Preview streams open now.
    viewers: Arc<AtomicUsize>,
}

/// The endpoints that take a command, and the command each sends.
const COMMANDS: [(&str, Command); 7] = [
    ("/api/next", Command::Control(Control::Next)),
    ("/api/previous", Command::Control(Control::Previous)),
    ("/api/pause", Command::Pause(true)),
    ("/api/resume", Command::Pause(false)),
    ("/api/trigger", Command::Control(Control::Trigger)),
    ("/api/recording/start", Command::Recording(true)),
    ("/api/recording/stop", Command::Recording(false)),
];

/// Every endpoint, as method and path (what `docs/control.openapi.json` must list).
pub fn endpoints() -> Vec<(&'static str, &'static str)> {
    let mut all = vec![
        ("GET", "/"),
        ("GET", "/api/status"),
        ("GET", "/api/frame.png"),
        ("GET", "/api/preview"),
        ("POST", "/api/brightness"),
        ("POST", "/api/entry"),
        ("GET", "/api/layers"),
        ("POST", "/api/layers/{id}"),
    ];
    all.extend(COMMANDS.iter().map(|(path, _)| ("POST", *path)));
    all
}

fn json_header() -> Header {
    Header::from_bytes("Content-Type", "application/json").expect("a valid header")
}

fn reply(request: Request, code: u16, body: serde_json::Value) {
    let response = Response::from_string(body.to_string())
        .with_status_code(code)
        .with_header(json_header());
    // A client gone before its answer is its own business.
    let _ = request.respond(response);
}

fn error(request: Request, code: u16, message: &str) {
    reply(request, code, json!({ "error": message }));
}

/// Whether `given` is `token`, in time that does not depend on where they differ.
fn same(given: &str, token: &str) -> bool {
    given.len() == token.len() && given.bytes().zip(token.bytes()).fold(0, |d, (a, b)| d | (a ^ b)) == 0
}

/// The token a request carries, if any.
fn token_of(request: &Request) -> Option<String> {
    let header = request
        .headers()
        .iter()
        .find(|h| h.field.equiv("Authorization"))
        .and_then(|h| h.value.as_str().strip_prefix("Bearer ").map(str::to_string));
    header.or_else(|| {
        let (_, query) = request.url().split_once('?')?;
        query
            .split('&')
            .find_map(|kv| kv.strip_prefix("token=").map(str::to_string))
    })
}

/// Answers one request.
fn answer(mut request: Request, shared: &Shared) {
    if request.body_length().is_some_and(|n| n > MAX_BODY) {
        return error(
            request,
            413,
            &format!("a request body may hold at most {MAX_BODY} bytes"),
        );
    }
    if let Some(token) = &shared.token
        && !token_of(&request).is_some_and(|given| same(&given, token))
    {
        return error(
            request,
            401,
            "this show's remote control needs its token: `Authorization: Bearer TOKEN` or `?token=TOKEN`",
        );
    }
    // The body, read whole (bounded) whatever the endpoint, so the connection stays usable.
    let mut body = Vec::new();
    let read = request
        .as_reader()
        .take(MAX_BODY as u64 + 1)
        .read_to_end(&mut body);
    if read.is_err() || body.len() > MAX_BODY {
        return error(
            request,
            413,
            &format!("a request body may hold at most {MAX_BODY} bytes"),
        );
    }
    let path = request.url().split('?').next().unwrap_or("").to_string();
    let method = request.method().clone();
    let get = |request: Request, respond: &dyn Fn(Request)| match method {
        Method::Get => respond(request),
        _ => error(request, 405, &format!("GET {path}")),
    };
    match path.as_str() {
        "/" => get(request, &|r| {
            let page = Response::from_string(PAGE).with_header(
                Header::from_bytes("Content-Type", "text/html; charset=utf-8").expect("a valid header"),
            );
            let _ = r.respond(page);
        }),
        "/api/status" => get(request, &|r| {
            reply(
                r,
                200,
                serde_json::to_value(shared.remote.status()).expect("status serialises"),
            )
        }),
        "/api/frame.png" => get(request, &|r| frame(r, shared)),
        "/api/brightness" if method == Method::Post => {
            let level = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("level").and_then(serde_json::Value::as_f64));
            match level.and_then(crate::compose::brightness::level) {
                None => error(
                    request,
                    400,
                    "send a JSON object with the brightness from 0 to 1: {\"level\": 0.5}",
                ),
                Some(level) => self::command(request, shared, &path, Command::Brightness(level)),
            }
        }
        "/api/brightness" => error(request, 405, "POST /api/brightness"),
        "/api/entry" if method == Method::Post => {
            let entries = shared.remote.status().entries.len();
            let entry = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("entry").and_then(serde_json::Value::as_u64))
                .filter(|&e| (e as usize) < entries);
            match entry {
                None => error(
                    request,
                    400,
                    &format!(
                        "send a JSON object with the entry to go to, from 0 to {}: {{\"entry\": 1}}",
                        entries.saturating_sub(1)
                    ),
                ),
                Some(e) => self::command(request, shared, &path, Command::Entry(e as usize)),
            }
        }
        "/api/entry" => error(request, 405, "POST /api/entry"),
        "/api/layers" => get(request, &|r| {
            reply(
                r,
                200,
                serde_json::to_value(shared.remote.layers()).expect("layers serialise"),
            )
        }),
        _ if path.starts_with("/api/layers/") => {
            if method != Method::Post {
                return error(request, 405, "POST /api/layers/{id}");
            }
            let layer = path.trim_start_matches("/api/layers/").to_string();
            let fields = match serde_json::from_slice::<serde_json::Value>(&body) {
                Ok(serde_json::Value::Object(fields)) if !fields.is_empty() => fields,
                _ => {
                    return error(
                        request,
                        400,
                        "send a JSON object of the fields to change: {\"zoom_speed\": 0.5}",
                    );
                }
            };
            match shared.remote.configure(&layer, fields) {
                Ok(()) => reply(request, 200, json!({ "configured": layer })),
                Err(NotConfigured::Invalid(why)) => error(request, 400, &why),
                Err(NotConfigured::Refused(e @ Refused::Busy)) => error(request, 503, &e.to_string()),
                Err(NotConfigured::Refused(e @ Refused::Ended)) => error(request, 410, &e.to_string()),
                Err(e @ NotConfigured::TimedOut) => error(request, 503, &e.to_string()),
            }
        }
        "/api/preview" => get(request, &|r| stream(r, shared)),
        _ => {
            let Some(&(_, command)) = COMMANDS.iter().find(|(p, _)| *p == path) else {
                return error(request, 404, &format!("no endpoint {path}; see docs/control.md"));
            };
            if method != Method::Post {
                return error(request, 405, &format!("POST {path}"));
            }
            self::command(request, shared, &path, command)
        }
    }
}

/// Queues `command` (from `path`) and answers.
fn command(request: Request, shared: &Shared, path: &str, command: Command) {
    match shared.remote.send(command) {
        Ok(()) => reply(
            request,
            202,
            json!({ "queued": path.trim_start_matches("/api/") }),
        ),
        Err(e @ Refused::Busy) => error(request, 503, &e.to_string()),
        Err(e @ Refused::Ended) => error(request, 410, &e.to_string()),
    }
}

/// `GET /api/frame.png`: the latest preview frame.
fn frame(request: Request, shared: &Shared) {
    let Some(feed) = &shared.preview else {
        return error(request, 404, "this show has no preview");
    };
    match feed.latest() {
        None => error(request, 503, "no preview frame yet; try again"),
        Some((_, png)) => {
            let response = Response::from_data(png.as_slice())
                .with_header(Header::from_bytes("Content-Type", "image/png").expect("a valid header"))
                .with_header(Header::from_bytes("Cache-Control", "no-store").expect("a valid header"));
            let _ = request.respond(response);
        }
    }
}

/// `GET /api/preview`: the preview frames as they come, `multipart/x-mixed-replace` (what an
/// `<img>` shows as video), on a thread of the stream's own; a viewer too slow for a frame
/// gets the next one.
fn stream(request: Request, shared: &Shared) {
    let Some(feed) = &shared.preview else {
        return error(request, 404, "this show has no preview");
    };
    if shared.viewers.fetch_add(1, Ordering::SeqCst) >= MAX_VIEWERS {
        shared.viewers.fetch_sub(1, Ordering::SeqCst);
        return error(
            request,
            503,
            &format!("{MAX_VIEWERS} previews are open; close one"),
        );
    }
    let feed = Arc::clone(feed);
    let viewers = Arc::clone(&shared.viewers);
    // The stream is written by hand on the connection (a head, then one part per frame, each
    // flushed), so that no layer buffers a part or waits for the end of an endless body.
    let spawned = std::thread::Builder::new()
        .name("marquee-preview".into())
        .spawn(move || {
            let _ = send_parts(request.into_writer(), &feed);
            viewers.fetch_sub(1, Ordering::SeqCst);
        });
    if spawned.is_err() {
        shared.viewers.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Writes the preview stream on `out` until the viewer goes or the show ends.
fn send_parts(mut out: Box<dyn std::io::Write + Send>, feed: &PreviewFeed) -> std::io::Result<()> {
    out.write_all(
        b"HTTP/1.1 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=frame\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
    )?;
    out.flush()?;
    let mut seen = 0;
    loop {
        match feed.next_after(seen, Duration::from_secs(1)) {
            Some((seq, png)) => {
                seen = seq;
                write!(
                    out,
                    "--frame\r\nContent-Type: image/png\r\nContent-Length: {}\r\n\r\n",
                    png.len()
                )?;
                out.write_all(&png)?;
                out.write_all(b"\r\n")?;
                out.flush()?;
            }
            None if feed.is_closed() => return Ok(()),
            None => {}
        }
    }
}
