//! The desktop window output (feature `window`): winit for the window and keys, `pixels` (wgpu)
//! to put frames on screen, scaled by a whole factor and centred so the aspect ratio holds at any
//! window size.
//!
//! The event loop lives on the output's own thread (winit allows that on X11), created there
//! when the output starts, and is pumped between frames.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use pixels::{Pixels, SurfaceTexture};
use winit::application::ApplicationHandler;
use winit::dpi::{PhysicalPosition, PhysicalSize};
use winit::event::{ElementState, WindowEvent};
use winit::event_loop::{ActiveEventLoop, EventLoop};
use winit::keyboard::{Key, ModifiersState, NamedKey};
use winit::platform::pump_events::EventLoopExtPumpEvents;
use winit::platform::x11::EventLoopBuilderExtX11;
use winit::window::WindowId;

use super::{Control, Output};

/// The largest window a frame opens at, before the person resizes it.
const FIRST_SIZE: (u32, u32) = (1024, 768);

/// A window showing frames. Made on the output thread by [`Window::open`].
pub struct Window {
    event_loop: EventLoop<()>,
    app: App,
}

struct App {
    title: String,
    window: Option<Arc<winit::window::Window>>,
    pixels: Option<Pixels<'static>>,
    /// The frame size the pixel buffer has.
    buffer: (u32, u32),
    controls: Vec<Control>,
    modifiers: ModifiersState,
    error: Option<String>,
}

fn other(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

/// The whole factor a `width × height` frame first opens at: as large as fits [`FIRST_SIZE`].
pub fn first_scale(width: u32, height: u32) -> u32 {
    (FIRST_SIZE.0 / width.max(1))
        .min(FIRST_SIZE.1 / height.max(1))
        .max(1)
}

impl App {
    fn open(&mut self, event_loop: &ActiveEventLoop) -> Result<(), String> {
        let (w, h) = self.buffer;
        let k = first_scale(w, h);
        let attributes = winit::window::Window::default_attributes()
            .with_title(&self.title)
            .with_inner_size(PhysicalSize::new(w * k, h * k))
            .with_position(PhysicalPosition::new(0, 0));
        let window = Arc::new(event_loop.create_window(attributes).map_err(|e| e.to_string())?);
        let size = window.inner_size();
        let surface = SurfaceTexture::new(size.width.max(1), size.height.max(1), window.clone());
        let pixels = Pixels::new(w, h, surface).map_err(|e| e.to_string())?;
        self.window = Some(window);
        self.pixels = Some(pixels);
        Ok(())
    }
}

impl ApplicationHandler for App {
    fn resumed(&mut self, event_loop: &ActiveEventLoop) {
        if self.window.is_none()
            && let Err(e) = self.open(event_loop)
        {
            self.error = Some(e);
        }
    }

    fn window_event(&mut self, _event_loop: &ActiveEventLoop, _id: WindowId, event: WindowEvent) {
        match event {
            WindowEvent::CloseRequested => self.controls.push(Control::Quit),
            WindowEvent::Resized(size) => {
                if let Some(p) = &mut self.pixels
                    && size.width > 0
                    && size.height > 0
                    && let Err(e) = p.resize_surface(size.width, size.height)
                {
                    self.error = Some(e.to_string());
                }
            }
            WindowEvent::ModifiersChanged(m) => self.modifiers = m.state(),
            WindowEvent::KeyboardInput { event, .. } if event.state == ElementState::Pressed => {
                match &event.logical_key {
                    Key::Named(NamedKey::Escape) => self.controls.push(Control::Quit),
                    Key::Named(NamedKey::Space) => self.controls.push(Control::TogglePause),
                    Key::Character(c) if c.as_str() == "c" && self.modifiers.control_key() => {
                        self.controls.push(Control::Quit)
                    }
                    Key::Character(c) => {
                        if let Some(ch) = c.chars().next() {
                            self.controls.extend(Control::for_key(ch.to_ascii_lowercase()));
                        }
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
}

impl Window {
    /// Opens a window titled `title` for `width × height` frames. Call it on the thread that will
    /// use the window.
    pub fn open(title: &str, width: u32, height: u32) -> io::Result<Window> {
        let event_loop = EventLoop::builder()
            .with_any_thread(true)
            .build()
            .map_err(|e| other(format!("cannot open a window: {e}")))?;
        let mut window = Window {
            event_loop,
            app: App {
                title: title.to_string(),
                window: None,
                pixels: None,
                buffer: (width.max(1), height.max(1)),
                controls: Vec::new(),
                modifiers: ModifiersState::empty(),
                error: None,
            },
        };
        // The window and its surface come with the first `resumed`.
        for _ in 0..100 {
            window.pump(Duration::from_millis(10))?;
            if window.app.pixels.is_some() {
                return Ok(window);
            }
        }
        Err(other("the window did not open within a second"))
    }

    fn pump(&mut self, timeout: Duration) -> io::Result<()> {
        let _ = self.event_loop.pump_app_events(Some(timeout), &mut self.app);
        match self.app.error.take() {
            Some(e) => Err(other(format!("window: {e}"))),
            None => Ok(()),
        }
    }

    /// The window's inner size in physical pixels.
    pub fn inner_size(&self) -> (u32, u32) {
        self.app
            .window
            .as_ref()
            .map_or((0, 0), |w| (w.inner_size().width, w.inner_size().height))
    }
}

impl Output for Window {
    fn name(&self) -> &str {
        "window"
    }

    fn show(&mut self, frame: &[u8], width: u32, height: u32, status: &str) -> io::Result<()> {
        let Some(pixels) = &mut self.app.pixels else {
            return Err(other("the window is closed"));
        };
        if self.app.buffer != (width, height) {
            pixels.resize_buffer(width, height).map_err(other)?;
            self.app.buffer = (width, height);
        }
        let buffer = pixels.frame_mut();
        if buffer.len() == frame.len() {
            buffer.copy_from_slice(frame);
        }
        pixels.render().map_err(other)?;
        if let Some(w) = &self.app.window
            && self.app.title != status
            && !status.is_empty()
        {
            status.clone_into(&mut self.app.title);
            w.set_title(status);
        }
        Ok(())
    }

    fn poll(&mut self, controls: &mut Vec<Control>) -> io::Result<()> {
        self.pump(Duration::ZERO)?;
        controls.append(&mut self.app.controls);
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        self.app.pixels = None;
        self.app.window = None;
        self.pump(Duration::ZERO)
    }
}
