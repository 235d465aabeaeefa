//! Rig files: the LED hardware, described apart from the scenes, so that one scene plays on the
//! desk and on the cube (`marquee run SCENE --rig rigs/cube.toml`). A rig lists outputs; each
//! takes a region of the frame, maps it to the controller's pixel order (panels, wiring,
//! rotation, flip, chaining), converts colour (order, white channel, gamma, brightness cap,
//! current limit) and speaks one protocol (DDP, E1.31, Art-Net) to one controller.
//!
//! Two stages, like scenes: `RigFile` (the TOML's shape, unknown fields refused) → `Rig`
//! (validated, every error pointed at its line and column).

use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::path::Path;

use serde::Deserialize;

use crate::model::scene::{MAX_FILE_BYTES, SceneError, Source, parse_file};
use crate::model::spanned::Spanned;

/// The most outputs one rig may have.
pub const MAX_OUTPUTS: usize = 256;
/// The most LEDs one output may drive (4 × 1080p; far beyond any single controller).
pub const MAX_LEDS: u64 = 4 * 1920 * 1080;
/// The highest E1.31 universe (ANSI E1.31-2018: 1–63999).
pub const MAX_E131_UNIVERSE: u64 = 63_999;
/// The highest Art-Net port address (15 bits: net, sub-net, universe).
pub const MAX_ARTNET_UNIVERSE: u64 = 32_767;
/// Slots in a DMX universe.
pub const DMX_SLOTS: u64 = 512;

/// The raw shape of a rig file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RigFile {
    /// A name for logs; defaults to the file stem.
    pub name: Option<String>,
    /// The outputs.
    #[serde(rename = "output")]
    pub outputs: Vec<Spanned<OutputFile>>,
}

/// `[[output]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputFile {
    /// A name for logs and counters; defaults to `PROTOCOL-N`.
    pub id: Option<String>,
    /// How to talk to the controller.
    pub protocol: Spanned<Protocol>,
    /// The controller's IP address, optionally with a port (`192.168.1.50`, `192.168.1.50:4048`,
    /// `[::1]:5568`). E1.31 with `multicast = true` needs none.
    pub host: Option<Spanned<String>>,
    /// The part of the frame this output shows; default the whole frame.
    pub region: Option<Spanned<RegionFile>>,
    /// How the controller's LEDs are laid out; default one panel the size of the region, wired
    /// row by row.
    pub layout: Option<Spanned<LayoutFile>>,
    /// Per-panel rotation and flip, in chain order (overrides the layout's).
    #[serde(default, rename = "panel")]
    pub panels: Vec<Spanned<PanelFile>>,
    /// The order the controller expects the colour channels in; default `rgb`.
    pub color_order: Option<ColorOrder>,
    /// A fourth, white channel: `min` sends min(r, g, b) as white and subtracts it from the
    /// colour channels; `off` (the default) sends three channels.
    pub white: Option<White>,
    /// Gamma applied to every channel (a 256-entry table); default 1 (none).
    pub gamma: Option<Spanned<f64>>,
    /// The brightest any channel may be, 0 to 1; default 1.
    pub brightness: Option<Spanned<f64>>,
    /// A current limit like WLED's: frames that would draw more are scaled down.
    pub current: Option<Spanned<CurrentFile>>,
    /// The most frames per second the controller takes; frames beyond are skipped, evenly.
    pub max_fps: Option<Spanned<f64>>,
    /// Milliseconds to hold each frame before sending it, to line outputs up with each other
    /// or with sound; may be negative: delays are relative, the smallest in the rig is none.
    pub delay_ms: Option<Spanned<f64>>,
    /// DDP: LEDs on the controller before this output's first one (E1.31 and Art-Net outputs
    /// start at a `universe` instead).
    pub start: Option<Spanned<u64>>,
    /// E1.31 and Art-Net: the first universe (E1.31 1–63999, default 1; Art-Net port address
    /// 0–32767, default 0).
    pub universe: Option<Spanned<u64>>,
    /// E1.31 and Art-Net: pixels per universe; default as many whole pixels as fit in 512 slots
    /// (170 RGB, 128 RGBW). A pixel is never split across two universes.
    pub pixels_per_universe: Option<Spanned<u64>>,
    /// E1.31: the priority, 0–200; default 100.
    pub priority: Option<Spanned<u64>>,
    /// E1.31: send to the multicast group of each universe (239.255.hi.lo) instead of `host`.
    pub multicast: Option<bool>,
    /// E1.31 multicast: the IPv4 address of the interface to send from (default: the system's
    /// choice, by its routes).
    pub interface: Option<Spanned<String>>,
    /// E1.31 and Art-Net: a synchronisation packet after each frame (E1.31: on the first
    /// universe, unless `sync_universe` says another).
    pub sync: Option<bool>,
    /// E1.31: the universe synchronisation packets go to.
    pub sync_universe: Option<Spanned<u64>>,
    /// HUB75: the driver's Unix socket (instead of `host`, which names a TCP one).
    pub socket: Option<Spanned<String>>,
    /// HUB75: wait for the driver's `OK` after each frame; default true.
    pub ack: Option<bool>,
    /// HUB75: send a frame only when it differs from the last one sent; default true.
    pub skip_unchanged: Option<bool>,
}

/// The protocols a rig output speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// DDP, UDP port 4048.
    Ddp,
    /// E1.31 (sACN), UDP port 5568.
    E131,
    /// Art-Net 4, UDP port 6454.
    Artnet,
    /// HUB75 panels through a driver process on a Unix or TCP stream socket: per frame an
    /// 8-byte big-endian header (width u16, height u16, payload length u32), then RGB bytes.
    Hub75,
}

impl Protocol {
    /// Its UDP port.
    pub fn port(self) -> u16 {
        match self {
            Protocol::Ddp => 4048,
            Protocol::E131 => 5568,
            Protocol::Artnet => 6454,
            Protocol::Hub75 => 9999,
        }
    }

    /// Its name in a rig file.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Ddp => "ddp",
            Protocol::E131 => "e131",
            Protocol::Artnet => "artnet",
            Protocol::Hub75 => "hub75",
        }
    }
}

/// `region = { x, y, width, height }`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionFile {
    /// Left edge.
    #[serde(default)]
    pub x: u32,
    /// Top edge.
    #[serde(default)]
    pub y: u32,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
}

/// `layout = { ... }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayoutFile {
    /// A panel's width in the frame.
    pub panel_width: Option<u32>,
    /// A panel's height in the frame.
    pub panel_height: Option<u32>,
    /// Panels across; default 1.
    pub columns: Option<u32>,
    /// Panels down; default 1.
    pub rows: Option<u32>,
    /// The order the panels are chained in; default `rows`.
    pub chain: Option<Order>,
    /// The order of the LEDs within a panel, in the panel's own orientation; default `rows`.
    pub wiring: Option<Order>,
    /// How every panel is turned, clockwise: 0, 90, 180 or 270; default 0.
    pub rotation: Option<Spanned<u32>>,
    /// How every panel is mirrored after turning; default `none`.
    pub flip: Option<Flip>,
}

/// `[[output.panel]]`: one panel's own rotation and flip.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PanelFile {
    /// Clockwise: 0, 90, 180 or 270.
    pub rotation: Option<Spanned<u32>>,
    /// Mirrored after turning.
    pub flip: Option<Flip>,
}

/// `current = { ma_per_channel, budget_ma }`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CurrentFile {
    /// Milliamps one channel of one LED draws at full brightness (WS2812: about 20).
    pub ma_per_channel: f64,
    /// What the power supply gives the LEDs, in milliamps.
    pub budget_ma: f64,
}

/// An order of cells on a grid (LEDs in a panel, panels in a chain).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Order {
    /// Row by row, each left to right.
    #[default]
    Rows,
    /// Row by row, every other row right to left (zigzag).
    RowsSerpentine,
    /// Column by column, each top to bottom.
    Columns,
    /// Column by column, every other column bottom to top.
    ColumnsSerpentine,
}

/// A mirror.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Flip {
    /// None.
    #[default]
    None,
    /// Left and right swapped.
    Horizontal,
    /// Top and bottom swapped.
    Vertical,
}

/// The order a controller expects colour channels in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ColorOrder {
    /// Red, green, blue.
    #[default]
    Rgb,
    /// Red, blue, green.
    Rbg,
    /// Green, red, blue (WS2812).
    Grb,
    /// Green, blue, red.
    Gbr,
    /// Blue, red, green.
    Brg,
    /// Blue, green, red.
    Bgr,
}

impl ColorOrder {
    /// For each wire position, which of r (0), g (1), b (2) goes there.
    pub fn indices(self) -> [usize; 3] {
        match self {
            ColorOrder::Rgb => [0, 1, 2],
            ColorOrder::Rbg => [0, 2, 1],
            ColorOrder::Grb => [1, 0, 2],
            ColorOrder::Gbr => [1, 2, 0],
            ColorOrder::Brg => [2, 0, 1],
            ColorOrder::Bgr => [2, 1, 0],
        }
    }
}

/// The white channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum White {
    /// Three channels.
    #[default]
    Off,
    /// A fourth channel, min(r, g, b), subtracted from the colour.
    Min,
}

/// A rectangle of the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    /// Left edge.
    pub x: u32,
    /// Top edge.
    pub y: u32,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
}

impl Rect {
    fn overlaps(&self, o: &Rect) -> bool {
        let (ax, ay) = (self.x as u64, self.y as u64);
        let (bx, by) = (o.x as u64, o.y as u64);
        ax < bx + o.width as u64
            && bx < ax + self.width as u64
            && ay < by + o.height as u64
            && by < ay + self.height as u64
    }
}

/// One panel's orientation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Orientation {
    /// Quarter turns clockwise (0–3).
    pub quarter_turns: u8,
    /// Mirrored after turning.
    pub flip: Flip,
}

/// How an output's LEDs are laid out, validated: `columns × rows` panels of `panel` pixels of
/// the frame each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// A panel's footprint in the frame: width, height.
    pub panel: (u32, u32),
    /// Panels across.
    pub columns: u32,
    /// Panels down.
    pub rows: u32,
    /// The order panels are chained in.
    pub chain: Order,
    /// The order of LEDs within a panel, in the panel's own orientation.
    pub wiring: Order,
    /// Each panel's orientation, in chain order.
    pub panels: Vec<Orientation>,
}

/// Colour conversion for one output.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ColorSpec {
    /// Channel order.
    pub order: ColorOrder,
    /// White channel.
    pub white: White,
    /// Gamma exponent (1: none).
    pub gamma: f64,
    /// Brightness cap, 0 to 1.
    pub brightness: f64,
    /// Current limit: mA per channel at full, budget mA.
    pub current: Option<(f64, f64)>,
}

impl ColorSpec {
    /// Channels per LED: 3, or 4 with a white channel.
    pub fn channels(&self) -> usize {
        match self.white {
            White::Off => 3,
            White::Min => 4,
        }
    }
}

/// Where an output sends, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wire {
    /// DDP to `to`.
    Ddp {
        /// The controller.
        to: SocketAddr,
    },
    /// E1.31 data packets.
    E131 {
        /// The controller, or `None` for multicast.
        to: Option<SocketAddr>,
        /// The first universe.
        universe: u16,
        /// Pixels per universe.
        pixels_per_universe: u16,
        /// Priority.
        priority: u8,
        /// The synchronisation universe, if sync is on.
        sync_universe: Option<u16>,
        /// Multicast: the interface to send from.
        interface: Option<std::net::Ipv4Addr>,
    },
    /// A stream to a HUB75 driver process.
    Hub75 {
        /// Where the driver listens.
        to: StreamTarget,
        /// Wait for `OK` after each frame.
        ack: bool,
        /// Send only frames that changed.
        skip_unchanged: bool,
    },
    /// Art-Net ArtDmx packets.
    Artnet {
        /// The node.
        to: SocketAddr,
        /// The first port address.
        universe: u16,
        /// Pixels per universe.
        pixels_per_universe: u16,
        /// ArtSync after each frame.
        sync: bool,
    },
}

/// A stream socket a driver process listens on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamTarget {
    /// TCP.
    Tcp(SocketAddr),
    /// A Unix socket.
    Unix(std::path::PathBuf),
}

/// One output of a rig, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct LedOutputSpec {
    /// Its id.
    pub id: String,
    /// The protocol.
    pub protocol: Protocol,
    /// Where and how it sends.
    pub wire: Wire,
    /// The part of the frame it shows; `None`: the whole frame.
    pub region: Option<Rect>,
    /// How its LEDs are laid out; `None`: one panel the size of the region, wired by rows.
    pub layout: Option<Layout>,
    /// Colour conversion.
    pub color: ColorSpec,
    /// Frames per second at most.
    pub max_fps: Option<f64>,
    /// How long each frame is held before it is sent (the rig's delays made relative: the
    /// smallest is zero).
    pub delay: std::time::Duration,
    /// The delay as written, in milliseconds.
    pub delay_ms: f64,
    /// LEDs on the controller before this output's first one.
    pub start: u64,
    /// Where it is in the rig file (for errors found once the frame size is known).
    pub span: Range<usize>,
}

/// A rig, validated.
#[derive(Debug, Clone)]
pub struct Rig {
    /// The file.
    pub source: Source,
    /// Display name.
    pub name: String,
    /// Its outputs.
    pub outputs: Vec<LedOutputSpec>,
}

impl Rig {
    /// Reads and validates the rig at `path`.
    pub fn load(path: &Path) -> Result<Rig, SceneError> {
        let text = marquee_plugin_api::files::read_text_bounded(path, MAX_FILE_BYTES).map_err(|e| {
            SceneError::Invalid(Box::new(
                crate::model::diag::Diagnostic::new(
                    format!("cannot read rig {}: {e}", path.display()),
                    path,
                    "",
                    None,
                )
                .help("a rig file is TOML; see rigs/cube.toml"),
            ))
        })?;
        Rig::parse(path, text)
    }

    /// Validates rig `text` as if read from `path`.
    pub fn parse(path: &Path, text: String) -> Result<Rig, SceneError> {
        let source = Source {
            path: path.to_path_buf(),
            text,
        };
        let file: RigFile = parse_file(&source, "rig")?;
        let invalid = |message: String, span: Range<usize>| {
            SceneError::Invalid(Box::new(source.diag(message, Some(span))))
        };
        if file.outputs.is_empty() {
            return Err(SceneError::Invalid(Box::new(
                source
                    .diag("the rig has no outputs", None)
                    .help("add an [[output]] with a protocol and a host; see rigs/cube.toml"),
            )));
        }
        if file.outputs.len() > MAX_OUTPUTS {
            return Err(invalid(
                format!("a rig may have at most {MAX_OUTPUTS} outputs"),
                file.outputs[MAX_OUTPUTS].span(),
            ));
        }
        let mut outputs: Vec<LedOutputSpec> = Vec::with_capacity(file.outputs.len());
        for (i, spanned) in file.outputs.iter().enumerate() {
            let spec = output(&source, i, spanned)?;
            if let Some(other) = outputs.iter().find(|o| o.id == spec.id) {
                return Err(invalid(
                    format!("two outputs are called `{}`", other.id),
                    spanned.span(),
                ));
            }
            outputs.push(spec);
        }
        // Delays are relative: the output with the smallest is sent at once.
        let least = outputs.iter().map(|o| o.delay_ms).fold(0.0f64, f64::min);
        for o in &mut outputs {
            o.delay = std::time::Duration::from_secs_f64((o.delay_ms - least) / 1000.0);
        }
        let name = file.name.clone().unwrap_or_else(|| {
            path.file_stem()
                .map_or_else(|| "rig".into(), |s| s.to_string_lossy().into_owned())
        });
        Ok(Rig {
            source,
            name,
            outputs,
        })
    }

    /// Where output `o`'s region is stated: its `region`, or the `layout` it comes from.
    fn region_span(&self, o: &LedOutputSpec) -> Range<usize> {
        let region = self.source.key_span("region", o.span.clone());
        if self.source.text[region.clone()].starts_with("region") {
            return region;
        }
        self.source.key_span("layout", o.span.clone())
    }

    /// Checks the rig against frames of `width × height`: every region inside the frame, no two
    /// regions overlapping. Returns each output's region, resolved.
    pub fn check_frame(&self, width: u32, height: u32) -> Result<Vec<Rect>, SceneError> {
        let mut regions: Vec<Rect> = Vec::with_capacity(self.outputs.len());
        for o in &self.outputs {
            let r = o.region.unwrap_or(Rect {
                x: 0,
                y: 0,
                width,
                height,
            });
            let outside =
                r.x as u64 + r.width as u64 > width as u64 || r.y as u64 + r.height as u64 > height as u64;
            if outside {
                return Err(SceneError::Invalid(Box::new(
                    self.source
                        .diag(
                            format!(
                                "output `{}` shows {}×{} pixels at ({}, {}), outside the {width}×{height} frame",
                                o.id, r.width, r.height, r.x, r.y
                            ),
                            Some(self.region_span(o)),
                        )
                        .help("a region must lie inside the frames the scene makes"),
                )));
            }
            let layout = o.layout.as_ref().map_or((r.width, r.height), |l| {
                (l.panel.0 * l.columns, l.panel.1 * l.rows)
            });
            if layout != (r.width, r.height) {
                return Err(SceneError::Invalid(Box::new(
                    self.source
                        .diag(
                            format!(
                                "output `{}`: its panels cover {}×{} pixels, its region {}×{}",
                                o.id, layout.0, layout.1, r.width, r.height
                            ),
                            Some(self.source.key_span("layout", o.span.clone())),
                        )
                        .help("panel_width × columns and panel_height × rows must be the region's size"),
                )));
            }
            if let Wire::E131 {
                universe,
                pixels_per_universe,
                ..
            }
            | Wire::Artnet {
                universe,
                pixels_per_universe,
                ..
            } = &o.wire
            {
                let leds = r.width as u64 * r.height as u64;
                let last = *universe as u64 + leds.div_ceil(*pixels_per_universe as u64) - 1;
                let max = match o.protocol {
                    Protocol::E131 => MAX_E131_UNIVERSE,
                    _ => MAX_ARTNET_UNIVERSE,
                };
                if last > max {
                    return Err(SceneError::Invalid(Box::new(
                        self.source
                            .diag(
                                format!("output `{}` needs universes {universe} to {last}, beyond the last, {max}", o.id),
                                Some(self.source.key_span("universe", o.span.clone())),
                            )
                            .help("start at a lower universe, or split the region between outputs"),
                    )));
                }
            }
            if let Some((j, _)) = regions.iter().enumerate().find(|(_, q)| q.overlaps(&r)) {
                return Err(SceneError::Invalid(Box::new(
                    self.source
                        .diag(
                            format!("output `{}` overlaps output `{}`", o.id, self.outputs[j].id),
                            Some(self.region_span(o)),
                        )
                        .help("each pixel of the frame goes to one output; give them regions that do not overlap"),
                )));
            }
            regions.push(r);
        }
        Ok(regions)
    }
}

/// Validates output `i`.
fn output(source: &Source, i: usize, spanned: &Spanned<OutputFile>) -> Result<LedOutputSpec, SceneError> {
    let o = spanned.get_ref();
    let span = spanned.span();
    let invalid =
        |message: String, at: Range<usize>| SceneError::Invalid(Box::new(source.diag(message, Some(at))));
    let protocol = *o.protocol.get_ref();
    let id =
        o.id.clone()
            .unwrap_or_else(|| format!("{}-{}", protocol.as_str(), i + 1));
    let to = match &o.host {
        Some(h) => Some(address(h.get_ref(), protocol.port()).map_err(|e| invalid(e, h.span()))?),
        None => None,
    };
    let need_host = || {
        SceneError::Invalid(Box::new(
            source
                .diag(format!("output `{id}` ({}) needs a `host`", protocol.as_str()), Some(span.clone()))
                .help("host = \"192.168.1.50\" (the controller's IP address; a port may follow, as in 192.168.1.50:4048)"),
        ))
    };
    let region = match &o.region {
        Some(r) => {
            let v = r.get_ref();
            if v.width == 0 || v.height == 0 {
                return Err(invalid(
                    "a region needs a width and a height of at least 1".into(),
                    r.span(),
                ));
            }
            Some(Rect {
                x: v.x,
                y: v.y,
                width: v.width,
                height: v.height,
            })
        }
        None => None,
    };
    let layout = match &o.layout {
        Some(l) => Some(layout(source, l, &o.panels, region)?),
        None if !o.panels.is_empty() => {
            return Err(invalid(
                "[[output.panel]] needs a `layout` saying how many panels there are".into(),
                o.panels[0].span(),
            ));
        }
        None => None,
    };
    let region = region.or_else(|| {
        layout.as_ref().map(|l| Rect {
            x: 0,
            y: 0,
            width: l.panel.0 * l.columns,
            height: l.panel.1 * l.rows,
        })
    });
    let in_range = |v: &Option<Spanned<f64>>, name: &str, lo: f64, hi: f64, default: f64| match v {
        Some(s) if !(lo..=hi).contains(s.get_ref()) => Err(invalid(
            format!("{name} must be from {lo} to {hi}, found {}", s.get_ref()),
            s.span(),
        )),
        Some(s) => Ok(*s.get_ref()),
        None => Ok(default),
    };
    let gamma = in_range(&o.gamma, "gamma", 0.1, 5.0, 1.0)?;
    let delay_ms = in_range(&o.delay_ms, "delay_ms", -10_000.0, 10_000.0, 0.0)?;
    let brightness = in_range(&o.brightness, "brightness", 0.0, 1.0, 1.0)?;
    let max_fps = match &o.max_fps {
        Some(s) if !(1.0..=1000.0).contains(s.get_ref()) => {
            return Err(invalid(
                format!("max_fps must be from 1 to 1000, found {}", s.get_ref()),
                s.span(),
            ));
        }
        s => s.as_ref().map(|s| *s.get_ref()),
    };
    let current = match &o.current {
        Some(c) => {
            let v = c.get_ref();
            let ok = |x: f64, hi: f64| x.is_finite() && x > 0.0 && x <= hi;
            if !ok(v.ma_per_channel, 1000.0) || !ok(v.budget_ma, 1e9) {
                return Err(SceneError::Invalid(Box::new(
                    source
                        .diag(
                            format!(
                                "current needs ma_per_channel from 0 to 1000 and budget_ma above 0, found {} and {}",
                                v.ma_per_channel, v.budget_ma
                            ),
                            Some(c.span()),
                        )
                        .help("current = { ma_per_channel = 20, budget_ma = 4000 } for WS2812 LEDs on a 4 A supply"),
                )));
            }
            Some((v.ma_per_channel, v.budget_ma))
        }
        None => None,
    };
    let color = ColorSpec {
        order: o.color_order.unwrap_or_default(),
        white: o.white.unwrap_or_default(),
        gamma,
        brightness,
        current,
    };
    let start = o.start.as_ref().map_or(0, |s| *s.get_ref());
    if start > MAX_LEDS {
        let s = o.start.as_ref().expect("set");
        return Err(invalid(
            format!("start must be at most {MAX_LEDS}, found {start}"),
            s.span(),
        ));
    }
    let channels = color.channels() as u64;
    // Fields of one protocol given to another: each with where it is written.
    let at = |key: &str| source.key_span(key, span.clone());
    use Protocol::{Artnet, Ddp, E131, Hub75};
    // A field's name, where it is written (if it is), the protocols it belongs to.
    type Specific<'a> = (&'a str, Option<Range<usize>>, &'a [Protocol]);
    let specific: [Specific; 11] = [
        ("start", o.start.as_ref().map(|s| s.span()), &[Ddp]),
        ("universe", o.universe.as_ref().map(|s| s.span()), &[E131, Artnet]),
        (
            "pixels_per_universe",
            o.pixels_per_universe.as_ref().map(|s| s.span()),
            &[E131, Artnet],
        ),
        ("priority", o.priority.as_ref().map(|s| s.span()), &[E131]),
        (
            "sync_universe",
            o.sync_universe.as_ref().map(|s| s.span()),
            &[E131],
        ),
        ("multicast", o.multicast.map(|_| at("multicast")), &[E131]),
        ("sync", o.sync.map(|_| at("sync")), &[E131, Artnet]),
        ("ack", o.ack.map(|_| at("ack")), &[Hub75]),
        (
            "skip_unchanged",
            o.skip_unchanged.map(|_| at("skip_unchanged")),
            &[Hub75],
        ),
        ("interface", o.interface.as_ref().map(|s| s.span()), &[E131]),
        ("socket", o.socket.as_ref().map(|s| s.span()), &[Hub75]),
    ];
    for (name, written, allowed) in specific {
        if let Some(written) = written
            && !allowed.contains(&protocol)
        {
            return Err(invalid(
                format!("`{name}` does not apply to {}", protocol.as_str()),
                written,
            ));
        }
    }
    let per_universe = || -> Result<u16, SceneError> {
        let most = DMX_SLOTS / channels;
        match &o.pixels_per_universe {
            Some(p) if *p.get_ref() == 0 || *p.get_ref() > most => Err(invalid(
                format!(
                    "pixels_per_universe must be from 1 to {most} ({DMX_SLOTS} slots of {channels} channels), found {}",
                    p.get_ref()
                ),
                p.span(),
            )),
            Some(p) => Ok(*p.get_ref() as u16),
            None => Ok(most as u16),
        }
    };
    let wire = match protocol {
        Protocol::Ddp => Wire::Ddp {
            to: to.ok_or_else(need_host)?,
        },
        Protocol::E131 => {
            let universe = match &o.universe {
                Some(u) if !(1..=MAX_E131_UNIVERSE).contains(u.get_ref()) => {
                    return Err(SceneError::Invalid(Box::new(
                        source
                            .diag(
                                format!(
                                    "E1.31 universes are 1 to {MAX_E131_UNIVERSE}, found {}",
                                    u.get_ref()
                                ),
                                Some(u.span()),
                            )
                            .help("universe 0 is reserved by the standard; the first is 1"),
                    )));
                }
                Some(u) => *u.get_ref() as u16,
                None => 1,
            };
            let priority = match &o.priority {
                Some(p) if *p.get_ref() > 200 => {
                    return Err(invalid(
                        format!("priority must be from 0 to 200, found {}", p.get_ref()),
                        p.span(),
                    ));
                }
                Some(p) => *p.get_ref() as u8,
                None => 100,
            };
            let sync_universe = match (&o.sync_universe, o.sync.unwrap_or(false)) {
                (Some(u), _) if !(1..=MAX_E131_UNIVERSE).contains(u.get_ref()) => {
                    return Err(invalid(
                        format!(
                            "E1.31 universes are 1 to {MAX_E131_UNIVERSE}, found {}",
                            u.get_ref()
                        ),
                        u.span(),
                    ));
                }
                (Some(u), true) => Some(*u.get_ref() as u16),
                (Some(u), false) => {
                    return Err(invalid("sync_universe needs sync = true".into(), u.span()));
                }
                (None, true) => Some(universe),
                (None, false) => None,
            };
            let multicast = o.multicast.unwrap_or(false);
            if !multicast && to.is_none() {
                return Err(need_host());
            }
            let interface = match &o.interface {
                Some(i) if !multicast => {
                    return Err(invalid(
                        "`interface` applies to multicast outputs (multicast = true)".into(),
                        i.span(),
                    ));
                }
                Some(i) => Some(i.get_ref().parse::<std::net::Ipv4Addr>().map_err(|_| {
                    invalid(
                        format!("`{}` is not an IPv4 address like 192.168.1.10", i.get_ref()),
                        i.span(),
                    )
                })?),
                None => None,
            };
            Wire::E131 {
                to: if multicast { None } else { to },
                universe,
                pixels_per_universe: per_universe()?,
                priority,
                sync_universe,
                interface,
            }
        }
        Protocol::Hub75 => {
            if color.white == White::Min {
                return Err(invalid(
                    "a HUB75 driver takes RGB; `white` does not apply to hub75".into(),
                    source.key_span("white", span.clone()),
                ));
            }
            let to = match (&o.socket, to) {
                (Some(s), None) => StreamTarget::Unix(crate::model::paths::input(&source.path, s.get_ref())),
                (None, Some(to)) => StreamTarget::Tcp(to),
                (Some(s), Some(_)) => {
                    return Err(invalid(
                        "give the driver's `socket` or its `host`, not both".into(),
                        s.span(),
                    ));
                }
                (None, None) => {
                    return Err(SceneError::Invalid(Box::new(
                        source
                            .diag(format!("output `{id}` (hub75) needs a `socket` or a `host`"), Some(span.clone()))
                            .help("socket = \"/run/led-matrix.sock\" (a Unix socket), or host = \"127.0.0.1:9999\" (TCP)"),
                    )));
                }
            };
            Wire::Hub75 {
                to,
                ack: o.ack.unwrap_or(true),
                skip_unchanged: o.skip_unchanged.unwrap_or(true),
            }
        }
        Protocol::Artnet => {
            let universe = match &o.universe {
                Some(u) if *u.get_ref() > MAX_ARTNET_UNIVERSE => {
                    return Err(invalid(
                        format!(
                            "Art-Net port addresses are 0 to {MAX_ARTNET_UNIVERSE} (net, sub-net and universe in 15 bits), found {}",
                            u.get_ref()
                        ),
                        u.span(),
                    ));
                }
                Some(u) => *u.get_ref() as u16,
                None => 0,
            };
            Wire::Artnet {
                to: to.ok_or_else(need_host)?,
                universe,
                pixels_per_universe: per_universe()?,
                sync: o.sync.unwrap_or(false),
            }
        }
    };
    if let Some(h) = &o.host
        && protocol == Protocol::E131
        && o.multicast == Some(true)
    {
        return Err(invalid(
            "a multicast output sends to each universe's group; remove `host`".into(),
            h.span(),
        ));
    }
    let spec = LedOutputSpec {
        id,
        protocol,
        wire,
        region,
        layout,
        color,
        max_fps,
        delay: std::time::Duration::ZERO,
        delay_ms,
        start,
        span: span.clone(),
    };
    Ok(spec)
}

/// `text` as a socket address: an IP address, with `default_port` unless it names one.
fn address(text: &str, default_port: u16) -> Result<SocketAddr, String> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, default_port));
    }
    match text.parse::<SocketAddr>() {
        Ok(a) if a.port() == 0 => Err(format!(
            "`{text}`: port 0 is not a port to send to; use 1 to 65535"
        )),
        Ok(a) => Ok(a),
        Err(_) => {
            if let Some((_, port)) = text.rsplit_once(':')
                && port.parse::<u64>().is_ok_and(|p| p > 65_535)
            {
                return Err(format!("`{text}`: ports are 1 to 65535"));
            }
            Err(format!(
                "`{text}` is not an IP address like 192.168.1.50 or 192.168.1.50:{default_port} (host names are not looked up)"
            ))
        }
    }
}

/// Validates a layout and its per-panel overrides.
fn layout(
    source: &Source,
    l: &Spanned<LayoutFile>,
    panels: &[Spanned<PanelFile>],
    region: Option<Rect>,
) -> Result<Layout, SceneError> {
    let v = l.get_ref();
    let invalid =
        |message: String, at: Range<usize>| SceneError::Invalid(Box::new(source.diag(message, Some(at))));
    let (columns, rows) = (v.columns.unwrap_or(1), v.rows.unwrap_or(1));
    if columns == 0 || rows == 0 {
        return Err(invalid(
            "a layout needs at least one column and one row of panels".into(),
            l.span(),
        ));
    }
    let default_side = |side: Option<u32>, whole: Option<u32>, count: u32| match (side, whole) {
        (Some(s), _) => Some(s),
        (None, Some(w)) if w % count == 0 => Some(w / count),
        _ => None,
    };
    let (Some(pw), Some(ph)) = (
        default_side(v.panel_width, region.map(|r| r.width), columns),
        default_side(v.panel_height, region.map(|r| r.height), rows),
    ) else {
        return Err(SceneError::Invalid(Box::new(
            source
                .diag(
                    "a layout needs panel_width and panel_height (or a region they divide)",
                    Some(l.span()),
                )
                .help("layout = { panel_width = 64, panel_height = 64, columns = 4, rows = 1 }"),
        )));
    };
    if pw == 0 || ph == 0 {
        return Err(invalid(
            "panels need a width and a height of at least 1".into(),
            l.span(),
        ));
    }
    let leds = pw as u64 * ph as u64 * columns as u64 * rows as u64;
    if leds > MAX_LEDS {
        return Err(invalid(
            format!("the layout has {leds} LEDs; an output drives at most {MAX_LEDS}"),
            l.span(),
        ));
    }
    let count = (columns * rows) as usize;
    if panels.len() > count {
        return Err(invalid(
            format!(
                "{} [[output.panel]] entries for a layout of {count} panels",
                panels.len()
            ),
            panels[count].span(),
        ));
    }
    let turns = |r: &Option<Spanned<u32>>| -> Result<Option<u8>, SceneError> {
        match r {
            Some(s) if ![0, 90, 180, 270].contains(s.get_ref()) => Err(invalid(
                format!("rotation must be 0, 90, 180 or 270, found {}", s.get_ref()),
                s.span(),
            )),
            Some(s) => Ok(Some((*s.get_ref() / 90) as u8)),
            None => Ok(None),
        }
    };
    let base = Orientation {
        quarter_turns: turns(&v.rotation)?.unwrap_or(0),
        flip: v.flip.unwrap_or_default(),
    };
    let mut orientations = vec![base; count];
    for (o, p) in orientations.iter_mut().zip(panels) {
        let p = p.get_ref();
        if let Some(t) = turns(&p.rotation)? {
            o.quarter_turns = t;
        }
        if let Some(f) = p.flip {
            o.flip = f;
        }
    }
    Ok(Layout {
        panel: (pw, ph),
        columns,
        rows,
        chain: v.chain.unwrap_or_default(),
        wiring: v.wiring.unwrap_or_default(),
        panels: orientations,
    })
}
