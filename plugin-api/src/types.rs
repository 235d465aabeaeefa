//! Plain ABI-stable value types shared by every plugin kind: frame context, colours, rectangles.

use abi_stable::StableAbi;
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};

/// What a plugin instance learns once, when it is created.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq)]
pub struct InitCtx {
    /// Width in pixels of the surface the instance draws or sees (a tile for mirrored layers).
    pub width: u32,
    /// Height in pixels of that surface.
    pub height: u32,
    /// Frames per second of the scene.
    pub fps: f64,
    /// This instance's seed, derived from the scene seed and the layer's id.
    pub seed: u64,
}

/// Everything a plugin may base one frame on. Time comes from the frame index, never the clock.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq)]
pub struct FrameCtx {
    /// Index of the frame, from 0.
    pub index: u64,
    /// Time of the frame in seconds: `index / fps`.
    pub time: f64,
    /// Seconds between frames: `1 / fps`.
    pub dt: f64,
    /// Frames per second of the scene.
    pub fps: f64,
    /// Width in pixels of the surface.
    pub width: u32,
    /// Height in pixels of the surface.
    pub height: u32,
    /// This instance's seed (as in [`InitCtx::seed`]).
    pub seed: u64,
}

impl InitCtx {
    /// What an instance is created with: a `width × height` surface at `fps`, with `seed`
    /// (tests make their own; the host derives the seed from the scene's and the id).
    pub const fn new(width: u32, height: u32, fps: f64, seed: u64) -> Self {
        InitCtx {
            width,
            height,
            fps,
            seed,
        }
    }
}

impl FrameCtx {
    /// The context of frame `index` for an instance created with `init`.
    pub fn new(init: &InitCtx, index: u64) -> Self {
        FrameCtx {
            index,
            time: index as f64 / init.fps,
            dt: 1.0 / init.fps,
            fps: init.fps,
            width: init.width,
            height: init.height,
            seed: init.seed,
        }
    }
}

/// A straight-alpha RGBA8 colour.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Rgba {
    /// Red.
    pub r: u8,
    /// Green.
    pub g: u8,
    /// Blue.
    pub b: u8,
    /// Alpha: 0 transparent, 255 opaque.
    pub a: u8,
}

impl Rgba {
    /// Opaque black.
    pub const BLACK: Rgba = Rgba::rgb(0, 0, 0);
    /// Opaque white.
    pub const WHITE: Rgba = Rgba::rgb(255, 255, 255);
    /// Fully transparent.
    pub const TRANSPARENT: Rgba = Rgba {
        r: 0,
        g: 0,
        b: 0,
        a: 0,
    };

    /// An opaque colour.
    pub const fn rgb(r: u8, g: u8, b: u8) -> Self {
        Rgba { r, g, b, a: 255 }
    }

    /// The colour as `[r, g, b, a]` bytes.
    pub const fn to_array(self) -> [u8; 4] {
        [self.r, self.g, self.b, self.a]
    }

    /// Parses `#rrggbb` or `#rrggbbaa` (the `#` is optional).
    pub fn parse(text: &str) -> Option<Rgba> {
        let hex = text.strip_prefix('#').unwrap_or(text);
        if !(hex.len() == 6 || hex.len() == 8) || !hex.is_ascii() {
            return None;
        }
        let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
        Some(Rgba {
            r: byte(0)?,
            g: byte(2)?,
            b: byte(4)?,
            a: if hex.len() == 8 { byte(6)? } else { 255 },
        })
    }
}

impl<'de> Deserialize<'de> for Rgba {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Rgba::parse(&text).ok_or_else(|| {
            de::Error::invalid_value(
                de::Unexpected::Str(&text),
                &"a colour such as \"#ff8800\" or \"#ff880080\"",
            )
        })
    }
}

impl Serialize for Rgba {
    /// As `"#rrggbb"`, or `"#rrggbbaa"` when not opaque: what [`Rgba::parse`] reads.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let text = if self.a == 255 {
            format!("#{:02x}{:02x}{:02x}", self.r, self.g, self.b)
        } else {
            format!("#{:02x}{:02x}{:02x}{:02x}", self.r, self.g, self.b, self.a)
        };
        serializer.serialize_str(&text)
    }
}

impl schemars::JsonSchema for Rgba {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Color".into()
    }

    fn inline_schema() -> bool {
        true
    }

    /// Text in the form [`Rgba::parse`] reads, marked `"format": "color"`.
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "format": "color",
            "pattern": "^#?([0-9a-fA-F]{6}|[0-9a-fA-F]{8})$",
        })
    }
}

/// A rectangle in pixels; parts outside the surface are clipped when drawn.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    /// Left edge.
    pub x: i32,
    /// Top edge.
    pub y: i32,
    /// Width.
    pub w: u32,
    /// Height.
    pub h: u32,
}

impl Rect {
    /// A rectangle from its left, top, width and height.
    pub const fn new(x: i32, y: i32, w: u32, h: u32) -> Self {
        Rect { x, y, w, h }
    }
}

/// What a recorder learns with each finished frame.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq)]
pub struct FrameMeta {
    /// Index of the frame, from 0.
    pub index: u64,
    /// Time of the frame in seconds (`index / fps`).
    pub time: f64,
    /// Frames per second of the scene.
    pub fps: f64,
    /// Width of the frame in pixels.
    pub width: u32,
    /// Height of the frame in pixels.
    pub height: u32,
}

/// Events a renderer or processor raises during a frame (ABI 1.3), as bits.
///
/// The host collects them after each frame; [`Events::TRIGGER`] asks every recorder that
/// captures clips (`clips = { ... }` on a scene's recorder) to write one around this frame.
#[repr(transparent)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Events(pub u32);

impl Events {
    /// Nothing happened.
    pub const NONE: Events = Events(0);
    /// Something worth a clip happened in this frame.
    pub const TRIGGER: Events = Events(1);

    /// Whether every bit of `other` is set in `self`.
    pub fn contains(self, other: Events) -> bool {
        self.0 & other.0 == other.0 && other.0 != 0
    }

    /// Both sets together.
    pub fn union(self, other: Events) -> Events {
        Events(self.0 | other.0)
    }

    /// Whether no bit is set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}
