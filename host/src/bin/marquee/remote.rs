//! `marquee run --serve` and `--osc`: the remote control's servers, started beside the show
//! (the preview one more output), stopped after it.

use std::net::SocketAddr;
use std::sync::Arc;

use marquee::model::show::Show;
use marquee::osc::OscServer;
use marquee::output::preview::{Preview, PreviewFeed};
use marquee::output::{Output, OutputFactory};
use marquee::play::control::{Controlled, remote};
use marquee::serve::Server;

use crate::exit::{Exit, Outcome};

/// The servers of a run's remote control; dropped after the show, they stop.
pub struct Remotes {
    _http: Option<Server>,
    osc: Option<OscServer>,
}

impl Drop for Remotes {
    fn drop(&mut self) {
        if let Some(osc) = self.osc.take() {
            let counts = osc.stop();
            if counts.taken + counts.refused > 0 {
                tracing::info!(
                    "OSC: {} message(s) taken, {} refused",
                    counts.taken,
                    counts.refused
                );
            }
        }
    }
}

/// Starts what `--serve` and `--osc` ask for, if anything: the servers and the live loop's
/// side of the remote control. A preview output joins `outputs` (named in `names`) for `--serve`.
pub fn start(
    show: &Show,
    serve: Option<SocketAddr>,
    token: Option<String>,
    osc: Option<SocketAddr>,
    outputs: &mut Vec<OutputFactory>,
    names: &mut Vec<String>,
) -> anyhow::Result<Option<(Remotes, Controlled)>> {
    if serve.is_none() && osc.is_none() {
        return Ok(None);
    }
    let (remote, controlled) = remote();
    // What is about to play, for readers who ask before the first frame.
    controlled.publish(|s| {
        s.show = show.name().to_string();
        s.target_fps = show.fps();
        s.recording = true;
    });
    let http = match serve {
        None => None,
        Some(addr) => {
            let token = match token {
                Some(t) => Some(t),
                None if addr.ip().is_loopback() => None,
                None => Some(made_up_token().map_err(|e| {
                    eprintln!("error: cannot make a token for --serve {addr}: {e}; give one with --token");
                    Exit(Outcome::Environment)
                })?),
            };
            // The preview is one more output: its own thread, dropping what it cannot take.
            let feed = Arc::new(PreviewFeed::default());
            let preview = Arc::clone(&feed);
            outputs.push(Box::new(move |_, _| {
                Ok(Box::new(Preview::new(preview)) as Box<dyn Output>)
            }));
            names.push("preview".to_string());
            let server = Server::start(addr, token.clone(), remote.clone(), Some(feed)).map_err(|e| {
                eprintln!("error: {e}");
                Exit(Outcome::Environment)
            })?;
            tracing::info!(
                "remote control: http://{}/api/status (docs/control.md)",
                server.addr
            );
            if let Some(token) = &token {
                tracing::info!("remote control token: {token} (send it as `Authorization: Bearer {token}`)");
            }
            Some(server)
        }
    };
    let osc = match osc {
        None => None,
        Some(addr) => {
            let server = OscServer::start(addr, remote).map_err(|e| {
                eprintln!("error: cannot take OSC on {addr}: {e}; pick another address or port with --osc");
                Exit(Outcome::Environment)
            })?;
            tracing::info!("OSC control: udp://{} (docs/control.md)", server.addr);
            if !addr.ip().is_loopback() {
                tracing::warn!("OSC on {addr} has no password: anyone who can reach it controls the show");
            }
            Some(server)
        }
    };
    Ok(Some((Remotes { _http: http, osc }, controlled)))
}

/// A token for a remote control reachable beyond loopback: 128 bits from the OS, in hex.
fn made_up_token() -> std::io::Result<String> {
    use std::io::Read as _;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}
