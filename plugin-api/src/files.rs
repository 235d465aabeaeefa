//! Files, opened so that data cannot redirect them: recorders write under a temporary name
//! beside the final one and rename it into place when complete (so a crash, a kill or a full
//! disk never leaves a truncated file under the name a user looks for), never through a
//! symbolic link; and files read by a name a scene gives must be regular files of a bounded size.
//!
//! **Writing.** [`PartialFile::create`] walks the directories of its path one at a time, each
//! opened relative to the one before with `O_NOFOLLOW`, so no directory on the way may be a
//! symbolic link, and creates the temporary file with `O_CREAT | O_EXCL | O_NOFOLLOW`, so it is
//! always a new file and never a link's target. [`PartialFile::commit`] renames it within that
//! same directory handle. A link planted at the temporary or final name is never followed: the
//! first is removed (the link, not what it points to), the second is replaced.
//!
//! **Reading.** [`open_regular`] opens without blocking (a FIFO would wait forever for a writer)
//! and refuses anything that is not a regular file: FIFOs, devices such as `/dev/zero`,
//! sockets, directories. [`read_bounded`] also refuses a file larger than the caller allows.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, CWD};

use crate::error::PluginError;

/// The temporary name `path` is written under until complete: `.NAME.partial` in the same
/// directory (hidden, and on the same file system, so the rename is atomic).
pub fn partial_path(path: &Path) -> PathBuf {
    path.with_file_name(partial_name(file_name_of(path)))
}

fn partial_name(name: &OsStr) -> OsString {
    let mut s = OsString::from(".");
    s.push(name);
    s.push(".partial");
    s
}

fn file_name_of(path: &Path) -> &OsStr {
    path.file_name().unwrap_or_default()
}

/// The directory `path` is in: its parent, or `.` for a bare file name.
pub fn parent_dir(path: &Path) -> &Path {
    path.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// An error worded for people: `what`, with the kind of `e` kept.
fn with_context(e: io::Error, what: impl std::fmt::Display) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

/// Opens the directory `dir` without following a symbolic link anywhere on the way: every
/// component is opened relative to the one before with `O_NOFOLLOW`. With `create`, missing
/// directories are made (like `create_dir_all`, but never through a link).
pub fn open_dir(dir: &Path, create: bool) -> io::Result<OwnedFd> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let mut fd: OwnedFd = rustix::fs::openat(CWD, ".", flags, Mode::empty())?;
    let mut walked = PathBuf::new();
    for part in dir.components() {
        let name: &OsStr = match part {
            Component::RootDir => {
                fd = rustix::fs::openat(CWD, "/", flags, Mode::empty())?;
                walked.push("/");
                continue;
            }
            Component::CurDir => continue,
            Component::ParentDir => OsStr::new(".."),
            Component::Normal(n) => n,
            Component::Prefix(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "path prefixes are not supported",
                ));
            }
        };
        walked.push(name);
        let next = match rustix::fs::openat(&fd, name, flags, Mode::empty()) {
            Err(rustix::io::Errno::NOENT) if create => {
                match rustix::fs::mkdirat(&fd, name, Mode::from_raw_mode(0o777)) {
                    Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                    Err(e) => {
                        return Err(with_context(
                            e.into(),
                            format!("cannot create {}", walked.display()),
                        ))
                    }
                }
                rustix::fs::openat(&fd, name, flags, Mode::empty())
            }
            other => other,
        };
        fd = next.map_err(|e| match e {
            rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR => {
                let link = rustix::fs::statat(&fd, name, AtFlags::SYMLINK_NOFOLLOW)
                    .is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Symlink);
                if link {
                    io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!(
                            "{} is a symbolic link, which is never followed here",
                            walked.display()
                        ),
                    )
                } else {
                    io::Error::new(
                        io::ErrorKind::NotADirectory,
                        format!("{} is not a directory", walked.display()),
                    )
                }
            }
            e => with_context(e.into(), format!("cannot open {}", walked.display())),
        })?;
    }
    Ok(fd)
}

/// A file being written under its temporary name (`.NAME.partial`), made new, never through a
/// symbolic link. [`PartialFile::commit`] renames it into place; dropped uncommitted, it is
/// removed.
#[derive(Debug)]
pub struct PartialFile {
    dir: OwnedFd,
    partial: OsString,
    name: OsString,
    path: PathBuf,
    file: File,
    done: bool,
}

impl PartialFile {
    /// Creates the temporary file for `path` (whose directory must exist). A stale temporary
    /// file or a link at that name is removed first; a directory there is an error.
    pub fn create(path: &Path) -> io::Result<PartialFile> {
        let name = match path.components().next_back() {
            Some(Component::Normal(n)) => n.to_os_string(),
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{} does not end in a file name", path.display()),
                ));
            }
        };
        let dir = open_dir(parent_dir(path), false)?;
        let partial = partial_name(&name);
        match rustix::fs::unlinkat(&dir, &partial, AtFlags::empty()) {
            Ok(()) | Err(rustix::io::Errno::NOENT) => {}
            Err(e) => {
                return Err(with_context(
                    e.into(),
                    format!("cannot remove {}", partial_path(path).display()),
                ))
            }
        }
        let flags = OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(&dir, &partial, flags, Mode::from_raw_mode(0o666)).map_err(|e| {
            with_context(
                e.into(),
                format!("cannot create {}", partial_path(path).display()),
            )
        })?;
        Ok(PartialFile {
            dir,
            partial,
            name,
            path: path.to_path_buf(),
            file: File::from(fd),
            done: false,
        })
    }

    /// The open temporary file.
    pub fn file(&mut self) -> &mut File {
        &mut self.file
    }

    /// A second handle on the open temporary file (to hand to a child process).
    pub fn try_clone_file(&self) -> io::Result<File> {
        self.file.try_clone()
    }

    /// The final path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The temporary file's path (for messages).
    pub fn partial_path(&self) -> PathBuf {
        partial_path(&self.path)
    }

    /// Syncs the file to disk and renames it to its final name (replacing a file or link there;
    /// a directory there is an error, and the temporary file is removed).
    pub fn commit(mut self) -> io::Result<()> {
        self.file
            .sync_all()
            .map_err(|e| with_context(e, format!("cannot sync {}", self.partial_path().display())))?;
        self.rename()
    }

    /// Renames the file to its final name without syncing it first (for many small files whose
    /// durability across a power cut matters less than speed).
    pub fn commit_unsynced(mut self) -> io::Result<()> {
        self.rename()
    }

    fn rename(&mut self) -> io::Result<()> {
        rustix::fs::renameat(&self.dir, &self.partial, &self.dir, &self.name)
            .map_err(|e| with_context(e.into(), format!("cannot rename into {}", self.path.display())))?;
        self.done = true;
        Ok(())
    }

    /// Removes the temporary file.
    pub fn abandon(mut self) {
        self.remove();
    }

    fn remove(&mut self) {
        if !self.done {
            let _ = rustix::fs::unlinkat(&self.dir, &self.partial, AtFlags::empty());
            self.done = true;
        }
    }
}

impl io::Write for PartialFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.file.write_all(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl io::Seek for PartialFile {
    fn seek(&mut self, pos: io::SeekFrom) -> io::Result<u64> {
        self.file.seek(pos)
    }
}

impl Drop for PartialFile {
    fn drop(&mut self) {
        self.remove();
    }
}

/// Syncs the finished temporary file to disk and renames it to `path`.
pub fn commit(file: PartialFile) -> Result<(), PluginError> {
    let path = file.path.clone();
    file.commit().map_err(|e| io_error("cannot write", &path, e))
}

/// Writes `bytes` to `path` whole: to its temporary name first, then renamed into place.
pub fn write_whole(path: &Path, bytes: &[u8]) -> Result<(), PluginError> {
    use std::io::Write;
    let mut file = PartialFile::create(path).map_err(|e| io_error("cannot write", path, e))?;
    file.write_all(bytes)
        .map_err(|e| io_error("cannot write", &partial_path(path), e))?;
    file.commit_unsynced()
        .map_err(|e| io_error("cannot write", path, e))
}

/// Proves the directory `dir` exists (creating it, never through a link, as [`open_dir`]) and
/// can take a new file: a probe file is created exclusively (never truncating what is there,
/// never following a link) and removed.
pub fn probe_writable(dir: &Path) -> io::Result<()> {
    let fd = open_dir(dir, true)?;
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    for n in 0..64 {
        let name = format!(".marquee-probe-{}-{n}", std::process::id());
        match rustix::fs::openat(&fd, name.as_str(), flags, Mode::from_raw_mode(0o600)) {
            Ok(_) => {
                let _ = rustix::fs::unlinkat(&fd, name.as_str(), AtFlags::empty());
                return Ok(());
            }
            // Something is there already (maybe planted): leave it alone, try another name.
            Err(rustix::io::Errno::EXIST) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        "no free name for a probe file",
    ))
}

/// Creates or truncates `path` for writing if it is (or will be) a regular file: opened
/// without blocking, so a FIFO with no reader is refused at once instead of waiting forever,
/// and devices, sockets and directories are refused with a message that says what they are.
pub fn create_regular(path: &Path) -> io::Result<File> {
    let file = open_checked(path, OFlags::WRONLY | OFlags::CREATE)?;
    file.set_len(0)?;
    Ok(file)
}

/// Opens `path` with `flags` without blocking (a FIFO would wait for its other end) and keeps
/// it only if it is a regular file; the file is then switched back to blocking I/O.
fn open_checked(path: &Path, flags: OFlags) -> io::Result<File> {
    let fd = rustix::fs::openat(
        CWD,
        path,
        flags | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o666),
    )
    .map_err(|e| match e {
        // Opening a FIFO for writing with nobody reading it.
        rustix::io::Errno::NXIO => refused_kind(FileType::Fifo),
        e => e.into(),
    })?;
    let kind = FileType::from_raw_mode(rustix::fs::fstat(&fd)?.st_mode);
    if kind != FileType::RegularFile {
        return Err(refused_kind(kind));
    }
    rustix::fs::fcntl_setfl(fd.as_fd(), OFlags::empty())?;
    Ok(File::from(fd))
}

fn refused_kind(kind: FileType) -> io::Error {
    let what = match kind {
        FileType::Directory => "a directory",
        FileType::Fifo => "a FIFO (named pipe)",
        FileType::CharacterDevice => "a character device",
        FileType::BlockDevice => "a block device",
        FileType::Socket => "a socket",
        _ => "not a plain file",
    };
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("it is {what}, not a regular file"),
    )
}

/// Opens `path` for reading if it is a regular file. It is opened without blocking, so a FIFO
/// cannot stall the caller, and devices, sockets and directories are refused with a message
/// that says what the file is.
pub fn open_regular(path: &Path) -> io::Result<File> {
    open_checked(path, OFlags::RDONLY)
}

/// Reads the regular file `path` whole if it holds at most `max` bytes; a larger file (or one
/// that grows past `max` while being read) is refused without reading the rest.
pub fn read_bounded(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    let file = open_regular(path)?;
    let len = file.metadata()?.len();
    if len > max {
        return Err(too_large(len, max));
    }
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(too_large(bytes.len() as u64, max));
    }
    Ok(bytes)
}

/// [`read_bounded`] as UTF-8 text.
pub fn read_text_bounded(path: &Path, max: u64) -> io::Result<String> {
    String::from_utf8(read_bounded(path, max)?)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "it is not UTF-8 text"))
}

fn too_large(len: u64, max: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("it is {len} bytes, more than the {max} allowed"),
    )
}

/// An I/O error about `path`, worded for people: `"{what} {path}: {e}"`.
pub fn io_error(what: &str, path: &Path, e: impl std::fmt::Display) -> PluginError {
    PluginError::io(format!("{what} {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("marquee-files-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn partial_names_are_hidden_siblings() {
        assert_eq!(
            partial_path(Path::new("out/clip-0001.mp4")),
            PathBuf::from("out/.clip-0001.mp4.partial")
        );
    }

    #[test]
    fn whole_files_appear_only_complete() {
        let dir = scratch("whole");
        let path = dir.join("a.bin");
        write_whole(&path, b"abc").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"abc");
        assert!(!partial_path(&path).exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn planted_links_are_never_followed() {
        let dir = scratch("links");
        let outside = dir.join("outside.txt");
        std::fs::write(&outside, b"precious").unwrap();
        let out = dir.join("out");
        std::fs::create_dir(&out).unwrap();
        // A link at the temporary name, and one at the final name.
        std::os::unix::fs::symlink(&outside, out.join(".a.gif.partial")).unwrap();
        std::os::unix::fs::symlink(&outside, out.join("a.gif")).unwrap();
        let mut f = PartialFile::create(&out.join("a.gif")).unwrap();
        f.write_all(b"new").unwrap();
        f.commit().unwrap();
        assert_eq!(std::fs::read(&outside).unwrap(), b"precious");
        assert!(!std::fs::symlink_metadata(out.join("a.gif")).unwrap().is_symlink());
        assert_eq!(std::fs::read(out.join("a.gif")).unwrap(), b"new");
        // A directory link on the way.
        std::os::unix::fs::symlink(&dir, out.join("up")).unwrap();
        let e = PartialFile::create(&out.join("up/b.gif")).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert!(!dir.join(".b.gif.partial").exists());
        assert!(open_dir(&out.join("up/new"), true).is_err());
        assert!(!dir.join("new").exists());
        // The writability probe never truncates or follows what it finds.
        for n in 0..4 {
            let name = format!(".marquee-probe-{}-{n}", std::process::id());
            std::os::unix::fs::symlink(&outside, out.join(name)).unwrap();
        }
        probe_writable(&out).unwrap();
        assert_eq!(std::fs::read(&outside).unwrap(), b"precious");
        assert!(probe_writable(&out.join("up")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn renaming_onto_a_directory_fails_and_cleans_up() {
        let dir = scratch("ontodir");
        std::fs::create_dir(dir.join("a.gif")).unwrap();
        let f = PartialFile::create(&dir.join("a.gif")).unwrap();
        assert!(f.commit().is_err());
        assert!(!dir.join(".a.gif.partial").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn only_bounded_regular_files_are_read() {
        let dir = scratch("read");
        let e = read_bounded(Path::new("/dev/zero"), 1 << 20).unwrap_err();
        assert!(e.to_string().contains("character device"), "{e}");
        let fifo = dir.join("fifo");
        assert!(std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success());
        // Would block forever if opened for reading the ordinary way.
        let e = read_bounded(&fifo, 100).unwrap_err();
        assert!(e.to_string().contains("FIFO"), "{e}");
        assert!(read_bounded(&dir, 100)
            .unwrap_err()
            .to_string()
            .contains("directory"));
        std::fs::write(dir.join("f"), b"12345").unwrap();
        assert_eq!(read_bounded(&dir.join("f"), 5).unwrap(), b"12345");
        assert!(read_bounded(&dir.join("f"), 4)
            .unwrap_err()
            .to_string()
            .contains("more than"));
        // Writing: a FIFO with no reader is refused at once, a device too.
        assert!(create_regular(&fifo).unwrap_err().to_string().contains("FIFO"));
        assert!(create_regular(Path::new("/dev/full"))
            .unwrap_err()
            .to_string()
            .contains("character device"));
        assert!(create_regular(&dir.join("g")).is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
