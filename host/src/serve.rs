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
use std::thread::JoinHandle;

use serde_json::json;
use tiny_http::{Header, Method, Request, Response};

use crate::output::Control;
use crate::play::control::{Command, Refused, Remote};

/// The largest request body read, in bytes.
pub const MAX_BODY: usize = 64 << 10;
/// Threads answering requests.
pub const WORKERS: usize = 2;

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
    pub fn start(addr: SocketAddr, token: Option<String>, remote: Remote) -> Result<Server, ServeError> {
        let http = tiny_http::Server::http(addr).map_err(|e| ServeError {
            addr,
            reason: e.to_string(),
        })?;
        let bound = http.server_addr().to_ip().ok_or_else(|| ServeError {
            addr,
            reason: "not an IP address".into(),
        })?;
        let http = Arc::new(http);
        let token: Arc<Option<String>> = Arc::new(token);
        let workers = (0..WORKERS)
            .map(|i| {
                let (http, remote, token) = (Arc::clone(&http), remote.clone(), Arc::clone(&token));
                std::thread::Builder::new()
                    .name(format!("marquee-serve-{i}"))
                    .spawn(move || {
                        for request in http.incoming_requests() {
                            answer(request, &remote, token.as_deref());
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
    let mut all = vec![("GET", "/api/status")];
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
fn answer(mut request: Request, remote: &Remote, token: Option<&str>) {
    if request.body_length().is_some_and(|n| n > MAX_BODY) {
        return error(
            request,
            413,
            &format!("a request body may hold at most {MAX_BODY} bytes"),
        );
    }
    if let Some(token) = token
        && !token_of(&request).is_some_and(|given| same(&given, token))
    {
        return error(
            request,
            401,
            "this show's remote control needs its token: `Authorization: Bearer TOKEN` or `?token=TOKEN`",
        );
    }
    // Bodies are not used yet: read (bounded) and dropped, so the connection stays usable.
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
    if path == "/api/status" {
        return match method {
            Method::Get => reply(
                request,
                200,
                serde_json::to_value(remote.status()).expect("status serialises"),
            ),
            _ => error(request, 405, "GET /api/status"),
        };
    }
    let Some(&(_, command)) = COMMANDS.iter().find(|(p, _)| *p == path) else {
        return error(request, 404, &format!("no endpoint {path}; see docs/control.md"));
    };
    if method != Method::Post {
        return error(request, 405, &format!("POST {path}"));
    }
    match remote.send(command) {
        Ok(()) => reply(
            request,
            202,
            json!({ "queued": path.trim_start_matches("/api/") }),
        ),
        Err(e @ Refused::Busy) => error(request, 503, &e.to_string()),
        Err(e @ Refused::Ended) => error(request, 410, &e.to_string()),
    }
}
