//! LED outputs: what a frame costs the render thread (its copy into the output's handoff) and
//! the output thread (mapping, colour, encoding and sending to a loopback UDP socket nobody
//! reads, or a HUB75 driver's stream) for each protocol at 256×64 and 1920×1080; then, printed
//! before criterion's figures, packets and bytes per frame and frame-to-wire latency on
//! loopback (publish to the last packet received, p50 / p99, 600 frames at 60 fps).
//!
//! `cargo bench -p marquee-host --bench leds`

use std::net::UdpSocket;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use marquee::model::rig::Rig;
use marquee::output::Output;
use marquee::output::led::LedOutput;
use marquee::play::handoff::{Handoff, Taken};

const SIZES: [(u32, u32); 2] = [(256, 64), (1920, 1080)];

/// A rig of one output of `protocol` to `port` on loopback, showing the whole frame.
fn output(protocol: &str, port: u16, (w, h): (u32, u32)) -> LedOutput {
    let extra = match protocol {
        "e131" => "universe = 1\n",
        _ => "",
    };
    let text = format!(
        "[[output]]\nprotocol = \"{protocol}\"\nhost = \"127.0.0.1:{port}\"\ngamma = 2.2\nbrightness = 0.8\n{extra}"
    );
    let rig = Rig::parse(Path::new("bench.toml"), text).expect("a rig");
    let region = rig.check_frame(w, h).expect("fits")[0];
    LedOutput::open(rig.outputs[0].clone(), region, w).expect("a socket")
}

/// A frame of varied pixels.
fn frame((w, h): (u32, u32)) -> Vec<u8> {
    (0..w * h * 4)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

/// A socket that receives nothing: the kernel drops what overflows its buffer.
fn sink() -> (UdpSocket, u16) {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = s.local_addr().unwrap().port();
    (s, port)
}

fn costs(c: &mut Criterion) {
    for size in SIZES {
        let (w, h) = size;
        let pixels = frame(size);
        let mut group = c.benchmark_group(format!("led_{w}x{h}"));
        group
            .throughput(Throughput::Elements((w * h) as u64))
            .sample_size(20)
            .measurement_time(Duration::from_secs(2));
        // The render thread's share, whatever the protocol: a copy into a recycled buffer.
        let handoff = Handoff::new();
        handoff.reserve(Handoff::BUFFERS, pixels.len());
        group.bench_function("render_thread_publish", |b| {
            b.iter(|| {
                handoff.publish(0, w, h, &pixels);
                if let Taken::Frame(f) = handoff.take(Duration::ZERO) {
                    handoff.recycle(f);
                }
            })
        });
        // The same without the sends: mapping, colour and building DDP's packets.
        {
            use marquee::output::led::{ddp::Ddp, map, packets::Encoder, packets::Packets};
            let rig = Rig::parse(
                Path::new("bench.toml"),
                "[[output]]\nprotocol = \"ddp\"\nhost = \"127.0.0.1\"\ngamma = 2.2\nbrightness = 0.8\n"
                    .into(),
            )
            .unwrap();
            let region = rig.check_frame(w, h).unwrap()[0];
            let leds = map::led_order(w, region, None);
            let color = map::ColorPipeline::new(&rig.outputs[0].color);
            let mut channels = vec![0u8; leds.len() * 3];
            let mut encoder = Ddp::new("127.0.0.1:4048".parse().unwrap(), 3, 0);
            let mut packets = Packets::default();
            group.bench_function("output_thread_ddp_without_sends", |b| {
                b.iter(|| {
                    color.convert(&pixels, &leds, &mut channels);
                    packets.clear();
                    encoder.frame(&channels, &mut packets);
                })
            });
        }
        for protocol in ["ddp", "e131", "artnet"] {
            let (_keep, port) = sink();
            let mut out = output(protocol, port, size);
            group.bench_function(format!("output_thread_{protocol}"), |b| {
                b.iter(|| out.show(&pixels, w, h, "").unwrap())
            });
        }
        group.finish();
    }
}

/// Packets and payload bytes per frame of each protocol at 256×64, and frame-to-wire latency.
fn wire_figures() {
    let size = (256, 64);
    let pixels = frame(size);
    for protocol in ["ddp", "e131", "artnet"] {
        let (socket, port) = sink();
        socket.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
        let mut out = output(protocol, port, size);
        // Packets and bytes of one frame, read back.
        out.show(&pixels, size.0, size.1, "").unwrap();
        let c = out.counts();
        let (packets, bytes) = (c.packets, c.bytes);
        let mut buf = [0u8; 2048];
        for _ in 0..packets {
            socket.recv(&mut buf).unwrap();
        }
        // Latency: from the frame handed over to its last packet received, at 60 fps, the
        // output on its own thread behind a handoff as in a live run.
        let handoff = std::sync::Arc::new(Handoff::new());
        handoff.reserve(Handoff::BUFFERS, pixels.len());
        let thread = {
            let handoff = handoff.clone();
            std::thread::spawn(move || {
                while let Taken::Frame(f) = handoff.take(Duration::from_secs(5)) {
                    out.show(&f.pixels, f.width, f.height, "").unwrap();
                    handoff.recycle(f);
                }
            })
        };
        let mut latencies = Vec::new();
        for i in 0..600u64 {
            let t0 = Instant::now();
            handoff.publish(i, size.0, size.1, &pixels);
            for _ in 0..packets {
                socket.recv(&mut buf).unwrap();
            }
            latencies.push(t0.elapsed());
            std::thread::sleep(Duration::from_secs_f64(1.0 / 60.0).saturating_sub(t0.elapsed()));
        }
        handoff.close();
        thread.join().unwrap();
        latencies.sort();
        let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e6;
        let mbit = |fps: f64| (bytes + 66 * packets) as f64 * 8.0 * fps / 1e6;
        println!(
            "{protocol} 256x64: {packets} packets, {bytes} bytes of payload per frame; on the wire {:.1} Mbit/s at 60 fps, {:.1} at 120 (66 bytes of Ethernet/IP/UDP per packet); frame to last packet received p50 {:.0} µs, p99 {:.0} µs",
            mbit(60.0),
            mbit(120.0),
            at(0.5),
            at(0.99)
        );
    }
}

fn main() {
    wire_figures();
    let mut c = Criterion::default().configure_from_args();
    costs(&mut c);
    c.final_summary();
}
