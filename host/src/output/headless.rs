//! The output that shows nothing: `--output headless`, for measuring and recording.

use std::io;

use super::Output;

/// Shows nothing.
#[derive(Debug, Default)]
pub struct Headless;

impl Output for Headless {
    fn name(&self) -> &str {
        "headless"
    }
    fn show(&mut self, _frame: &[u8], _width: u32, _height: u32, _status: &str) -> io::Result<()> {
        Ok(())
    }
    fn finish(&mut self) -> io::Result<()> {
        Ok(())
    }
}
