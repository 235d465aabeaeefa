//! LED outputs end to end on loopback: `marquee run --rig` sends to a UDP socket of this test,
//! and what arrives is decoded by decoders that are not the sender's code: DDP by the decoder
//! below, written from the protocol description; E1.31 and Art-Net by tshark. Each frame is
//! rebuilt through a hand-computed mapping and compared with the scene's pixels.

use std::collections::BTreeMap;
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use marquee::model::rig::Rig;
use marquee::model::scene::SceneError;

use crate::util::text;

/// The colour of pixel (x, y) of the test scenes: every pixel different, no two channels equal.
fn colour(x: u32, y: u32) -> [u8; 3] {
    [(16 * x + 1) as u8, (32 * y + 2) as u8, (200 - x - 8 * y) as u8]
}

/// A `w × h` scene whose pixel (x, y) is `colour(x, y)`: one 1×1 solid layer per pixel.
fn pixels_scene(dir: &Path, w: u32, h: u32) -> PathBuf {
    let mut text = format!("fps = 30\n[canvas]\nwidth = {w}\nheight = {h}\n");
    for y in 0..h {
        for x in 0..w {
            let [r, g, b] = colour(x, y);
            text.push_str(&format!(
                "[[layer]]\nplugin = \"solid\"\nmode = \"rect\"\nrect = [{x}, {y}, 1, 1]\nconfig = {{ color = \"#{r:02x}{g:02x}{b:02x}\" }}\n"
            ));
        }
    }
    let path = dir.join("pixels.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// A UDP socket on loopback for a controller, with a short read timeout.
fn controller() -> (UdpSocket, u16) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let port = socket.local_addr().unwrap().port();
    (socket, port)
}

/// `marquee run SCENE --rig RIG --output headless`, `frames` frames, paced or not.
fn run(scene: &Path, rig: &Path, frames: u32, paced: bool) -> Child {
    run_with(scene, rig, frames, paced, &[])
}

/// [`run`] with `extra` arguments.
fn run_with(scene: &Path, rig: &Path, frames: u32, paced: bool, extra: &[&str]) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_marquee"));
    cmd.args(["run", scene.to_str().unwrap(), "--rig", rig.to_str().unwrap()])
        .args(extra)
        .args([
            "--output",
            "headless",
            "--no-reload",
            "--frames",
            &frames.to_string(),
        ]);
    if !paced {
        cmd.arg("--unpaced");
    }
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
}

/// Every datagram `socket` receives until `child` has exited (and a moment after), with the
/// child's output.
fn receive_all(socket: &UdpSocket, child: Child) -> (Vec<Vec<u8>>, std::process::Output) {
    let mut child = child;
    let mut got = Vec::new();
    let mut buf = [0u8; 2048];
    let mut ended: Option<Instant> = None;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match socket.recv(&mut buf) {
            Ok(n) => got.push(buf[..n].to_vec()),
            Err(_) => {
                if ended.is_some_and(|t| t.elapsed() > Duration::from_millis(300)) {
                    break;
                }
            }
        }
        if ended.is_none() && child.try_wait().unwrap().is_some() {
            ended = Some(Instant::now());
        }
        assert!(Instant::now() < deadline, "the run did not end");
    }
    (got, child.wait_with_output().unwrap())
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// One DDP packet, decoded from the description (3waylabs): flags, sequence, data type, id,
/// offset and length (big-endian), data.
#[derive(Debug)]
struct DdpPacket {
    push: bool,
    sequence: u8,
    data_type: u8,
    offset: usize,
    data: Vec<u8>,
}

fn ddp(packet: &[u8]) -> DdpPacket {
    assert!(packet.len() >= 10, "a DDP header is 10 bytes");
    let flags = packet[0];
    assert_eq!(flags >> 6, 1, "version 1");
    assert_eq!(flags & 0x10, 0, "no timecode");
    let len = u16::from_be_bytes([packet[8], packet[9]]) as usize;
    assert_eq!(packet.len(), 10 + len, "length field");
    assert!(len <= 1440, "at most 1440 data bytes");
    assert_eq!(packet[3], 1, "the default output id");
    DdpPacket {
        push: flags & 0x01 != 0,
        sequence: packet[1] & 0x0f,
        data_type: packet[2],
        offset: u32::from_be_bytes([packet[4], packet[5], packet[6], packet[7]]) as usize,
        data: packet[10..].to_vec(),
    }
}

/// The frames in `packets`: data placed at its offsets, a frame ending at each push.
fn ddp_frames(packets: &[DdpPacket]) -> Vec<Vec<u8>> {
    let mut frames = Vec::new();
    let mut current: Vec<u8> = Vec::new();
    for p in packets {
        if current.len() < p.offset + p.data.len() {
            current.resize(p.offset + p.data.len(), 0);
        }
        current[p.offset..p.offset + p.data.len()].copy_from_slice(&p.data);
        if p.push {
            frames.push(std::mem::take(&mut current));
        }
    }
    frames
}

#[test]
fn ddp_frames_decode_pixel_for_pixel_through_a_hand_computed_mapping() {
    let dir = tempfile::tempdir().unwrap();
    let scene = pixels_scene(dir.path(), 4, 2);
    let (socket, port) = controller();
    // Two 2×2 panels side by side, each wired in zigzag rows, the second turned half round;
    // green first.
    let rig = write(
        dir.path(),
        "rig.toml",
        &format!(
            "[[output]]\nprotocol = \"ddp\"\nhost = \"127.0.0.1:{port}\"\ncolor_order = \"grb\"\n\
             layout = {{ panel_width = 2, panel_height = 2, columns = 2, wiring = \"rows-serpentine\" }}\n\
             [[output.panel]]\n[[output.panel]]\nrotation = 180\n"
        ),
    );
    let metrics = dir.path().join("m.jsonl");
    let m = ["--metrics", metrics.to_str().unwrap()];
    let (got, out) = receive_all(&socket, run_with(&scene, &rig, 20, true, &m));
    assert!(out.status.success(), "{}", text(&out));
    let packets: Vec<DdpPacket> = got.iter().map(|p| ddp(p)).collect();
    // The metrics stream counts what the output put on the wire.
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&metrics)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // The outputs in the order the start line names them: headless, then the rig's.
    assert_eq!(lines[0]["outputs"], serde_json::json!(["headless", "ddp ddp-1"]));
    let last_frame = lines.iter().rfind(|l| l["type"] == "frame").unwrap();
    let sample = &last_frame["outputs"][1];
    assert!(sample["packets"].as_u64().unwrap() >= 1, "{sample}");
    assert!(
        sample["packets"].as_u64().unwrap() <= packets.len() as u64,
        "{sample}"
    );
    assert_eq!(
        sample["bytes"].as_u64().unwrap() % 34,
        0,
        "34-byte packets: {sample}"
    );
    assert_eq!(sample["send_errors"], 0);
    // 8 RGB pixels: one packet per frame, with push. (A frame the output was still busy with
    // the last one for is dropped at its handoff, so not every frame made is sent.)
    assert!(!packets.is_empty(), "{}", text(&out));
    for (i, p) in packets.iter().enumerate() {
        assert!(p.push);
        assert_eq!(p.data_type, 0x0B, "RGB, 8 bits per channel");
        assert_eq!(
            p.sequence as usize,
            i % 15 + 1,
            "sequence numbers 1–15, per packet sent"
        );
    }
    // Panel 1 from its top left in zigzag rows; panel 2, turned 180°, from its bottom right.
    let order = [(0, 0), (1, 0), (1, 1), (0, 1), (3, 1), (2, 1), (2, 0), (3, 0)];
    let want: Vec<u8> = order
        .iter()
        .flat_map(|&(x, y)| {
            let [r, g, b] = colour(x, y);
            [g, r, b]
        })
        .collect();
    for frame in ddp_frames(&packets) {
        assert_eq!(frame, want);
    }
}

#[test]
fn ddp_pushes_the_last_packet_also_of_an_exact_multiple_of_1440_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let (socket, port) = controller();
    let rig = write(
        dir.path(),
        "rig.toml",
        &format!("[[output]]\nprotocol = \"ddp\"\nhost = \"127.0.0.1:{port}\"\nstart = 2\n"),
    );
    // 32 × 30 pixels of RGB: 2880 bytes, exactly two full packets.
    let scene = write(
        dir.path(),
        "s.toml",
        "[canvas]\nwidth = 32\nheight = 30\n[[layer]]\nplugin = \"solid\"\nconfig = { color = \"#102030\" }\n",
    );
    let (got, out) = receive_all(&socket, run(&scene, &rig, 5, false));
    assert!(out.status.success(), "{}", text(&out));
    let packets: Vec<DdpPacket> = got.iter().map(|p| ddp(p)).collect();
    assert!(
        !packets.is_empty() && packets.len().is_multiple_of(2),
        "{}",
        packets.len()
    );
    for pair in packets.chunks(2) {
        assert_eq!(
            (pair[0].push, pair[1].push),
            (false, true),
            "push on the last only"
        );
        // `start = 2`: two LEDs of the strip before this output's first.
        assert_eq!((pair[0].offset, pair[1].offset), (6, 6 + 1440));
        assert_eq!((pair[0].data.len(), pair[1].data.len()), (1440, 1440));
    }
    let frames = ddp_frames(&packets);
    assert_eq!(frames.len(), packets.len() / 2);
    assert!(
        frames
            .iter()
            .all(|f| f[6..].chunks(3).all(|px| px == [0x10, 0x20, 0x30]))
    );
}

/// `packets` (UDP payloads sent to `port` on loopback) as a pcap file of raw IPv4 packets, for
/// tshark to read.
fn pcap(dir: &Path, packets: &[Vec<u8>], port: u16) -> PathBuf {
    let mut file = Vec::new();
    // Global header: magic, version 2.4, zone, accuracy, snaplen, LINKTYPE_RAW.
    file.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    file.extend_from_slice(&2u16.to_le_bytes());
    file.extend_from_slice(&4u16.to_le_bytes());
    file.extend_from_slice(&[0; 8]);
    file.extend_from_slice(&65_535u32.to_le_bytes());
    file.extend_from_slice(&101u32.to_le_bytes());
    for (i, payload) in packets.iter().enumerate() {
        let udp_len = 8 + payload.len();
        let total = 20 + udp_len;
        let mut ip = vec![0x45, 0];
        ip.extend_from_slice(&(total as u16).to_be_bytes());
        ip.extend_from_slice(&[0, 1, 0, 0, 64, 17, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1]);
        let sum: u32 = ip
            .chunks(2)
            .map(|w| u16::from_be_bytes([w[0], w[1]]) as u32)
            .sum();
        let sum = (sum & 0xffff) + (sum >> 16);
        ip[10..12].copy_from_slice(&(!((sum & 0xffff) + (sum >> 16)) as u16).to_be_bytes());
        ip.extend_from_slice(&40_000u16.to_be_bytes());
        ip.extend_from_slice(&port.to_be_bytes());
        ip.extend_from_slice(&(udp_len as u16).to_be_bytes());
        ip.extend_from_slice(&[0, 0]);
        ip.extend_from_slice(payload);
        file.extend_from_slice(&(i as u32).to_le_bytes());
        file.extend_from_slice(&0u32.to_le_bytes());
        file.extend_from_slice(&(total as u32).to_le_bytes());
        file.extend_from_slice(&(total as u32).to_le_bytes());
        file.extend_from_slice(&ip);
    }
    let path = dir.join(format!("capture-{port}.pcap"));
    std::fs::write(&path, file).unwrap();
    path
}

/// tshark's fields `fields` of every packet of `pcap` (tab-separated, one row per packet).
fn tshark(pcap: &Path, options: &[&str], fields: &[&str]) -> Vec<Vec<String>> {
    let mut cmd = Command::new("tshark");
    cmd.arg("-r")
        .arg(pcap)
        .args(options)
        .args(["-T", "fields", "-E", "separator=\t"]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().expect("tshark runs (.ci/run installs it)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

/// The slot values tshark shows for an E1.31 packet (`acn.dmx.data` with zeros and leading
/// zeros shown, in hex): rows of `NNN-NNN: xx xx ... | xx ...` after a ruler.
fn e131_slots(shown: &str) -> Vec<u8> {
    shown
        .split(',')
        .filter_map(|row| row.split_once(": ").map(|(_, values)| values))
        .flat_map(|values| {
            // Ten values, a `|`, ten more.
            values
                .split_whitespace()
                .filter(|v| *v != "|")
                .map(|v| u8::from_str_radix(v, 16).unwrap_or_else(|e| panic!("{v:?}: {e}")))
        })
        .collect()
}

/// The LEDs' colours in rows order of a `w × h` pixels scene: what a default layout sends.
fn rows_of_pixels(w: u32, h: u32) -> Vec<[u8; 3]> {
    (0..h).flat_map(|y| (0..w).map(move |x| colour(x, y))).collect()
}

#[test]
fn e131_universes_of_whole_pixels_decoded_by_tshark() {
    let dir = tempfile::tempdir().unwrap();
    // 20 × 10 = 200 pixels: universe 7 holds 170, universe 8 the other 30.
    let scene = pixels_scene(dir.path(), 20, 10);
    let (socket, port) = controller();
    let rig = write(
        dir.path(),
        "rig.toml",
        &format!(
            "[[output]]\nid = \"desk\"\nprotocol = \"e131\"\nhost = \"127.0.0.1:{port}\"\nuniverse = 7\npriority = 150\nsync = true\n"
        ),
    );
    let (got, out) = receive_all(&socket, run(&scene, &rig, 12, false));
    assert!(out.status.success(), "{}", text(&out));
    // Per frame sent two data packets, then a sync packet; at the end three rounds of
    // stream-terminated packets.
    let frames = got.iter().filter(|p| p.len() == 49).count();
    assert!(frames >= 1);
    for (i, p) in got.iter().enumerate().take(3 * frames) {
        assert_eq!(p.len() == 49, i % 3 == 2, "packet {i}: data, data, sync");
    }
    let data: Vec<Vec<u8>> = got.into_iter().filter(|p| p.len() != 49).collect();
    assert_eq!(data.len(), 2 * frames + 3 * 2);
    let capture = pcap(dir.path(), &data, 5568);
    let rows = tshark(
        &capture,
        &[
            "--enable-heuristic",
            "acn",
            "-o",
            "acn.dmx_enable:TRUE",
            "-o",
            "acn.dmx_display_zeros:TRUE",
            "-o",
            "acn.dmx_display_leading_zeros:TRUE",
        ],
        &[
            "acn.dmx.universe",
            "acn.dmx.seq_number",
            "acn.dmx.priority",
            "acn.dmx.option_s",
            "acn.dmx.source_name",
            "acn.cid",
            "acn.dmx.data",
        ],
    );
    assert_eq!(rows.len(), data.len());
    let mut last_seq: BTreeMap<String, u8> = BTreeMap::new();
    let want = rows_of_pixels(20, 10);
    let mut cids = std::collections::BTreeSet::new();
    for (i, row) in rows.iter().enumerate() {
        let [universe, seq, priority, terminated, name, cid, shown] = &row[..] else {
            panic!("unexpected row {row:?}")
        };
        assert_eq!(priority, "150");
        assert_eq!(name, "Marquee desk");
        cids.insert(cid.clone());
        // Sequence numbers count up per universe.
        let seq: u8 = seq.parse().unwrap();
        if let Some(last) = last_seq.insert(universe.clone(), seq) {
            assert_eq!(seq, last.wrapping_add(1), "universe {universe}, packet {i}");
        }
        let terminating = i >= 2 * frames;
        assert_eq!(terminated == "True" || terminated == "1", terminating, "{row:?}");
        let slots = e131_slots(shown);
        let (first, count) = match universe.as_str() {
            "7" => (0, 170),
            "8" => (170, 30),
            u => panic!("universe {u}"),
        };
        assert_eq!(slots.len(), count * 3, "whole pixels: universe {universe}");
        for (k, px) in slots.chunks(3).enumerate() {
            assert_eq!(px, want[first + k], "universe {universe}, pixel {k}");
        }
    }
    assert_eq!(cids.len(), 1, "one CID per source");
    assert_eq!(last_seq.keys().collect::<Vec<_>>(), ["7", "8"]);
}

#[test]
fn artnet_dmx_and_sync_decoded_by_tshark_with_rgbw_and_colour_order() {
    let dir = tempfile::tempdir().unwrap();
    // 10 × 4 pixels of RGBW: 40 × 4 = 160 channels, one universe (128 pixels fit).
    let scene = pixels_scene(dir.path(), 10, 4);
    let (socket, port) = controller();
    // Port address 0x123: net 1, sub-net 2, universe 3.
    let rig = write(
        dir.path(),
        "rig.toml",
        &format!(
            "[[output]]\nprotocol = \"artnet\"\nhost = \"127.0.0.1:{port}\"\nuniverse = 291\nwhite = \"min\"\ncolor_order = \"bgr\"\nsync = true\n"
        ),
    );
    let (got, out) = receive_all(&socket, run(&scene, &rig, 8, false));
    assert!(out.status.success(), "{}", text(&out));
    let capture = pcap(dir.path(), &got, 6454);
    let rows = tshark(
        &capture,
        &[],
        &[
            "artnet.header.opcode",
            "artnet.output.universe",
            "artnet.output.sequence",
            "artnet.output.length",
            "dmx_chan.data_filter",
        ],
    );
    assert!(
        !rows.is_empty() && rows.len().is_multiple_of(2),
        "an ArtDmx and an ArtSync per frame: {rows:?}"
    );
    let want: Vec<u8> = rows_of_pixels(10, 4)
        .iter()
        .flat_map(|&[r, g, b]| {
            let w = r.min(g).min(b);
            [b - w, g - w, r - w, w]
        })
        .collect();
    for (i, pair) in rows.chunks(2).enumerate() {
        let (dmx, sync) = (&pair[0], &pair[1]);
        assert_eq!(dmx[0], "0x5000", "{dmx:?}");
        assert_eq!(sync[0], "0x5200", "{sync:?}");
        assert_eq!(dmx[1], "291");
        assert_eq!(dmx[2], (i + 1).to_string(), "sequence");
        assert_eq!(dmx[3], "160");
        let hex: String = dmx[4].chars().filter(|c| c.is_ascii_hexdigit()).collect();
        let data: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        assert_eq!(data, want, "frame {i}");
    }
}

#[test]
fn a_controller_that_goes_away_and_comes_back_is_counted_and_sent_to_again() {
    let dir = tempfile::tempdir().unwrap();
    let (socket, port) = controller();
    let rig = write(
        dir.path(),
        "rig.toml",
        &format!("[[output]]\nid = \"flaky\"\nprotocol = \"ddp\"\nhost = \"127.0.0.1:{port}\"\n"),
    );
    let scene = write(
        dir.path(),
        "s.toml",
        "fps = 30\n[canvas]\nwidth = 4\nheight = 4\n[[layer]]\nplugin = \"solid\"\nconfig = { color = \"#ff0000\" }\n",
    );
    // 4 s of show at 30 fps: the controller is there for the first, gone for the next 1.5 s,
    // then back.
    let mut child = run(&scene, &rig, 120, true);
    let mut before = 0;
    let mut buf = [0u8; 2048];
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_millis(800) {
        if socket.recv(&mut buf).is_ok() {
            before += 1;
        }
    }
    drop(socket);
    std::thread::sleep(Duration::from_millis(1500));
    let socket = UdpSocket::bind(("127.0.0.1", port)).unwrap();
    socket.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let mut after = 0;
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
        if socket.recv(&mut buf).is_ok() {
            after += 1;
        }
    }
    let out = child.wait_with_output().unwrap();
    let log = text(&out);
    assert!(out.status.success(), "the show went on: {log}");
    assert!(before > 10, "{before} packets before: {log}");
    assert!(after > 5, "sends resumed: {after} packets after: {log}");
    assert!(log.contains("output `flaky`: cannot send to"), "{log}");
    assert!(log.contains("output `flaky`: sending again"), "{log}");
    let counter = |name: &str| -> u64 {
        let at = log
            .find(&format!("{name}="))
            .unwrap_or_else(|| panic!("{name} in {log}"));
        log[at + name.len() + 1..]
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert!(counter("send_errors") >= 1, "{log}");
    assert!(counter("recoveries") >= 1, "{log}");
    assert!(counter("unsent") >= 1, "frames not sent while backing off: {log}");
}

/// What loading rig `text` and checking it against 16×16 frames says, with its line.
fn rig_error(text: &str) -> (usize, String) {
    let err: SceneError = match Rig::parse(Path::new("rig.toml"), text.to_string()) {
        Ok(rig) => rig
            .check_frame(16, 16)
            .expect_err("expected the rig to be refused"),
        Err(e) => e,
    };
    let line = err.diagnostic().and_then(|d| d.line()).expect("a line");
    (line, err.to_string())
}

#[test]
fn every_rig_mistake_is_a_clear_error_at_its_line() {
    let ddp = "[[output]]\nprotocol = \"ddp\"\nhost = \"127.0.0.1\"\n";
    let cases: [(String, usize, &[&str]); 9] = [
        (
            format!(
                "{ddp}region = {{ x = 0, y = 0, width = 8, height = 8 }}\n{ddp}region = {{ x = 4, y = 4, width = 8, height = 8 }}\n"
            ),
            8,
            &["overlaps output `ddp-1`"],
        ),
        (
            format!("{ddp}region = {{ x = 10, y = 0, width = 8, height = 8 }}\n"),
            4,
            &["outside the 16×16 frame"],
        ),
        (
            "[[output]]\nprotocol = \"e131\"\nhost = \"127.0.0.1\"\nuniverse = 0\n".into(),
            4,
            &["universes are 1 to 63999", "reserved"],
        ),
        (
            "[[output]]\nprotocol = \"ddp\"\nhost = \"127.0.0.1:70000\"\n".into(),
            3,
            &["ports are 1 to 65535"],
        ),
        (
            format!("{ddp}color_order = \"rgbx\"\n"),
            4,
            &["unknown variant `rgbx`", "grb"],
        ),
        (
            format!(
                "{ddp}region = {{ x = 0, y = 0, width = 16, height = 16 }}\nlayout = {{ panel_width = 8, panel_height = 8, columns = 3 }}\n"
            ),
            5,
            &["panels cover 24×8", "region 16×16"],
        ),
        (
            format!(
                "{ddp}layout = {{ panel_width = 8, panel_height = 8, columns = 2, rows = 2, rotation = 45 }}\n"
            ),
            4,
            &["rotation must be 0, 90, 180 or 270"],
        ),
        (
            format!("{ddp}layout = {{ panel_width = 8, panel_height = 8, columns = 3 }}\n"),
            4,
            &["shows 24×8 pixels at (0, 0), outside the 16×16 frame"],
        ),
        (
            "[[output]]\nprotocol = \"ddp\"\nhost = \"wled.local\"\n".into(),
            3,
            &["not an IP address", "host names are not looked up"],
        ),
    ];
    for (text, line, needles) in cases {
        let (got, shown) = rig_error(&text);
        assert_eq!(got, line, "{shown}");
        assert!(shown.contains(&format!("rig.toml:{line}:")), "{shown}");
        for n in needles {
            assert!(shown.contains(n), "missing {n:?} in:\n{shown}");
        }
    }
}

#[test]
fn the_shipped_rigs_load_and_fit_the_scenes_they_name() {
    let root = crate::util::root();
    let cube = Rig::load(&root.join("rigs/cube.toml")).unwrap();
    assert_eq!(cube.check_frame(256, 64).unwrap().len(), 1);
    let layout = cube.outputs[0].layout.as_ref().unwrap();
    assert_eq!(layout.panels[2].quarter_turns, 2, "the back face turned 180°");
    let matrix = Rig::load(&root.join("rigs/matrix16.toml")).unwrap();
    assert_eq!(matrix.check_frame(256, 64).unwrap()[0].width, 16);
    let desk = Rig::load(&root.join("rigs/sacn-desk.toml")).unwrap();
    desk.check_frame(256, 64).unwrap();
}

#[test]
fn delays_are_relative_and_a_delayed_output_sends_every_frame_in_order_later() {
    let rig = Rig::parse(
        Path::new("rig.toml"),
        "[[output]]\nprotocol = \"ddp\"\nhost = \"127.0.0.1:1\"\nregion = { width = 4, height = 4 }\ndelay_ms = 10\n\
         [[output]]\nprotocol = \"ddp\"\nhost = \"127.0.0.1:2\"\nregion = { x = 4, width = 4, height = 4 }\ndelay_ms = -30\n"
            .into(),
    )
    .unwrap();
    let delays: Vec<u128> = rig.outputs.iter().map(|o| o.delay.as_millis()).collect();
    assert_eq!(delays, [40, 0], "the smallest delay in the rig becomes none");

    let dir = tempfile::tempdir().unwrap();
    let scene = pixels_scene(dir.path(), 4, 2);
    let (socket, port) = controller();
    let rig = write(
        dir.path(),
        "rig.toml",
        &format!(
            "[[output]]\nid = \"late\"\nprotocol = \"ddp\"\nhost = \"127.0.0.1:{port}\"\ndelay_ms = 200\n"
        ),
    );
    let (got, out) = receive_all(&socket, run(&scene, &rig, 30, true));
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    let packets: Vec<DdpPacket> = got.iter().map(|p| ddp(p)).collect();
    assert!(!packets.is_empty(), "{log}");
    let want: Vec<u8> = rows_of_pixels(4, 2).concat();
    for (i, p) in packets.iter().enumerate() {
        assert_eq!(p.sequence as usize, i % 15 + 1, "in order, none lost on the way");
        assert_eq!(p.data, want);
    }
    // What the output says it sent arrived; the frames of the last 200 ms were still held.
    assert!(log.contains(&format!("frames={}", packets.len())), "{log}");
    let held = log
        .split("delay_dropped=")
        .nth(1)
        .and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next());
    assert!(
        held.and_then(|n| n.parse::<u64>().ok()).is_some_and(|n| n >= 1),
        "{log}"
    );
}

/// One frame as a HUB75 driver reads it: the 8-byte big-endian header, then the RGB payload.
fn read_hub75_frame(conn: &mut impl std::io::Read) -> Option<(u16, u16, Vec<u8>)> {
    let mut header = [0u8; 8];
    conn.read_exact(&mut header).ok()?;
    let width = u16::from_be_bytes([header[0], header[1]]);
    let height = u16::from_be_bytes([header[2], header[3]]);
    let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
    assert_eq!(
        len,
        width as usize * height as usize * 3,
        "the payload is width × height × 3"
    );
    let mut payload = vec![0u8; len];
    conn.read_exact(&mut payload).ok()?;
    Some((width, height, payload))
}

#[test]
fn a_hub75_driver_on_a_unix_socket_gets_each_changed_frame_and_acknowledges_it() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("matrix.sock");
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    // The driver: reads frames and answers OK to each, as the Python drivers do.
    let driver = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut frames = Vec::new();
        while let Some(frame) = read_hub75_frame(&mut conn) {
            frames.push(frame);
            conn.write_all(b"OK").unwrap();
        }
        frames
    });
    let scene = pixels_scene(dir.path(), 4, 2);
    let rig = write(
        dir.path(),
        "rig.toml",
        "[[output]]\nid = \"pi\"\nprotocol = \"hub75\"\nsocket = \"matrix.sock\"\ncolor_order = \"bgr\"\n",
    );
    let out = run(&scene, &rig, 20, true).wait_with_output().unwrap();
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    let frames = driver.join().unwrap();
    // A still scene: the first frame, and no other (each later one was the same).
    assert_eq!(frames.len(), 1, "{log}");
    let want: Vec<u8> = rows_of_pixels(4, 2)
        .iter()
        .flat_map(|&[r, g, b]| [b, g, r])
        .collect();
    assert_eq!(frames[0], (4, 2, want));
    assert!(log.contains("frames=1,"), "{log}");
    let unchanged = log
        .split("unchanged=")
        .nth(1)
        .and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next());
    assert!(
        unchanged
            .and_then(|n| n.parse::<u64>().ok())
            .is_some_and(|n| n >= 1),
        "{log}"
    );
}

#[test]
fn a_hub75_driver_over_tcp_without_acknowledgements_gets_every_frame() {
    let dir = tempfile::tempdir().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // This driver never answers: the sender must not wait for it.
    let driver = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut frames = Vec::new();
        while let Some(frame) = read_hub75_frame(&mut conn) {
            frames.push(frame);
        }
        frames
    });
    let scene = write(
        dir.path(),
        "s.toml",
        "fps = 30\n[canvas]\nwidth = 8\nheight = 4\n[[layer]]\nplugin = \"solid\"\nconfig = { color = \"#ff8000\" }\n",
    );
    let rig = write(
        dir.path(),
        "rig.toml",
        &format!(
            "[[output]]\nprotocol = \"hub75\"\nhost = \"127.0.0.1:{port}\"\nack = false\nskip_unchanged = false\nbrightness = 0.5\n"
        ),
    );
    let out = run(&scene, &rig, 10, true).wait_with_output().unwrap();
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    let frames = driver.join().unwrap();
    assert!(!frames.is_empty(), "{log}");
    assert!(
        log.contains(&format!("frames={},", frames.len())),
        "every frame sent arrived: {log}"
    );
    for (w, h, payload) in frames {
        assert_eq!((w, h), (8, 4));
        // Half brightness: 255 → 128, 128 → 64.
        assert!(payload.chunks(3).all(|px| px == [128, 64, 0]), "{payload:?}");
    }
}

#[test]
fn a_scene_may_name_its_rig_and_the_command_line_wins() {
    let dir = tempfile::tempdir().unwrap();
    let (named, named_port) = controller();
    let (given, given_port) = controller();
    let rig = |name: &str, port: u16| {
        write(
            dir.path(),
            name,
            &format!("[[output]]\nprotocol = \"ddp\"\nhost = \"127.0.0.1:{port}\"\n"),
        )
    };
    rig("named.toml", named_port);
    let other = rig("given.toml", given_port);
    let scene = write(
        dir.path(),
        "s.toml",
        "rig = \"named.toml\"\n[canvas]\nwidth = 4\nheight = 1\n[[layer]]\nplugin = \"solid\"\nconfig = { color = \"#00ff00\" }\n",
    );
    let marquee = |extra: &[&str]| {
        crate::util::headless(&scene, 5, extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (got, out) = receive_all(&named, marquee(&[]));
    assert!(out.status.success(), "{}", text(&out));
    assert!(!got.is_empty(), "the scene's rig is driven: {}", text(&out));
    let child = marquee(&["--rig", other.to_str().unwrap()]);
    let (got, out) = receive_all(&given, child);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!got.is_empty(), "--rig is driven: {}", text(&out));
    let mut buf = [0u8; 64];
    assert!(named.recv(&mut buf).is_err(), "and the scene's is not");
}

/// Three UDP ports free on loopback now.
fn free_ports() -> [u16; 3] {
    let sockets: Vec<UdpSocket> = (0..3).map(|_| UdpSocket::bind("127.0.0.1:0").unwrap()).collect();
    [0, 1, 2].map(|i| sockets[i].local_addr().unwrap().port())
}

#[test]
fn marquee_receive_shows_what_each_protocol_sends_and_counts_it() {
    let dir = tempfile::tempdir().unwrap();
    let scene = pixels_scene(dir.path(), 20, 10);
    for (i, protocol) in ["ddp", "e131", "artnet"].into_iter().enumerate() {
        let ports = free_ports();
        let (json, png) = (
            dir.path().join(format!("{protocol}.json")),
            dir.path().join(format!("{protocol}.png")),
        );
        let receiver = Command::new(env!("CARGO_BIN_EXE_marquee"))
            .args([
                "receive",
                "--output",
                "headless",
                "--width",
                "20",
                "--height",
                "10",
                "--seconds",
                "4",
            ])
            .args([
                "--ddp-port",
                &ports[0].to_string(),
                "--e131-port",
                &ports[1].to_string(),
            ])
            .args(["--artnet-port", &ports[2].to_string()])
            .args(["--json", json.to_str().unwrap(), "--save", png.to_str().unwrap()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(700));
        let rig = write(
            dir.path(),
            &format!("{protocol}.toml"),
            &format!(
                "[[output]]\nprotocol = \"{protocol}\"\nhost = \"127.0.0.1:{}\"\n",
                ports[i]
            ),
        );
        let sent = run(&scene, &rig, 30, true).wait_with_output().unwrap();
        assert!(sent.status.success(), "{}", text(&sent));
        let got = receiver.wait_with_output().unwrap();
        assert!(got.status.success(), "{}", text(&got));
        let counts: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        let sources = counts.as_array().unwrap();
        assert_eq!(sources.len(), 1, "{counts}");
        assert_eq!(sources[0]["protocol"], protocol);
        let c = &sources[0]["counts"];
        assert!(c["frames"].as_u64().unwrap() >= 1, "{protocol}: {c}");
        assert_eq!(
            (c["gaps"].as_u64(), c["late"].as_u64(), c["malformed"].as_u64()),
            (Some(0), Some(0), Some(0)),
            "{protocol}: {c}"
        );
        let frame = image::open(&png).unwrap().to_rgba8();
        for (x, y, px) in frame.enumerate_pixels() {
            assert_eq!(px.0[..3], colour(x, y), "{protocol}: pixel ({x}, {y})");
        }
    }
}

#[test]
fn e131_multicast_goes_to_each_universes_group_by_the_interface_the_rig_names() {
    let dir = tempfile::tempdir().unwrap();
    let scene = pixels_scene(dir.path(), 4, 2);
    // Universe 9's group, joined on loopback only.
    let group = std::net::Ipv4Addr::new(239, 255, 0, 9);
    let socket = UdpSocket::bind((group, 5568)).unwrap();
    socket
        .join_multicast_v4(&group, &std::net::Ipv4Addr::LOCALHOST)
        .unwrap();
    socket.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let rig = write(
        dir.path(),
        "rig.toml",
        "[[output]]\nprotocol = \"e131\"\nmulticast = true\ninterface = \"127.0.0.1\"\nuniverse = 9\n",
    );
    let (got, out) = receive_all(&socket, run(&scene, &rig, 10, false));
    assert!(out.status.success(), "{}", text(&out));
    assert!(!got.is_empty(), "{}", text(&out));
    let want: Vec<u8> = rows_of_pixels(4, 2).concat();
    for p in &got {
        assert_eq!(&p[4..16], b"ASC-E1.17\0\0\0");
        assert_eq!(u16::from_be_bytes([p[113], p[114]]), 9, "universe");
        assert_eq!(&p[126..], &want[..]);
    }
}
