//! xz archives made by GNU tar and the `xz` command, corrupted at a known byte (found with
//! `xz --robot --list -vv`): every decoder path refuses them, and a fetch of one publishes
//! nothing, pinned or not.

mod common;

use std::io::{BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::AtomicBool;

use common::*;
use kforge_fetch::{Fetcher, Source, compression};

fn no() -> AtomicBool {
    AtomicBool::new(false)
}

/// A real tarball of a small tree (poorly compressible files, so a block stays a block), made by
/// GNU tar and compressed by `xz` with `xz_args`.
fn real_tar_xz(xz_args: &[&str]) -> Vec<u8> {
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("proj-1.0");
    std::fs::create_dir_all(tree.join("src")).unwrap();
    std::fs::write(tree.join("README"), "a project\n").unwrap();
    for i in 0..4 {
        std::fs::write(tree.join(format!("src/part{i}.bin")), noise(90_000, i)).unwrap();
    }
    let tar = Command::new("tar")
        .args(["-cf", "-", "-C"])
        .arg(tmp.path())
        .arg("proj-1.0")
        .output()
        .expect("GNU tar is needed: apt-get install tar");
    assert!(tar.status.success());
    run_xz(xz_args, &tar.stdout)
}

fn run_xz(args: &[&str], input: &[u8]) -> Vec<u8> {
    let mut child = Command::new("xz")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("xz is needed: apt-get install xz-utils");
    let mut stdin = child.stdin.take().unwrap();
    let feed = input.to_vec();
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        stdin.write_all(&feed).unwrap();
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(out.status.success());
    out.stdout
}

/// One block as `xz --robot --list -vv` describes it.
#[derive(Debug)]
struct Block {
    /// Offset of the block in the file.
    offset: usize,
    /// Header + compressed data + padding + check.
    total: usize,
    /// The check value, as xz prints it.
    check_hex: String,
}

impl Block {
    /// Offset of the first byte of its CRC64 field.
    fn crc64_at(&self) -> usize {
        self.offset + self.total - 8
    }
}

fn blocks(xz: &[u8]) -> Vec<Block> {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("a.xz");
    std::fs::write(&path, xz).unwrap();
    let out = Command::new("xz")
        .args(["--robot", "--list", "-vv"])
        .arg(&path)
        .output()
        .expect("xz is needed: apt-get install xz-utils");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let blocks: Vec<Block> = text
        .lines()
        .filter(|l| l.starts_with("block\t"))
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            assert_eq!(f[9], "CRC64", "{l}");
            Block {
                offset: f[4].parse().unwrap(),
                total: f[6].parse().unwrap(),
                check_hex: f[10].to_string(),
            }
        })
        .collect();
    assert!(!blocks.is_empty());
    for b in &blocks {
        // The CRC64 field holds the value xz printed (little-endian): the byte is the check.
        let field = &xz[b.crc64_at()..b.crc64_at() + 8];
        let printed: Vec<u8> = (0..8)
            .map(|i| u8::from_str_radix(&b.check_hex[2 * i..2 * i + 2], 16).unwrap())
            .collect();
        let mut le = field.to_vec();
        le.reverse();
        assert_eq!(le, printed, "{b:?}");
    }
    blocks
}

/// The error and its causes, one line.
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

fn flip(xz: &[u8], at: usize) -> Vec<u8> {
    let mut bad = xz.to_vec();
    bad[at] ^= 0x01;
    bad
}

fn read_all<'a>(
    d: std::io::Result<(
        kforge_fetch::Compression,
        Box<dyn std::io::BufRead + Send + 'a>,
    )>,
) -> std::io::Result<Vec<u8>> {
    let (_, mut reader) = d?;
    let mut out = Vec::new();
    reader.read_to_end(&mut out)?;
    Ok(out)
}

fn multi_block() -> Vec<u8> {
    // Blocks with their sizes in the header, as `xz -T` writes them.
    real_tar_xz(&["-1", "-T2", "--block-size=65536", "-c"])
}

fn single_block() -> Vec<u8> {
    // One block without sizes in the header, as single-threaded `xz` writes it.
    real_tar_xz(&["-1", "-T1", "-c"])
}

#[test]
fn both_xz_decoders_check_every_block_crc64() {
    for (kind, xz) in [
        ("multi-block", multi_block()),
        ("single-block", single_block()),
    ] {
        let good = read_all(compression::decoder(BufReader::new(&xz[..]))).unwrap();
        assert_eq!(
            read_all(compression::decoder_for_pinned(BufReader::new(&xz[..]))).unwrap(),
            good
        );
        let blocks = blocks(&xz);
        if kind == "multi-block" {
            assert!(blocks.len() >= 5, "{blocks:?}");
        }
        for block in [
            &blocks[0],
            &blocks[blocks.len() / 2],
            &blocks[blocks.len() - 1],
        ] {
            let bad = flip(&xz, block.crc64_at() + 3);
            let checked = read_all(compression::decoder(BufReader::new(&bad[..])));
            let err = checked.expect_err("liblzma's decoder must refuse a wrong CRC64");
            assert!(err.to_string().contains("corrupt xz data"), "{kind}: {err}");
            let parallel = read_all(compression::decoder_for_pinned(BufReader::new(&bad[..])));
            let err = parallel.expect_err("the block decoder must refuse a wrong CRC64");
            assert!(err.to_string().contains("check"), "{kind}: {err}");
        }
        // A byte of compressed data in the middle of a block.
        let middle = &blocks[blocks.len() / 2];
        let bad = flip(&xz, middle.offset + middle.total / 2);
        assert!(read_all(compression::decoder(BufReader::new(&bad[..]))).is_err());
        assert!(read_all(compression::decoder_for_pinned(BufReader::new(&bad[..]))).is_err());
    }
}

struct Fetch {
    tmp: tempfile::TempDir,
    fetcher: Fetcher,
}

impl Fetch {
    fn new() -> Fetch {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("work")).unwrap();
        let fetcher = Fetcher::builder()
            .cache_dir(tmp.path().join("cache"))
            .allow_unpinned(true)
            .build()
            .unwrap();
        Fetch { tmp, fetcher }
    }

    fn serve(&self, name: &str, data: &[u8]) -> String {
        let path = self.tmp.path().join(name);
        std::fs::write(&path, data).unwrap();
        format!("file://{}", path.display())
    }

    fn dest(&self) -> std::path::PathBuf {
        self.tmp.path().join("work/proj")
    }

    /// Nothing under the destination name, no staging directory beside it, no cache entry, no
    /// partial download.
    fn assert_nothing_published(&self) {
        assert!(!self.dest().exists(), "nothing published");
        assert_eq!(entries(&self.tmp.path().join("work")), Vec::<String>::new());
        let archives = self.tmp.path().join("cache/archives/sha256");
        assert_eq!(entries(&archives), Vec::<String>::new(), "no cache entry");
        let partial = self.tmp.path().join("cache/partial");
        assert_eq!(
            entries(&partial),
            Vec::<String>::new(),
            "no partial download kept"
        );
    }
}

fn fetched_tree_ok(dest: &Path) {
    assert_eq!(
        std::fs::read_to_string(dest.join("README")).unwrap(),
        "a project\n"
    );
    assert_eq!(
        std::fs::read(dest.join("src/part3.bin")).unwrap(),
        noise(90_000, 3)
    );
}

#[test]
fn unpinned_xz_with_a_corrupt_block_check_is_an_error_and_publishes_nothing() {
    for xz in [multi_block(), single_block()] {
        let blocks = blocks(&xz);
        // The last block's check comes after the tar end marker: it must be read too.
        for block in [&blocks[0], &blocks[blocks.len() - 1]] {
            let f = Fetch::new();
            let url = f.serve("proj.tar.xz", &flip(&xz, block.crc64_at()));
            let source = Source::unpinned_archive(url).with_strip_components(1);
            let err = f
                .fetcher
                .fetch(&source, &f.dest(), &no())
                .expect_err("a wrong CRC64 must fail an unpinned fetch");
            let chain = chain(&err);
            assert!(chain.contains("corrupt xz data"), "{chain}");
            f.assert_nothing_published();
        }
        // The same archive intact extracts.
        let f = Fetch::new();
        let source = Source::unpinned_archive(f.serve("proj.tar.xz", &xz)).with_strip_components(1);
        f.fetcher.fetch(&source, &f.dest(), &no()).unwrap();
        fetched_tree_ok(&f.dest());
    }
}

#[test]
fn pinned_corrupt_xz_is_an_error_and_publishes_nothing() {
    for xz in [multi_block(), single_block()] {
        let pin = sha(&xz);
        let blocks = blocks(&xz);
        let middle = &blocks[blocks.len() / 2];
        for at in [
            blocks[0].crc64_at(),
            blocks[blocks.len() - 1].crc64_at() + 7,
            middle.offset + middle.total / 2,
        ] {
            let f = Fetch::new();
            let source = Source::archive(f.serve("proj.tar.xz", &flip(&xz, at)), pin)
                .with_strip_components(1);
            f.fetcher
                .fetch(&source, &f.dest(), &no())
                .expect_err("corrupt pinned input must fail");
            f.assert_nothing_published();
        }
        let f = Fetch::new();
        let source = Source::archive(f.serve("proj.tar.xz", &xz), pin).with_strip_components(1);
        f.fetcher.fetch(&source, &f.dest(), &no()).unwrap();
        fetched_tree_ok(&f.dest());
    }
}
