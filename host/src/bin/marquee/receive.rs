//! `marquee receive`: listens for DDP, E1.31 and Art-Net and shows what arrives, with counts
//! per source, to check a rig at the desk without its hardware.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use marquee::model::rig::Protocol;
use marquee::output::{Control, OutputKind};
use marquee::receive::{ReceiveOptions, Receiver};

use crate::logs;
use crate::positive_seconds;
use crate::run::{OutputArg, chosen_output};

/// What `marquee receive` takes.
#[derive(Debug, clap::Args)]
pub struct ReceiveArgs {
    /// The address to listen on (loopback unless you say otherwise).
    #[arg(long, default_value = "127.0.0.1")]
    pub listen: IpAddr,
    /// The DDP port.
    #[arg(long, default_value_t = Protocol::Ddp.port())]
    pub ddp_port: u16,
    /// The E1.31 (sACN) port.
    #[arg(long, default_value_t = Protocol::E131.port())]
    pub e131_port: u16,
    /// The Art-Net port.
    #[arg(long, default_value_t = Protocol::Artnet.port())]
    pub artnet_port: u16,
    /// Width of the frame shown; pixels fill it row by row.
    #[arg(long, default_value_t = 256)]
    pub width: u32,
    /// Height of the frame shown.
    #[arg(long, default_value_t = 64)]
    pub height: u32,
    /// The E1.31 universe of the first pixel.
    #[arg(long, default_value_t = 1)]
    pub universe: u16,
    /// The Art-Net port address of the first pixel.
    #[arg(long, default_value_t = 0)]
    pub artnet_universe: u16,
    /// Pixels per universe (E1.31, Art-Net).
    #[arg(long, default_value_t = 170)]
    pub pixels_per_universe: u16,
    /// Where to show what arrives.
    #[arg(long, value_enum, default_value_t = OutputArg::Auto)]
    pub output: OutputArg,
    /// Stop after this many seconds (default: until interrupted or `q`).
    #[arg(long, value_parser = positive_seconds)]
    pub seconds: Option<f64>,
    /// Write the counts per source to this file as JSON at the end.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Save the last frame as a PNG at the end.
    #[arg(long, value_name = "FILE")]
    pub save: Option<PathBuf>,
}

/// Listens and shows until the time is up or someone quits.
pub fn receive(args: ReceiveArgs) -> anyhow::Result<()> {
    let (w, h) = (args.width.clamp(1, 4096), args.height.clamp(1, 4096));
    let mut receiver = Receiver::bind(ReceiveOptions {
        listen: args.listen,
        ports: [args.ddp_port, args.e131_port, args.artnet_port],
        size: (w, h),
        universe: (args.universe, args.artnet_universe),
        pixels_per_universe: args.pixels_per_universe.max(1),
    })
    .with_context(|| format!("cannot listen on {}", args.listen))?;
    let (kind, _, factory) = chosen_output(args.output, "marquee receive")?;
    marquee::play::signals::handle_interrupts();
    logs::hold(kind == OutputKind::Terminal);
    let mut output = factory(w, h)?;
    let start = Instant::now();
    let until = args.seconds.map(|s| start + Duration::from_secs_f64(s));
    let mut shown = Instant::now() - Duration::from_secs(1);
    let mut controls = Vec::new();
    let result = (|| -> anyhow::Result<()> {
        loop {
            let got = receiver.poll()?;
            let now = Instant::now();
            if now.duration_since(shown) >= Duration::from_millis(33) {
                shown = now;
                output.show(receiver.frame(), w, h, &status(&receiver))?;
                output.poll(&mut controls)?;
                if controls.drain(..).any(|c| c == Control::Quit) {
                    return Ok(());
                }
            }
            if marquee::play::signals::interrupted() || until.is_some_and(|t| now >= t) {
                return Ok(());
            }
            if got == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    })();
    let finished = output.finish();
    logs::hold(false);
    result?;
    finished?;
    for ((protocol, from), c) in receiver.counts() {
        outln!(
            "{protocol:?} from {from}: {} frames, {} packets, {} sequence gaps, {} late, {} malformed",
            c.frames,
            c.packets,
            c.gaps,
            c.late,
            c.malformed
        )?;
    }
    if receiver.counts().is_empty() {
        outln!("nothing arrived")?;
    }
    if let Some(path) = &args.json {
        let list: Vec<serde_json::Value> = receiver
            .counts()
            .iter()
            .map(|((protocol, from), c)| {
                serde_json::json!({ "protocol": protocol, "from": from.to_string(), "counts": c })
            })
            .collect();
        std::fs::write(path, serde_json::to_string_pretty(&list)? + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(path) = &args.save {
        image::save_buffer(path, receiver.frame(), w, h, image::ExtendedColorType::Rgba8)
            .with_context(|| format!("cannot save {}", path.display()))?;
    }
    Ok(())
}

/// One line: each source's frames, gaps and late packets.
fn status(receiver: &Receiver) -> String {
    let parts: Vec<String> = receiver
        .counts()
        .iter()
        .map(|((p, from), c)| {
            format!(
                "{p:?} {from}: {} frames, {} gaps, {} late",
                c.frames, c.gaps, c.late
            )
        })
        .collect();
    if parts.is_empty() {
        "listening… · q quit".into()
    } else {
        format!("{} · q quit", parts.join(" · "))
    }
}
