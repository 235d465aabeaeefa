//! LED outputs: a rig's outputs (`model::rig`) as [`Output`]s. Each runs on its own thread
//! behind the live loop's handoff like any output: it keeps to its `max_fps` (`pace`), maps the
//! frame to the controller's LED order and channels (`map`), holds it for its delay (`delay`),
//! then encodes one protocol (`ddp`, `e131`, `artnet`) into packets built in place (`packets`)
//! sent on a UDP socket, or writes it to a HUB75 driver's stream socket (`stream`). A
//! controller that cannot be reached is reported once, retried with backoff and counted; the
//! show goes on.

pub mod artnet;
pub mod ddp;
pub mod delay;
pub mod e131;
pub mod map;
pub mod pace;
pub mod packets;
pub mod stream;

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use crate::model::rig::{LedOutputSpec, Rect, Wire};
use crate::output::{Output, OutputFactory};
use map::{ColorPipeline, led_order};
use packets::{Encoder, Packets};

/// The first wait before trying a controller again after a failed send.
pub const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// The longest wait between tries.
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// What an LED output counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LedCounters {
    /// Frames sent.
    pub frames: u64,
    /// Packets sent.
    pub packets: u64,
    /// Bytes of payload sent.
    pub bytes: u64,
    /// Sends that failed (the controller unreachable, refused).
    pub send_errors: u64,
    /// Frames not sent while waiting to try a failing controller again.
    pub unsent: u64,
    /// Times the controller came back after failing.
    pub recoveries: u64,
    /// Frames the current limit scaled down.
    pub current_limited: u64,
    /// Frames skipped to keep to `max_fps`.
    pub skipped_max_fps: u64,
    /// Frames still held by the delay line when the show ended, or dropped from a full one.
    pub delay_dropped: u64,
    /// Frames not sent because they were the same as the last (`skip_unchanged`).
    pub unchanged: u64,
    /// Frames not sent because they were too small for the output's region (after an edit).
    pub unfit: u64,
}

/// How an output's frames leave: a protocol's datagrams, or a stream to a driver process.
enum Link {
    Udp {
        socket: UdpSocket,
        /// One controller: sent with `send` on a connected socket.
        connected: bool,
        encoder: Box<dyn Encoder>,
        packets: Packets,
    },
    Stream(stream::StreamLink),
}

/// A failing controller: when to try again, and how long to wait after that.
#[derive(Debug, Clone, Copy)]
struct Backoff {
    retry_at: Instant,
    wait: Duration,
}

/// One rig output, sending to its controller.
pub struct LedOutput {
    label: String,
    spec: LedOutputSpec,
    region: Rect,
    frame_width: u32,
    leds: Vec<u32>,
    color: ColorPipeline,
    channels: Vec<u8>,
    link: Link,
    /// With `max_fps`: when frames may go out.
    pace: Option<pace::Pace>,
    /// With a delay: the frames waiting to go out.
    delay: Option<delay::DelayLine>,
    backoff: Option<Backoff>,
    counters: LedCounters,
}

impl std::fmt::Debug for LedOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LedOutput")
            .field("label", &self.label)
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

/// A stable CID for output `id` of this machine: the same on every run, different per output.
fn cid(id: &str) -> [u8; 16] {
    let machine = std::fs::read_to_string("/etc/machine-id")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .unwrap_or_default();
    let hash = xxhash_rust::xxh3::xxh3_128(format!("marquee e1.31 {} {id}", machine.trim()).as_bytes());
    let mut cid = hash.to_be_bytes();
    // A name-based UUID (version 5 layout, RFC 4122 variant).
    cid[6] = (cid[6] & 0x0f) | 0x50;
    cid[8] = (cid[8] & 0x3f) | 0x80;
    cid
}

/// The encoder `spec` asks for, for LEDs of `channels` bytes.
fn encoder(spec: &LedOutputSpec, channels: usize) -> Box<dyn Encoder> {
    match &spec.wire {
        Wire::Ddp { to } => Box::new(ddp::Ddp::new(*to, channels, spec.start)),
        Wire::E131 {
            to,
            universe,
            pixels_per_universe,
            priority,
            sync_universe,
            ..
        } => Box::new(e131::E131::new(
            *to,
            (*universe, *pixels_per_universe, channels),
            *priority,
            *sync_universe,
            cid(&spec.id),
            &format!("Marquee {}", spec.id),
        )),
        Wire::Artnet {
            to,
            universe,
            pixels_per_universe,
            sync,
        } => Box::new(artnet::ArtNet::new(
            *to,
            (*universe, *pixels_per_universe, channels),
            *sync,
        )),
        Wire::Hub75 { .. } => unreachable!("a stream, not datagrams"),
    }
}

impl LedOutput {
    /// Opens the link `spec` asks for (a UDP socket, or a stream link that connects on the
    /// first frame); the output shows `region` of frames `frame_width` wide.
    pub fn open(spec: LedOutputSpec, region: Rect, frame_width: u32) -> io::Result<LedOutput> {
        let color = ColorPipeline::new(&spec.color);
        let link = match &spec.wire {
            Wire::Hub75 {
                to,
                ack,
                skip_unchanged,
            } => Link::Stream(stream::StreamLink::new(
                to.clone(),
                (region.width, region.height),
                *ack,
                *skip_unchanged,
            )),
            wire => {
                let (v6, one) = match wire {
                    Wire::Ddp { to } | Wire::Artnet { to, .. } => (to.is_ipv6(), Some(*to)),
                    Wire::E131 { to, .. } => (to.is_some_and(|a| a.is_ipv6()), *to),
                    Wire::Hub75 { .. } => unreachable!("matched above"),
                };
                let any: SocketAddr = if v6 { "[::]:0" } else { "0.0.0.0:0" }
                    .parse()
                    .expect("an address");
                let socket = UdpSocket::bind(any)?;
                if let Wire::E131 {
                    to: None,
                    interface: Some(interface),
                    ..
                } = wire
                {
                    // Multicast leaves by the interface the rig names.
                    socket2::SockRef::from(&socket).set_multicast_if_v4(interface)?;
                }
                // One controller: a connected socket, so that a controller that is down (the
                // port unreachable) shows as a failed send instead of packets silently lost.
                if let Some(to) = one {
                    socket.connect(to)?;
                }
                Link::Udp {
                    socket,
                    connected: one.is_some(),
                    encoder: encoder(&spec, color.channels()),
                    packets: Packets::default(),
                }
            }
        };
        let leds = led_order(frame_width, region, spec.layout.as_ref());
        let channels = vec![0; leds.len() * color.channels()];
        Ok(LedOutput {
            label: format!("{} {}", spec.protocol.as_str(), spec.id),
            pace: spec.max_fps.map(pace::Pace::new),
            delay: (!spec.delay.is_zero()).then(|| delay::DelayLine::new(spec.delay)),
            spec,
            region,
            frame_width,
            leds,
            color,
            channels,
            link,
            backoff: None,
            counters: LedCounters::default(),
        })
    }

    /// What it counted so far.
    pub fn counts(&self) -> LedCounters {
        self.counters
    }

    /// Encodes and sends one frame's channel bytes, unless a failing controller's backoff says
    /// to wait.
    fn send_frame(&mut self, channels: &[u8], now: Instant) {
        if let Some(b) = self.backoff
            && now < b.retry_at
        {
            self.counters.unsent += 1;
            return;
        }
        match self.transmit(channels) {
            Ok(true) => {
                self.counters.frames += 1;
                if self.backoff.take().is_some() {
                    self.counters.recoveries += 1;
                    tracing::info!("output `{}`: sending again", self.spec.id);
                }
            }
            Ok(false) => self.counters.unchanged += 1,
            Err((e, to)) => {
                self.counters.send_errors += 1;
                let wait = match self.backoff {
                    Some(b) => (b.wait * 2).min(MAX_BACKOFF),
                    None => {
                        tracing::warn!(
                            "output `{}`: cannot send to {to}: {e}; trying again in {:?}, with backoff",
                            self.spec.id,
                            FIRST_BACKOFF
                        );
                        FIRST_BACKOFF
                    }
                };
                self.backoff = Some(Backoff {
                    retry_at: now + wait,
                    wait,
                });
            }
        }
    }

    /// Puts one frame on the wire: whether it went (false: the same as the last, skipped), or
    /// the error and where it was going.
    fn transmit(&mut self, channels: &[u8]) -> Result<bool, (io::Error, String)> {
        match &mut self.link {
            Link::Udp {
                socket,
                connected,
                encoder,
                packets,
            } => {
                packets.clear();
                encoder.frame(channels, packets);
                for (bytes, to) in packets.iter() {
                    let sent = if *connected {
                        socket.send(bytes)
                    } else {
                        socket.send_to(bytes, to)
                    };
                    sent.map_err(|e| (e, to.to_string()))?;
                    self.counters.packets += 1;
                    self.counters.bytes += bytes.len() as u64;
                }
                Ok(true)
            }
            Link::Stream(link) => match link.send(channels) {
                Ok(stream::Sent::Frame(bytes)) => {
                    self.counters.packets += 1;
                    self.counters.bytes += bytes as u64;
                    Ok(true)
                }
                Ok(stream::Sent::Unchanged) => Ok(false),
                Err(e) => Err((e, link.target_name())),
            },
        }
    }

    /// Sends every held frame that is due at `now`, oldest first.
    fn send_due(&mut self, now: Instant) {
        while let Some(buf) = self.delay.as_mut().and_then(|l| l.pop_due(now)) {
            self.send_frame(&buf, now);
            if let Some(line) = &mut self.delay {
                line.recycle(buf);
            }
        }
    }
}

impl Output for LedOutput {
    fn name(&self) -> &str {
        &self.label
    }

    fn show(&mut self, frame: &[u8], width: u32, height: u32, _status: &str) -> io::Result<()> {
        let now = Instant::now();
        if self.pace.as_mut().is_some_and(|p| !p.admit(now)) {
            self.counters.skipped_max_fps += 1;
            return Ok(());
        }
        let r = self.region;
        if r.x as u64 + r.width as u64 > width as u64 || r.y as u64 + r.height as u64 > height as u64 {
            // An edit made the frames smaller than the rig: nothing to send until they fit.
            if self.counters.unfit == 0 {
                tracing::warn!(
                    "output `{}`: its {}×{} region at ({}, {}) is outside the {width}×{height} frames; sending nothing until it fits",
                    self.spec.id,
                    r.width,
                    r.height,
                    r.x,
                    r.y
                );
            }
            self.counters.unfit += 1;
            return Ok(());
        }
        if width != self.frame_width {
            // A reload changed the frame width: the same region, rows of the new width.
            self.frame_width = width;
            self.leds = led_order(width, self.region, self.spec.layout.as_ref());
        }
        if self.color.convert(frame, &self.leds, &mut self.channels) {
            self.counters.current_limited += 1;
        }
        match &mut self.delay {
            Some(line) => {
                line.push(now, &self.channels);
                self.send_due(now);
            }
            None => {
                let channels = std::mem::take(&mut self.channels);
                self.send_frame(&channels, now);
                self.channels = channels;
            }
        }
        Ok(())
    }

    fn poll(&mut self, _controls: &mut Vec<crate::output::Control>) -> io::Result<()> {
        self.send_due(Instant::now());
        Ok(())
    }

    fn wake_at(&self) -> Option<Instant> {
        self.delay.as_ref().and_then(|l| l.next_due())
    }

    fn wire(&self) -> Option<crate::output::WireCounts> {
        Some(crate::output::WireCounts {
            packets: self.counters.packets,
            bytes: self.counters.bytes,
            send_errors: self.counters.send_errors,
        })
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        let c = &self.counters;
        vec![
            ("frames", c.frames),
            ("packets", c.packets),
            ("bytes", c.bytes),
            ("send_errors", c.send_errors),
            ("unsent", c.unsent),
            ("recoveries", c.recoveries),
            ("current_limited", c.current_limited),
            ("skipped_max_fps", c.skipped_max_fps),
            ("delay_dropped", c.delay_dropped),
            ("unchanged", c.unchanged),
            ("unfit", c.unfit),
        ]
    }

    fn finish(&mut self) -> io::Result<()> {
        if let Some(line) = &self.delay {
            self.counters.delay_dropped += line.dropped() + line.len() as u64;
        }
        if let Link::Udp {
            socket,
            connected,
            encoder,
            packets,
        } = &mut self.link
        {
            packets.clear();
            encoder.finish(&self.channels, packets);
            if self.backoff.is_none() {
                for (bytes, to) in packets.iter() {
                    // Best effort: the show is ending either way.
                    let _ = if *connected {
                        socket.send(bytes)
                    } else {
                        socket.send_to(bytes, to)
                    };
                }
            }
        }
        Ok(())
    }
}

/// The output factory for `spec`, showing `region` of frames `frame_width` wide.
pub fn factory(spec: LedOutputSpec, region: Rect) -> OutputFactory {
    Box::new(move |width, _height| Ok(Box::new(LedOutput::open(spec, region, width)?) as Box<dyn Output>))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::rig::Rig;

    #[test]
    fn frames_too_small_for_the_region_are_counted_not_sent() {
        let controller = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = controller.local_addr().unwrap().port();
        let text = format!(
            "[[output]]\nprotocol = \"ddp\"\nhost = \"127.0.0.1:{port}\"\nregion = {{ x = 4, y = 0, width = 4, height = 2 }}\n"
        );
        let rig = Rig::parse(std::path::Path::new("rig.toml"), text).unwrap();
        let region = rig.check_frame(8, 2).unwrap()[0];
        let mut out = LedOutput::open(rig.outputs[0].clone(), region, 8).unwrap();
        out.show(&[9; 8 * 2 * 4], 8, 2, "").unwrap();
        // A reload made the frames 6 wide: the region no longer fits.
        out.show(&[9; 6 * 2 * 4], 6, 2, "").unwrap();
        out.show(&[9; 6 * 2 * 4], 6, 2, "").unwrap();
        // Wider again, and rows of the new width.
        out.show(&[9; 10 * 2 * 4], 10, 2, "").unwrap();
        let c = out.counts();
        assert_eq!((c.frames, c.unfit, c.packets), (2, 2, 2));
    }

    #[test]
    fn an_outputs_cid_is_the_same_every_run_and_its_own() {
        assert_eq!(cid("cube"), cid("cube"));
        assert_ne!(cid("cube"), cid("desk"));
        // A name-based UUID: version 5, RFC 4122 variant.
        let c = cid("cube");
        assert_eq!((c[6] >> 4, c[8] >> 6), (5, 0b10));
    }
}
