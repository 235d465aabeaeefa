//! The remote control over OSC (`marquee run --osc ADDR`), for TouchOSC and lighting desks: UDP
//! messages at the addresses in [`ADDRESSES`], each turned into the same [`Command`] the HTTP
//! API sends, and `/marquee/layer/<id>/<field> <value>`, the same change of a layer's config as
//! `POST /api/layers/<id>` (checked and applied by the show), on a thread of its own. OSC is
//! decoded by `rosc`.
//!
//! Buttons send 1 when pressed and 0 when released: an action address acts on a message
//! without arguments or with a non-zero one, and ignores a 0. A message Marquee cannot take (an
//! unknown address, a wrong argument, a packet that is not OSC) is refused and counted; the
//! first few are logged with why, and the total is said at the end.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use rosc::{OscPacket, OscType};

use crate::output::Control;
use crate::play::control::{Command, Remote};

/// Every address, with what it does (docs/control.md lists the same).
pub const ADDRESSES: [(&str, &str); 9] = [
    ("/marquee/next", "the next playlist entry"),
    ("/marquee/previous", "the previous playlist entry"),
    ("/marquee/pause", "pause; with 0, go on"),
    ("/marquee/resume", "go on"),
    ("/marquee/trigger", "ask clip recorders for a clip"),
    ("/marquee/recording", "1: deliver frames to recorders, 0: stop"),
    (
        "/marquee/brightness",
        "the outputs' brightness, a number from 0 to 1",
    ),
    ("/marquee/screenshot", "save the frame as a PNG"),
    ("/marquee/entry", "go to this playlist entry, counting from 0"),
];

/// Refusals logged one by one before they are only counted.
pub const LOGGED_REFUSALS: u64 = 10;

/// What the OSC thread saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OscCounts {
    /// Messages taken (a command sent, or a button's release ignored).
    pub taken: u64,
    /// Messages or packets refused.
    pub refused: u64,
}

/// The OSC listener; dropping it stops it.
#[derive(Debug)]
pub struct OscServer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<OscCounts>>,
    /// The address it listens on (the port chosen, where 0 was asked for).
    pub addr: SocketAddr,
}

impl OscServer {
    /// Listens on `addr` and sends what arrives to `remote`.
    pub fn start(addr: SocketAddr, remote: Remote) -> io::Result<OscServer> {
        let socket = UdpSocket::bind(addr)?;
        // The stop flag is looked at this often.
        socket.set_read_timeout(Some(Duration::from_millis(200)))?;
        let bound = socket.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("marquee-osc".into())
            .spawn(move || listen(&socket, &remote, &flag))?;
        Ok(OscServer {
            stop,
            thread: Some(thread),
            addr: bound,
        })
    }

    /// Stops listening; what was taken and refused.
    pub fn stop(mut self) -> OscCounts {
        self.halt()
    }

    fn halt(&mut self) -> OscCounts {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.take().and_then(|t| t.join().ok()).unwrap_or_default()
    }
}

impl Drop for OscServer {
    fn drop(&mut self) {
        self.halt();
    }
}

fn listen(socket: &UdpSocket, remote: &Remote, stop: &AtomicBool) -> OscCounts {
    let mut counts = OscCounts::default();
    let mut buf = vec![0u8; rosc::decoder::MTU];
    while !stop.load(Ordering::SeqCst) {
        let (n, from) = match socket.recv_from(&mut buf) {
            Ok(got) => got,
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => continue,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                tracing::warn!("OSC: the socket failed ({e}); OSC control stops");
                break;
            }
        };
        let mut refuse = |why: String| {
            counts.refused += 1;
            if counts.refused <= LOGGED_REFUSALS {
                tracing::warn!("OSC: refused a message from {from}: {why}");
            }
        };
        let packet = match rosc::decoder::decode_udp(&buf[..n]) {
            Ok((_, packet)) => packet,
            Err(e) => {
                refuse(format!("not OSC ({e:?})"));
                continue;
            }
        };
        let mut messages = Vec::new();
        flatten(packet, &mut messages);
        for m in messages {
            if let Some(rest) = m.addr.strip_prefix(LAYER) {
                match layer_change(rest, &m.args) {
                    Ok((layer, fields)) => match remote.configure(&layer, fields) {
                        Ok(()) => counts.taken += 1,
                        Err(e) => refuse(format!("`{}`: {e}", m.addr)),
                    },
                    Err(why) => refuse(format!("`{}`: {why}", m.addr)),
                }
                continue;
            }
            match command_of(&m.addr, &m.args) {
                Ok(None) => counts.taken += 1,
                Ok(Some(command)) => match remote.send(command) {
                    Ok(()) => counts.taken += 1,
                    Err(e) => refuse(format!("`{}`: {e}", m.addr)),
                },
                Err(why) => refuse(format!("`{}`: {why}", m.addr)),
            }
        }
    }
    counts
}

/// The messages of `packet`, bundles opened (their time tags are not honoured: now).
fn flatten(packet: OscPacket, out: &mut Vec<rosc::OscMessage>) {
    match packet {
        OscPacket::Message(m) => out.push(m),
        OscPacket::Bundle(b) => {
            for p in b.content {
                flatten(p, out);
            }
        }
    }
}

/// The prefix of a layer field's address: `/marquee/layer/<id>/<field> <value>`.
pub const LAYER: &str = "/marquee/layer/";

/// The layer and the field change `/marquee/layer/<rest>` with `args` asks for (checked by the
/// show as the HTTP API's are), or why it cannot be taken.
pub fn layer_change(
    rest: &str,
    args: &[OscType],
) -> Result<(String, serde_json::Map<String, serde_json::Value>), String> {
    let Some((layer, field)) = rest
        .split_once('/')
        .filter(|(l, f)| !l.is_empty() && !f.is_empty() && !f.contains('/'))
    else {
        return Err(format!("expected {LAYER}<layer>/<field>"));
    };
    let value = match args {
        [OscType::Int(i)] => serde_json::Value::from(*i),
        [OscType::Long(i)] => serde_json::Value::from(*i),
        [OscType::Float(f)] => serde_json::Number::from_f64(*f as f64)
            .map(serde_json::Value::Number)
            .ok_or("expected a finite number")?,
        [OscType::Double(d)] => serde_json::Number::from_f64(*d)
            .map(serde_json::Value::Number)
            .ok_or("expected a finite number")?,
        [OscType::Bool(b)] => serde_json::Value::from(*b),
        [OscType::String(s)] => serde_json::Value::from(s.as_str()),
        _ => return Err("expected one value: a number, a boolean or a string".into()),
    };
    let mut fields = serde_json::Map::new();
    fields.insert(field.to_string(), value);
    Ok((layer.to_string(), fields))
}

/// A number from an argument (int, float, double or bool).
fn number(arg: &OscType) -> Option<f64> {
    match *arg {
        OscType::Int(i) => Some(i as f64),
        OscType::Long(i) => Some(i as f64),
        OscType::Float(f) => Some(f as f64),
        OscType::Double(d) => Some(d),
        OscType::Bool(b) => Some(b as u8 as f64),
        _ => None,
    }
}

/// The command a message at `addr` with `args` stands for: `Ok(None)` for a button's release,
/// `Err` with why it cannot be taken.
pub fn command_of(addr: &str, args: &[OscType]) -> Result<Option<Command>, String> {
    let arg = match args {
        [] => None,
        [one] => Some(
            number(one)
                .filter(|n| n.is_finite())
                .ok_or_else(|| format!("expected a number, got {one:?}"))?,
        ),
        _ => return Err(format!("expected at most one argument, got {}", args.len())),
    };
    // An action: with no argument or a non-zero one (a press); a 0 (a release) does nothing.
    let pressed = arg.is_none_or(|n| n != 0.0);
    let action = |c: Control| Ok(pressed.then_some(Command::Control(c)));
    match addr {
        "/marquee/next" => action(Control::Next),
        "/marquee/previous" => action(Control::Previous),
        "/marquee/trigger" => action(Control::Trigger),
        "/marquee/screenshot" => action(Control::Screenshot),
        "/marquee/pause" => Ok(Some(Command::Pause(pressed))),
        "/marquee/resume" => Ok(pressed.then_some(Command::Pause(false))),
        "/marquee/recording" => match arg {
            Some(n) => Ok(Some(Command::Recording(n != 0.0))),
            None => Err("expected 1 (record) or 0 (stop)".into()),
        },
        "/marquee/entry" => match arg.filter(|n| *n >= 0.0 && n.fract() == 0.0) {
            // An entry past the playlist's end changes nothing (`Player::jump_to`).
            Some(n) => Ok(Some(Command::Entry(n as usize))),
            None => Err("expected the entry to go to, a whole number from 0".into()),
        },
        "/marquee/brightness" => match arg.and_then(crate::compose::brightness::level) {
            Some(level) => Ok(Some(Command::Brightness(level))),
            None => Err("expected a brightness from 0 to 1".into()),
        },
        _ => Err(format!(
            "no such address; Marquee takes {}",
            ADDRESSES.map(|(a, _)| a).join(", ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buttons_act_on_press_and_values_are_checked() {
        let next = Some(Command::Control(Control::Next));
        assert_eq!(command_of("/marquee/next", &[]), Ok(next));
        assert_eq!(command_of("/marquee/next", &[OscType::Float(1.0)]), Ok(next));
        assert_eq!(command_of("/marquee/next", &[OscType::Float(0.0)]), Ok(None));
        assert_eq!(
            command_of("/marquee/pause", &[OscType::Int(0)]),
            Ok(Some(Command::Pause(false)))
        );
        assert_eq!(
            command_of("/marquee/brightness", &[OscType::Float(0.5)]),
            Ok(Some(Command::Brightness(128)))
        );
        assert!(command_of("/marquee/brightness", &[OscType::Float(2.0)]).is_err());
        assert!(command_of("/marquee/brightness", &[]).is_err());
        assert!(command_of("/marquee/recording", &[]).is_err());
        assert_eq!(
            command_of("/marquee/entry", &[OscType::Int(2)]),
            Ok(Some(Command::Entry(2)))
        );
        assert!(command_of("/marquee/entry", &[OscType::Float(1.5)]).is_err());
        assert!(command_of("/marquee/entry", &[OscType::Int(-1)]).is_err());
        assert!(command_of("/marquee/next", &[OscType::String("x".into())]).is_err());
        assert!(command_of("/marquee/next", &[OscType::Float(f32::NAN)]).is_err());
        assert!(command_of("/marquee/next", &[OscType::Int(1), OscType::Int(1)]).is_err());
        assert!(command_of("/other", &[]).unwrap_err().contains("/marquee/next"));
        let (layer, fields) = layer_change("wash/color", &[OscType::String("#00ff00".into())]).unwrap();
        assert_eq!(
            (layer.as_str(), &fields["color"]),
            ("wash", &serde_json::json!("#00ff00"))
        );
        let (_, fields) = layer_change("wash/pulse_hz", &[OscType::Float(0.5)]).unwrap();
        assert_eq!(fields["pulse_hz"], serde_json::json!(0.5));
        assert!(layer_change("wash", &[OscType::Int(1)]).is_err());
        assert!(layer_change("wash/a/b", &[OscType::Int(1)]).is_err());
        assert!(layer_change("wash/pulse_hz", &[]).is_err());
        assert!(layer_change("wash/pulse_hz", &[OscType::Float(f32::INFINITY)]).is_err());
    }
}
