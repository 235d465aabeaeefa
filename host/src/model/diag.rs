//! Diagnostics for people: a message pointed at a file, line and column, with the line shown.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// Where in a file a diagnostic points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// The text of that line.
    pub line_text: String,
    /// How many characters to underline.
    pub width: usize,
}

impl Location {
    /// The location of byte range `span` in `source`.
    pub fn of(source: &str, span: Range<usize>) -> Location {
        let start = floor_char_boundary(source, span.start.min(source.len()));
        let line_start = source[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = source[start..].find('\n').map_or(source.len(), |i| start + i);
        let line_text = source[line_start..line_end].trim_end_matches('\r').to_string();
        let end = floor_char_boundary(source, span.end.clamp(start, line_end));
        Location {
            line: source[..start].matches('\n').count() + 1,
            column: source[line_start..start].chars().count() + 1,
            width: source[start..end].chars().count().max(1),
            line_text,
        }
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// A message about a file, with an optional location and hints on what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// What is wrong: "unknown plugin `mandelbrott`".
    pub message: String,
    /// The file concerned.
    pub path: PathBuf,
    /// Where in it, if known.
    pub location: Option<Location>,
    /// What was expected and what to do, one hint per line.
    pub help: Vec<String>,
}

impl Diagnostic {
    /// A diagnostic about `path`, pointing at `span` of `source` if given.
    pub fn new(message: impl Into<String>, path: &Path, source: &str, span: Option<Range<usize>>) -> Self {
        Diagnostic {
            message: message.into(),
            path: path.to_path_buf(),
            location: span.map(|s| Location::of(source, s)),
            help: Vec::new(),
        }
    }

    /// Adds a hint.
    pub fn help(mut self, hint: impl Into<String>) -> Self {
        self.help.push(hint.into());
        self
    }

    /// The line the diagnostic points at, if any.
    pub fn line(&self) -> Option<usize> {
        self.location.as_ref().map(|l| l.line)
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.message)?;
        match &self.location {
            Some(loc) => {
                let num = loc.line.to_string();
                let pad = " ".repeat(num.len());
                writeln!(f, "{pad}--> {}:{}:{}", self.path.display(), loc.line, loc.column)?;
                writeln!(f, "{pad} |")?;
                writeln!(f, "{num} | {}", loc.line_text)?;
                write!(
                    f,
                    "{pad} | {}{}",
                    " ".repeat(loc.column - 1),
                    "^".repeat(loc.width)
                )?;
                for h in &self.help {
                    write!(f, "\n{pad} = help: {h}")?;
                }
            }
            None => {
                write!(f, "  --> {}", self.path.display())?;
                for h in &self.help {
                    write!(f, "\n  = help: {h}")?;
                }
            }
        }
        Ok(())
    }
}

/// The candidate nearest to `word` by edit distance, if it is plausibly a typo of it.
pub fn nearest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(word, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_at_line_and_column() {
        let src = "a = 1\nplugin = \"mandelbrott\"\n";
        let at = src.find("\"mandel").unwrap();
        let d = Diagnostic::new("unknown plugin", Path::new("s.toml"), src, Some(at..at + 13)).help("try x");
        let text = d.to_string();
        assert_eq!(d.line(), Some(2));
        assert!(text.contains("--> s.toml:2:10"), "{text}");
        assert!(text.contains("2 | plugin = \"mandelbrott\""), "{text}");
        assert!(text.contains("  |          ^^^^^^^^^^^^^"), "{text}");
        assert!(text.contains("= help: try x"), "{text}");
    }

    #[test]
    fn nearest_finds_typos_only() {
        assert_eq!(
            nearest("mandelbrott", ["mandelbrot", "color"]),
            Some("mandelbrot")
        );
        assert_eq!(nearest("fsp", ["fps", "seed"]), Some("fps"));
        assert_eq!(nearest("zzzzzz", ["fps", "seed"]), None);
    }
}
