//! `kforge fetch archive|git|hg …`: an archive URL, a git or a Mercurial repository into a
//! verified directory.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;

use kforge_fetch::{Fetched, Fetcher, PatchSet, Phase, Progress, Sha256Digest, Source};

use super::Output;

/// Fetch an archive, a git or a Mercurial repository into a verified directory.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    cmd: FetchCmd,
}

#[derive(Debug, clap::Subcommand)]
enum FetchCmd {
    /// Download a tar archive (verified against --sha256) and extract it.
    Archive(ArchiveArgs),
    /// Clone a git repository (through a cached mirror) and check out a branch, tag or commit.
    Git(GitArgs),
    /// Clone a Mercurial repository with the hg command and update to a revision.
    Hg(HgArgs),
}

#[derive(Debug, clap::Args)]
struct ArchiveArgs {
    /// Archive URL (http://, https:// or file://): a tar archive, gzip/xz/bzip2/zstd or plain.
    url: String,
    /// Expected SHA-256 of the archive (64 hex digits, as printed by sha256sum).
    #[arg(long, value_name = "HEX")]
    sha256: Option<String>,
    /// Fetch without a pinned hash; the hash to pin is reported.
    #[arg(long)]
    allow_unpinned: bool,
    /// Leading path components to strip from the archive's entries (as tar --strip-components).
    #[arg(long, value_name = "N", default_value_t = 0)]
    strip: usize,
    /// A mirror base URL tried before the origin (the archive's file name is appended); repeatable.
    #[arg(long, value_name = "URL")]
    mirror: Vec<String>,
    #[command(flatten)]
    common: CommonArgs,
}

/// Options shared by every kind of source.
#[derive(Debug, clap::Args)]
struct CommonArgs {
    /// Destination directory (must not exist; written atomically).
    #[arg(long, value_name = "DIR")]
    dest: PathBuf,
    /// Download cache [default: $KFORGE_CACHE_DIR, $XDG_CACHE_HOME/kforge or ~/.cache/kforge].
    #[arg(long = "cache-dir", alias = "cache", value_name = "DIR")]
    cache: Option<PathBuf>,
    /// Use only the cache; fail naming what is missing.
    #[arg(long)]
    offline: bool,
    /// Also trust the CA certificates of this PEM file for https (archives, mirrors, git,
    /// Mercurial); repeatable. SSL_CERT_FILE/SSL_CERT_DIR replace the system's roots and
    /// HTTPS_PROXY/https_proxy/NO_PROXY choose a proxy, as for curl and git.
    #[arg(long, value_name = "FILE")]
    ca_cert: Vec<PathBuf>,
    /// Accept only https servers presenting a certificate of this PEM file (replaces CA
    /// verification, like Mercurial's host fingerprints); repeatable.
    #[arg(long, value_name = "FILE")]
    pinned_cert: Vec<PathBuf>,
    /// A patch applied after fetching (with -p1 unless --patch-strip); repeatable, in order.
    #[arg(long, value_name = "FILE")]
    patch: Vec<PathBuf>,
    /// A quilt series file (e.g. debian/patches/series) applied after the --patch files.
    #[arg(long, value_name = "FILE")]
    series: Option<PathBuf>,
    /// The -p level of --patch files and the default of series entries.
    #[arg(long, value_name = "N", default_value_t = 1)]
    patch_strip: u32,
}

#[derive(Debug, clap::Args)]
struct GitArgs {
    /// Repository URL or path (https://, http://, file:// or a local path).
    url: String,
    /// Branch, tag or commit id.
    #[arg(long)]
    rev: String,
    /// The full commit id REV must resolve to.
    #[arg(long, value_name = "SHA1")]
    commit: Option<String>,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Debug, clap::Args)]
struct HgArgs {
    /// Repository URL or path.
    url: String,
    /// Branch, tag, bookmark or changeset id.
    #[arg(long)]
    rev: String,
    #[command(flatten)]
    common: CommonArgs,
}

/// Run the command.
pub fn run(args: Args, out: &Output) -> anyhow::Result<ExitCode> {
    let (source, common, mirrors, allow_unpinned) = match args.cmd {
        FetchCmd::Git(git) => {
            let mut source = Source::git(git.url, git.rev);
            if let Some(commit) = git.commit {
                source = source.with_commit(commit);
            }
            (source, git.common, Vec::new(), false)
        }
        FetchCmd::Hg(hg) => (Source::hg(hg.url, hg.rev), hg.common, Vec::new(), false),
        FetchCmd::Archive(archive) => {
            let sha256 = archive
                .sha256
                .as_deref()
                .map(str::parse::<Sha256Digest>)
                .transpose()?;
            let source = Source::Archive {
                url: archive.url,
                sha256,
                strip_components: archive.strip,
            };
            (
                source,
                archive.common,
                archive.mirror,
                archive.allow_unpinned,
            )
        }
    };
    let dest = common.dest;
    let mut patches = PatchSet::new();
    for patch in &common.patch {
        patches = patches.patch(patch, common.patch_strip);
    }
    if let Some(series) = &common.series {
        for p in PatchSet::from_series(series, common.patch_strip)?.patches() {
            patches = patches.patch(&p.path, p.strip);
        }
    }

    let mut builder = Fetcher::builder()
        .offline(common.offline)
        .allow_unpinned(allow_unpinned);
    if let Some(cache) = common.cache {
        builder = builder.cache_dir(cache);
    }
    for mirror in mirrors {
        builder = builder.mirror(mirror);
    }
    for ca in &common.ca_cert {
        builder = builder.ca_cert(ca);
    }
    for pin in &common.pinned_cert {
        builder = builder.pinned_cert(pin);
    }
    let reporter = Reporter::new(out.quiet || out.json);
    let bar = reporter.bar.clone();
    let reporter = std::sync::Arc::new(reporter);
    let r = reporter.clone();
    builder = builder.progress(move |p| r.report(p));
    let fetcher = builder.build()?;

    let interrupt = super::interrupt_flag().unwrap_or_default();
    let result = fetcher.fetch_patched(&source, &dest, &patches, &interrupt);
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let fetched = result?;
    if out.json {
        out.print_json(&fetched)?;
    } else if !out.quiet {
        print_summary(&fetched);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_summary(fetched: &Fetched) {
    println!(
        "{} -> {}",
        fetched.source.location(),
        fetched.dest.display()
    );
    if let Some(sha) = fetched.sha256 {
        let how = match (&fetched.from_url, fetched.from_cache) {
            (_, true) => "from the cache".to_owned(),
            (Some(url), false) => format!("downloaded from {url}"),
            (None, false) => "downloaded".to_owned(),
        };
        println!("  sha256 {sha} ({how})");
        if matches!(fetched.source, Source::Archive { sha256: None, .. }) {
            println!("  unpinned fetch: pin it with --sha256 {sha}");
        }
    }
    if let Some(rev) = &fetched.revision {
        println!("  revision {rev}");
    }
    if let Some(report) = &fetched.extract {
        println!(
            "  {} files, {} directories, {} symlinks, {} hard links, {} bytes",
            report.files, report.directories, report.symlinks, report.hard_links, report.bytes
        );
        for skipped in &report.skipped {
            println!("  skipped {skipped}");
        }
        for entry in &report.dropped_special_bits {
            println!("  dropped setuid/setgid/sticky bits of {entry}");
        }
    }
    for patch in &fetched.patches {
        println!("  applied {patch}");
    }
}

/// A progress bar on a terminal, a line per phase and per 10% otherwise.
struct Reporter {
    quiet: bool,
    bar: Option<indicatif::ProgressBar>,
    state: Mutex<(Option<Phase>, u64)>,
}

impl Reporter {
    fn new(quiet: bool) -> Reporter {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{msg:>10} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar
        });
        Reporter {
            quiet,
            bar,
            state: Mutex::new((None, 0)),
        }
    }

    fn report(&self, p: &Progress<'_>) {
        if self.quiet {
            return;
        }
        let name = match p.phase {
            Phase::Download => "download",
            Phase::Extract => "extract",
            Phase::WaitLock => "waiting",
            Phase::Clone => "clone",
            Phase::Checkout => "checkout",
            Phase::Patch => "patch",
        };
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        if let Some(bar) = &self.bar {
            if state.0 != Some(p.phase) {
                bar.set_message(name);
                bar.set_position(0);
            }
            bar.set_length(p.total.unwrap_or(0));
            bar.set_position(p.done);
            state.0 = Some(p.phase);
            return;
        }
        let decile = p
            .total
            .filter(|t| *t > 0)
            .map(|t| p.done * 10 / t)
            .unwrap_or(0);
        if state.0 != Some(p.phase) {
            eprintln!("{name} {}", p.source);
            *state = (Some(p.phase), decile);
        } else if decile > state.1 && matches!(p.phase, Phase::Download | Phase::Extract) {
            eprintln!(
                "{name} {}: {}% ({} of {} bytes)",
                p.source,
                decile * 10,
                p.done,
                p.total.unwrap_or(0)
            );
            state.1 = decile;
        }
    }
}
