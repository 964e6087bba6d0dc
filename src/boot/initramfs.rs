//! A newc initramfs (the format the kernel unpacks into its rootfs), written with the `cpio`
//! crate.
//!
//! ```no_run
//! use kforge::boot::initramfs::Initramfs;
//!
//! # fn main() -> Result<(), kforge::boot::initramfs::Error> {
//! let mut image = Initramfs::new();
//! image.busybox(Initramfs::BUSYBOX)?; // /bin/busybox and its applets
//! image.text("/init", "#!/bin/sh\necho hello\nreboot -f\n", 0o755)?;
//! image.write("out/initramfs.cpio")?;
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cpio::newc::{Builder, ModeFileType};

/// The Debian package of a static busybox.
pub const BUSYBOX_PACKAGE: &str = "busybox-static";

/// The busybox applets an `/init` written by [`super::console::init_script`] and the boot
/// proofs use, each a symlink to `/bin/busybox`.
pub const APPLETS: &[&str] = &[
    "sh", "mount", "umount", "mkdir", "cat", "echo", "dmesg", "insmod", "rmmod", "lsmod", "grep",
    "reboot", "poweroff", "sync", "uname", "ls", "sleep", "test", "[", "tr", "head", "tail", "wc",
    "timeout",
];

/// Why an initramfs could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// busybox is not there.
    #[error(
        "no static busybox at {}: install the Debian package {BUSYBOX_PACKAGE} \
         (apt-get install {BUSYBOX_PACKAGE}, or scripts/install-deps main)",
        path.display()
    )]
    BusyboxMissing {
        /// Where it was looked for.
        path: PathBuf,
    },
    /// A file to put into the image could not be read, or the image could not be written.
    #[error("cannot {action} {}", path.display())]
    Io {
        /// `read`, `write` or `create the directory`.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The archive could not be encoded in memory.
    #[error("cannot encode the initramfs (newc cpio)")]
    Encode(#[source] std::io::Error),
    /// A path inside the image is not absolute or holds `..`.
    #[error(
        "{path:?} is not a valid path inside the initramfs (absolute, no `..`, no empty parts)"
    )]
    BadPath {
        /// The path given.
        path: String,
    },
    /// A file is too large for the newc format (4 GiB).
    #[error("{path} is too large for a newc archive ({bytes} bytes)")]
    TooLarge {
        /// The path inside the image.
        path: String,
        /// Its size.
        bytes: usize,
    },
}

#[derive(Debug, Clone)]
enum Node {
    Dir,
    File { data: Vec<u8>, mode: u32 },
    Symlink(String),
    CharDevice { major: u32, minor: u32, mode: u32 },
}

/// An initramfs being put together: directories, files, symlinks and device nodes by their
/// path inside the image. Parent directories are added as needed; `/dev/console` is there from
/// the start (the kernel opens it for `/init`'s standard streams before `/dev` is mounted).
#[derive(Debug, Clone)]
pub struct Initramfs {
    nodes: BTreeMap<String, Node>,
}

impl Default for Initramfs {
    fn default() -> Self {
        Initramfs::new()
    }
}

impl Initramfs {
    /// Where Debian's busybox-static installs busybox.
    pub const BUSYBOX: &'static str = "/bin/busybox";

    /// `/dev/console`, `/proc`, `/sys`, `/tmp` and `/bin`, nothing else.
    pub fn new() -> Initramfs {
        let mut image = Initramfs {
            nodes: BTreeMap::new(),
        };
        for dir in ["/dev", "/proc", "/sys", "/tmp", "/bin", "/sbin"] {
            image.nodes.insert(dir.to_string(), Node::Dir);
        }
        image.nodes.insert(
            "/dev/console".into(),
            Node::CharDevice {
                major: 5,
                minor: 1,
                mode: 0o600,
            },
        );
        image
    }

    fn check(path: &str) -> Result<String, Error> {
        let bad = || Error::BadPath {
            path: path.to_string(),
        };
        let rest = path.strip_prefix('/').ok_or_else(bad)?;
        if rest.is_empty()
            || rest
                .split('/')
                .any(|p| p.is_empty() || p == ".." || p == ".")
        {
            return Err(bad());
        }
        Ok(path.to_string())
    }

    fn insert(&mut self, path: &str, node: Node) -> Result<&mut Self, Error> {
        let path = Self::check(path)?;
        let mut parent = Path::new(&path).parent();
        while let Some(p) = parent.filter(|p| *p != Path::new("/")) {
            self.nodes
                .entry(p.to_string_lossy().into_owned())
                .or_insert(Node::Dir);
            parent = p.parent();
        }
        self.nodes.insert(path, node);
        Ok(self)
    }

    /// A directory.
    pub fn dir(&mut self, path: &str) -> Result<&mut Self, Error> {
        self.insert(path, Node::Dir)
    }

    /// A file with `data` and permission bits `mode` (e.g. `0o755`).
    pub fn bytes(&mut self, path: &str, data: Vec<u8>, mode: u32) -> Result<&mut Self, Error> {
        self.insert(path, Node::File { data, mode })
    }

    /// A text file (a script, a config).
    pub fn text(&mut self, path: &str, text: &str, mode: u32) -> Result<&mut Self, Error> {
        self.bytes(path, text.as_bytes().to_vec(), mode)
    }

    /// A copy of the host file `host`, with permission bits `mode`.
    pub fn file(
        &mut self,
        path: &str,
        host: impl AsRef<Path>,
        mode: u32,
    ) -> Result<&mut Self, Error> {
        let host = host.as_ref();
        let data = std::fs::read(host).map_err(|source| Error::Io {
            action: "read",
            path: host.to_path_buf(),
            source,
        })?;
        self.bytes(path, data, mode)
    }

    /// A symbolic link at `path` to `target`.
    pub fn symlink(&mut self, path: &str, target: &str) -> Result<&mut Self, Error> {
        self.insert(path, Node::Symlink(target.to_string()))
    }

    /// The static busybox at `host` as `/bin/busybox`, with a symlink for each of [`APPLETS`].
    pub fn busybox(&mut self, host: impl AsRef<Path>) -> Result<&mut Self, Error> {
        let host = host.as_ref();
        if !host.is_file() {
            return Err(Error::BusyboxMissing {
                path: host.to_path_buf(),
            });
        }
        self.file("/bin/busybox", host, 0o755)?;
        for applet in APPLETS {
            self.symlink(&format!("/bin/{applet}"), "busybox")?;
        }
        Ok(self)
    }

    /// The paths in the image, sorted (parents before children).
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.nodes.keys().map(String::as_str)
    }

    /// The archive's bytes (newc, uncompressed: every kernel with initramfs support reads it).
    pub fn to_bytes(&self) -> Result<Vec<u8>, Error> {
        let entries = self
            .nodes
            .iter()
            .map(|(path, node)| {
                // newc names have no leading slash, as gen_init_cpio and `cpio -o` write them.
                let name = path.trim_start_matches('/');
                let (builder, data) = match node {
                    Node::Dir => (
                        Builder::new(name)
                            .mode(0o755)
                            .set_mode_file_type(ModeFileType::Directory)
                            .nlink(2),
                        Vec::new(),
                    ),
                    Node::File { data, mode } => {
                        if u32::try_from(data.len()).is_err() {
                            return Err(Error::TooLarge {
                                path: path.clone(),
                                bytes: data.len(),
                            });
                        }
                        (
                            Builder::new(name)
                                .mode(*mode & 0o7777)
                                .set_mode_file_type(ModeFileType::Regular)
                                .nlink(1),
                            data.clone(),
                        )
                    }
                    Node::Symlink(target) => (
                        Builder::new(name)
                            .mode(0o777)
                            .set_mode_file_type(ModeFileType::Symlink)
                            .nlink(1),
                        target.as_bytes().to_vec(),
                    ),
                    Node::CharDevice { major, minor, mode } => (
                        Builder::new(name)
                            .mode(*mode & 0o7777)
                            .set_mode_file_type(ModeFileType::Char)
                            .rdev_major(*major)
                            .rdev_minor(*minor)
                            .nlink(1),
                        Vec::new(),
                    ),
                };
                Ok((builder, data))
            })
            .collect::<Result<Vec<_>, Error>>()?;
        // Inode numbers start at 1 (0 is unusual and confuses some readers).
        let entries = entries
            .into_iter()
            .enumerate()
            .map(|(i, (b, d))| (b.ino(u32::try_from(i).unwrap_or(u32::MAX) + 1), d));
        write_entries(entries).map_err(Error::Encode)
    }

    /// Write the archive to `dest` atomically (a temp file beside it, then renamed).
    pub fn write(&self, dest: impl AsRef<Path>) -> Result<(), Error> {
        let dest = dest.as_ref();
        let bytes = self.to_bytes()?;
        if let Some(parent) = dest.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| Error::Io {
                action: "create the directory",
                path: parent.to_path_buf(),
                source,
            })?;
        }
        crate::write_atomic(dest, &bytes).map_err(|source| Error::Io {
            action: "write",
            path: dest.to_path_buf(),
            source,
        })
    }
}

/// `cpio::write_cpio` numbers inodes from 0 by position; this keeps each builder's own.
fn write_entries(entries: impl Iterator<Item = (Builder, Vec<u8>)>) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    for (builder, data) in entries {
        let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
        let mut writer = builder.write(&mut out, len);
        std::io::Write::write_all(&mut writer, &data)?;
        writer.finish()?;
    }
    cpio::newc::trailer(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_must_be_absolute_and_plain() {
        let mut image = Initramfs::new();
        for bad in ["init", "/", "/a/../b", "/a//b", "/./x"] {
            assert!(
                matches!(image.text(bad, "", 0o644), Err(Error::BadPath { .. })),
                "{bad}"
            );
        }
        image.text("/lib/modules/kvm.ko", "x", 0o644).unwrap();
        let paths: Vec<&str> = image.paths().collect();
        assert!(paths.contains(&"/lib") && paths.contains(&"/lib/modules"));
    }

    #[test]
    fn a_missing_busybox_names_the_package() {
        let err = Initramfs::new()
            .busybox("/nonexistent/busybox")
            .unwrap_err();
        assert!(err.to_string().contains("busybox-static"), "{err}");
    }
}
