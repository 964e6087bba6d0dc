//! Extraction: pax headers, formats, metadata, and hostile archives that must not write
//! outside the destination.

mod common;

use std::path::Path;
use std::sync::atomic::AtomicBool;

use common::*;
use kforge_fetch::extract::Error;
use kforge_fetch::{ExtractOptions, extract};

fn no() -> AtomicBool {
    AtomicBool::new(false)
}

/// A header with raw name and link name bytes (no validation, as an attacker would write it).
fn raw_entry(
    b: &mut tar::Builder<Vec<u8>>,
    kind: tar::EntryType,
    name: &str,
    link: &str,
    data: &[u8],
) {
    let mut h = tar::Header::new_old();
    {
        let old = h.as_old_mut();
        old.name[..name.len()].copy_from_slice(name.as_bytes());
        old.linkname[..link.len()].copy_from_slice(link.as_bytes());
    }
    h.set_entry_type(kind);
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    b.append(&h, data).unwrap();
}

struct Hostile {
    tmp: tempfile::TempDir,
}

impl Hostile {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("work")).unwrap();
        Hostile { tmp }
    }

    /// Extract into work/dest and return the error; check nothing escaped.
    fn extract(&self, tar: Vec<u8>) -> Error {
        let dest = self.tmp.path().join("work/dest");
        let err = extract(&tar[..], &dest, &ExtractOptions::default(), &no())
            .expect_err("hostile archive must be refused");
        assert!(!dest.exists(), "nothing published");
        assert_eq!(
            entries(&self.tmp.path().join("work")),
            Vec::<String>::new(),
            "no temporary dir left"
        );
        assert_eq!(
            entries(self.tmp.path()),
            vec!["work"],
            "nothing written outside"
        );
        err
    }
}

#[test]
fn pax_global_header_is_metadata_not_a_file() {
    // A tarball as `git archive` makes it: a pax global header carrying the commit id.
    let mut b = tar::Builder::new(Vec::new());
    let comment = "52 comment=0123456789abcdef0123456789abcdef01234567\n";
    let mut h = tar::Header::new_ustar();
    h.set_path("pax_global_header").unwrap();
    h.set_entry_type(tar::EntryType::XGlobalHeader);
    h.set_size(comment.len() as u64);
    h.set_cksum();
    b.append(&h, comment.as_bytes()).unwrap();
    let mut h = tar::Header::new_ustar();
    h.set_size(3);
    h.set_mode(0o644);
    b.append_data(&mut h, "linux-6.1/README", &b"hi\n"[..])
        .unwrap();
    let tar = b.into_inner().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("t");
    extract(
        &tar[..],
        &dest,
        &ExtractOptions {
            strip_components: 1,
        },
        &no(),
    )
    .unwrap();
    assert_eq!(entries(&dest), vec!["README"]);
}

#[test]
fn git_archive_output_extracts() {
    // A real `git archive` tarball (pax global header, ustar) from a repository made with git2.
    let tmp = tempfile::tempdir().unwrap();
    let repo_dir = tmp.path().join("repo");
    let repo = git2::Repository::init(&repo_dir).unwrap();
    std::fs::write(repo_dir.join("Makefile"), "all:\n\ttrue\n").unwrap();
    let mut index = repo.index().unwrap();
    index.add_path(Path::new("Makefile")).unwrap();
    let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
    let sig = git2::Signature::now("t", "t@example.invalid").unwrap();
    repo.commit(Some("HEAD"), &sig, &sig, "init", &tree, &[])
        .unwrap();
    let out = std::process::Command::new("git")
        .args(["archive", "--format=tar.gz", "--prefix=proj-1/", "HEAD"])
        .current_dir(&repo_dir)
        .output()
        .expect("git is needed for this test: apt-get install git");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dest = tmp.path().join("t");
    let report = extract(
        &out.stdout[..],
        &dest,
        &ExtractOptions {
            strip_components: 1,
        },
        &no(),
    )
    .unwrap();
    assert_eq!(entries(&dest), vec!["Makefile"]);
    assert_eq!(report.files, 1);
}

#[test]
fn gnu_tar_pax_archive_with_long_names_extracts() {
    // The system tar in pax format (long names in extended headers), xz-compressed.
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src/pkg");
    let deep = src.join("a".repeat(90)).join("b".repeat(90));
    std::fs::create_dir_all(&deep).unwrap();
    std::fs::write(deep.join("c".repeat(120)), "deep\n").unwrap();
    let out = std::process::Command::new("tar")
        .args(["--format=pax", "-cJf", "-", "-C"])
        .arg(tmp.path().join("src"))
        .arg("pkg")
        .output()
        .expect("tar and xz are needed for this test: apt-get install tar xz-utils");
    assert!(out.status.success());
    let dest = tmp.path().join("t");
    let report = extract(
        &out.stdout[..],
        &dest,
        &ExtractOptions {
            strip_components: 1,
        },
        &no(),
    )
    .unwrap();
    assert_eq!(report.compression, Some(kforge_fetch::Compression::Xz));
    let file = dest
        .join("a".repeat(90))
        .join("b".repeat(90))
        .join("c".repeat(120));
    assert_eq!(std::fs::read_to_string(file).unwrap(), "deep\n");
}

#[test]
fn sample_tree_keeps_modes_mtimes_and_links() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("t");
    extract(
        &bzip2(&sample_tar())[..],
        &dest,
        &ExtractOptions {
            strip_components: 1,
        },
        &no(),
    )
    .unwrap();
    assert_sample_tree(&dest);
}

#[test]
fn devices_and_fifos_are_skipped_and_setuid_dropped() {
    use std::os::unix::fs::PermissionsExt;
    let mut b = tar::Builder::new(Vec::new());
    for (kind, name) in [
        (tar::EntryType::Char, "dev/null"),
        (tar::EntryType::Block, "dev/sda"),
        (tar::EntryType::Fifo, "fifo"),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(0);
        h.set_mode(0o666);
        b.append_data(&mut h, name, &[][..]).unwrap();
    }
    let mut h = tar::Header::new_gnu();
    h.set_size(3);
    h.set_mode(0o6755);
    b.append_data(&mut h, "bin/su", &b"su\n"[..]).unwrap();
    let tar = b.into_inner().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("t");
    let report = extract(&tar[..], &dest, &ExtractOptions::default(), &no()).unwrap();
    assert_eq!(report.skipped.len(), 3, "{:?}", report.skipped);
    assert!(!dest.join("fifo").exists() && !dest.join("dev/null").exists());
    let mode = std::fs::metadata(dest.join("bin/su"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o7000, 0, "setuid/setgid dropped");
    assert_eq!(mode & 0o111, 0o111, "exec bits kept");
    assert_eq!(report.dropped_special_bits, vec!["bin/su"]);
}

#[test]
fn absolute_paths_are_refused() {
    let h = Hostile::new();
    let target = h.tmp.path().join("pwned");
    let mut b = tar::Builder::new(Vec::new());
    raw_entry(&mut b, tar::EntryType::Regular, "ok.txt", "", b"ok");
    raw_entry(
        &mut b,
        tar::EntryType::Regular,
        target.to_str().unwrap(),
        "",
        b"pwned",
    );
    let err = h.extract(b.into_inner().unwrap());
    assert!(
        matches!(&err, Error::AbsolutePath { entry } if entry.ends_with("pwned")),
        "{err}"
    );
    assert!(err.to_string().contains("pwned"));
}

#[test]
fn parent_components_are_refused() {
    let h = Hostile::new();
    let mut b = tar::Builder::new(Vec::new());
    raw_entry(
        &mut b,
        tar::EntryType::Regular,
        "a/../../pwned",
        "",
        b"pwned",
    );
    let err = h.extract(b.into_inner().unwrap());
    assert!(
        matches!(&err, Error::ParentComponent { entry } if entry == "a/../../pwned"),
        "{err}"
    );
}

#[test]
fn symlink_out_then_write_through_it_is_refused() {
    for target in ["..", "../..", "/tmp", "sub/../../.."] {
        let h = Hostile::new();
        let mut b = tar::Builder::new(Vec::new());
        raw_entry(&mut b, tar::EntryType::Directory, "sub/", "", b"");
        raw_entry(&mut b, tar::EntryType::Symlink, "escape", target, b"");
        raw_entry(
            &mut b,
            tar::EntryType::Regular,
            "escape/pwned",
            "",
            b"pwned",
        );
        let err = h.extract(b.into_inner().unwrap());
        assert!(
            matches!(&err, Error::SymlinkEscapes { entry, .. } if entry == "escape"),
            "{target}: {err}"
        );
    }
}

#[test]
fn writing_through_an_inside_symlink_is_refused() {
    let h = Hostile::new();
    let mut b = tar::Builder::new(Vec::new());
    raw_entry(&mut b, tar::EntryType::Directory, "real/", "", b"");
    raw_entry(&mut b, tar::EntryType::Symlink, "alias", "real", b"");
    raw_entry(&mut b, tar::EntryType::Regular, "alias/file", "", b"x");
    let err = h.extract(b.into_inner().unwrap());
    assert!(
        matches!(&err, Error::WritesThroughNonDirectory { entry, .. } if entry == "alias/file"),
        "{err}"
    );
}

#[test]
fn chained_symlinks_that_escape_are_refused_in_either_order() {
    // `d/up -> ..` is harmless alone; `esc -> d/up/..` resolves to the parent of the root.
    for order in [["d/up", "esc"], ["esc", "d/up"]] {
        let h = Hostile::new();
        let mut b = tar::Builder::new(Vec::new());
        raw_entry(&mut b, tar::EntryType::Directory, "d/", "", b"");
        for name in order {
            let link = if name == "d/up" { ".." } else { "d/up/.." };
            raw_entry(&mut b, tar::EntryType::Symlink, name, link, b"");
        }
        let err = h.extract(b.into_inner().unwrap());
        assert!(
            matches!(&err, Error::SymlinkEscapes { entry, .. } if entry == "esc"),
            "{order:?}: {err}"
        );
    }
}

#[test]
fn hard_links_outside_are_refused() {
    for target in ["/etc/passwd", "../outside", "missing-file"] {
        let h = Hostile::new();
        std::fs::write(h.tmp.path().join("outside"), "secret").unwrap();
        let mut b = tar::Builder::new(Vec::new());
        raw_entry(&mut b, tar::EntryType::Link, "hl", target, b"");
        let tar = b.into_inner().unwrap();
        let dest = h.tmp.path().join("work/dest");
        let err = extract(&tar[..], &dest, &ExtractOptions::default(), &no()).unwrap_err();
        assert!(
            matches!(&err, Error::HardLinkOutside { entry, .. } if entry == "hl"),
            "{target}: {err}"
        );
        assert!(!dest.exists());
        assert_eq!(
            std::fs::read_to_string(h.tmp.path().join("outside")).unwrap(),
            "secret"
        );
    }
    // A hard link to a symlink that points out is refused too (only regular files of the archive).
    let h = Hostile::new();
    let mut b = tar::Builder::new(Vec::new());
    raw_entry(&mut b, tar::EntryType::Symlink, "s", "x", b"");
    raw_entry(&mut b, tar::EntryType::Link, "hl", "s", b"");
    let err = h.extract(b.into_inner().unwrap());
    assert!(matches!(err, Error::HardLinkOutside { .. }), "{err}");
}

#[test]
fn a_truncated_archive_is_an_error_and_leaves_nothing() {
    let data = xz(&sample_tar());
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("t");
    let err = extract(
        &data[..data.len() / 2],
        &dest,
        &ExtractOptions::default(),
        &no(),
    )
    .unwrap_err();
    assert!(matches!(err, Error::Read { .. }), "{err}");
    assert!(entries(tmp.path()).is_empty());
}

#[test]
fn the_interrupt_flag_stops_extraction() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("t");
    let err = extract(
        &sample_tar()[..],
        &dest,
        &ExtractOptions::default(),
        &AtomicBool::new(true),
    )
    .unwrap_err();
    assert!(matches!(err, Error::Interrupted));
    assert!(entries(tmp.path()).is_empty());
}

/// Run a shell pipeline in `dir` that writes an archive to stdout.
fn sh_archive(dir: &Path, script: &str) -> Vec<u8> {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .output()
        .expect("sh is needed");
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn a_sparse_file_claiming_a_terabyte_is_refused() {
    // A GNU sparse entry of a few hundred bytes describes a hole of any size, which the tar
    // reader yields as zeros; such a file used to be read into memory until the process died.
    let tmp = tempfile::tempdir().unwrap();
    let archive = sh_archive(
        tmp.path(),
        "truncate -s 1T big && printf data >> big && tar --format=gnu -S -cf - big",
    );
    assert!(archive.len() < 16 * 1024, "{} bytes", archive.len());
    let dest = tmp.path().join("work/dest");
    std::fs::create_dir(tmp.path().join("work")).unwrap();
    let err = extract(&archive[..], &dest, &ExtractOptions::default(), &no()).unwrap_err();
    assert!(
        matches!(err, Error::SparseTooLarge { ref entry, size, .. } if entry == "big" && size == (1 << 40) + 4),
        "{err}"
    );
    assert!(!dest.exists());
    assert_eq!(entries(&tmp.path().join("work")), Vec::<String>::new());
}

#[test]
fn large_and_sparse_files_are_streamed_to_disk() {
    // 20 MiB of zeros in a plain entry (a few KiB of xz) and a 24 MiB sparse file: written as
    // they are read, not held in memory, and the zeros become holes on disk (which the
    // in-memory path, a plain write of the whole content, would not make).
    let tmp = tempfile::tempdir().unwrap();
    let plain = sh_archive(
        tmp.path(),
        "truncate -s 20M zeros && printf end >> zeros && tar --format=gnu -cf - zeros | xz -1 -T2",
    );
    assert!(plain.len() < 64 * 1024);
    let sparse = sh_archive(
        tmp.path(),
        "truncate -s 24M holes && printf end >> holes && tar --format=gnu -S -cf - holes",
    );
    for (archive, name, size) in [
        (plain, "zeros", (20 << 20) + 3),
        (sparse, "holes", (24 << 20) + 3),
    ] {
        let dest = tmp.path().join(format!("out-{name}"));
        let report = extract(&archive[..], &dest, &ExtractOptions::default(), &no()).unwrap();
        assert_eq!(report.bytes, size);
        let file = dest.join(name);
        let meta = std::fs::metadata(&file).unwrap();
        assert_eq!(meta.len(), size);
        use std::os::unix::fs::MetadataExt;
        assert!(
            meta.blocks() * 512 < 1 << 20,
            "holes kept: {} blocks",
            meta.blocks()
        );
        let mut tail = Vec::new();
        use std::io::{Read, Seek};
        let mut f = std::fs::File::open(&file).unwrap();
        f.seek(std::io::SeekFrom::End(-4)).unwrap();
        f.read_to_end(&mut tail).unwrap();
        assert_eq!(tail, b"\0end");
    }
}
