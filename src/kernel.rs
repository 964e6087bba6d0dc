//! Kernel steps: the base config (running kernel, a file, or `defconfig`), fragments merged
//! over it, the out-of-tree build directory, `olddefconfig`, the verification that every
//! requested value landed, `modules_prepare` and `M=` modules.
//!
//! A [`KernelPlan`] describes the kernel part of a flow; its methods are steps to run inside
//! [`Run::step`](crate::steps::Run::step).

use std::path::{Path, PathBuf};

use kforge_kbuild::{KernelTree, KernelVersion, Outcome, ResolveStrategy};
use kforge_kconfig::lang::{Kconfig, LoadOptions};
use kforge_kconfig::{
    BuildDir, Config, Fragment, KconfigIndex, LossReason, Mode, merge, verify_with_base,
};

use crate::error::{Context as _, Error};
use crate::record::{Artifact, ConfigRecord};
use crate::reproduce::{ArchiveFetch, archive_stem, fetch_commands, quote, quote_path, shell_line};
use crate::steps::{PlannedStep, Run};

type Result<T, E = Error> = std::result::Result<T, E>;

/// Where the base configuration comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BaseConfig {
    /// The running kernel's (`/proc/config.gz`, else `/boot/config-$(uname -r)`).
    Running,
    /// `make defconfig` in the build directory.
    Defconfig,
    /// `make tinyconfig` in the build directory (the smallest kernel; fragments add the rest).
    Tinyconfig,
    /// A `.config` file.
    File(PathBuf),
}

impl BaseConfig {
    /// `running`, `defconfig`, or a path.
    pub fn from_arg(arg: &str) -> BaseConfig {
        match arg {
            "running" => BaseConfig::Running,
            "defconfig" => BaseConfig::Defconfig,
            "tinyconfig" => BaseConfig::Tinyconfig,
            path => BaseConfig::File(PathBuf::from(path)),
        }
    }
}

/// A fragment: a file, or one of the flow's built-in fragments (written into the output
/// directory so the user can read and reuse it).
#[derive(Debug, Clone)]
pub enum FragmentSpec {
    /// A file given on the command line.
    File(PathBuf),
    /// A built-in fragment: file name and text.
    Builtin(&'static str, &'static str),
}

/// The kernel part of a flow: source tree, build directory, arch, fragments.
#[derive(Debug, Clone)]
pub struct KernelPlan {
    /// The extracted source tree.
    pub src: PathBuf,
    /// The out-of-tree build directory (`O=`).
    pub build: PathBuf,
    /// `ARCH=`.
    pub arch: String,
    /// The base config.
    pub base: BaseConfig,
    /// Fragments, in order.
    pub fragments: Vec<FragmentSpec>,
    /// Strict (fail) or warn when a requested value did not land.
    pub verify_mode: Mode,
    /// Move a stray `.config` out of the source tree instead of failing.
    pub fix_tree: bool,
    /// Where the base, fragments and merged config are saved.
    pub config_dir: PathBuf,
}

impl KernelPlan {
    /// A [`KernelTree`] over the plan's directories with the run's logs, jobs, interrupt flag
    /// and status line.
    pub fn tree(&self, run: &Run) -> KernelTree {
        let mut tree = KernelTree::new(&self.src);
        tree.build_dir(&self.build).arch(&self.arch);
        run.supervise_tree(&mut tree);
        tree
    }

    /// The make target that writes the base config (`defconfig`, `tinyconfig`).
    fn base_target(&self) -> &'static str {
        match self.base {
            BaseConfig::Tinyconfig => "tinyconfig",
            _ => "defconfig",
        }
    }

    /// The shell command of a make step over this tree.
    pub fn command(&self, run: &Run, targets: &[&str], vars: &[(&str, &str)]) -> String {
        let mut make = self.tree(run).make(targets.iter().copied());
        for (k, v) in vars {
            make.var(*k, *v);
        }
        shell_line(make.command_line())
    }

    /// The planned steps both flows share for a kernel: fetch it from `url`, install base +
    /// fragments into the build directory, resolve with olddefconfig, verify. `label` names the
    /// kernel in the step titles ("kernel", "dom0 kernel").
    pub fn planned_steps(
        &self,
        run: &Run,
        url: &str,
        sha256: Option<&str>,
        label: &str,
    ) -> Vec<PlannedStep> {
        vec![
            PlannedStep::new(
                "fetch-kernel",
                &format!("Fetch, verify and extract the {label}"),
                fetch_commands(&ArchiveFetch {
                    url,
                    mirrors: &run.options().mirrors,
                    sha256,
                    strip_components: 1,
                    dest: &self.src,
                    patches: &[],
                }),
            ),
            PlannedStep::new(
                "config",
                &format!(
                    "Base config + {label} fragments, installed into the out-of-tree build directory"
                ),
                self.config_commands(run),
            ),
            {
                let (title, command) = self.planned_resolve(run, url, label);
                PlannedStep::new("olddefconfig", &title, vec![command])
            },
            PlannedStep::new(
                "verify-config",
                &format!("Verify every requested {label} value landed"),
                vec![format!(
                    "# grep the final {}/.config for each requested value",
                    self.build.display()
                )],
            ),
        ]
    }

    /// The kernel version the plan can tell before running anything: the tree's Makefile when
    /// an earlier run extracted it, else the archive's name (`linux-2.6.23.tar.gz`).
    pub fn planned_version(&self, url: &str) -> Option<KernelVersion> {
        KernelVersion::from_tree(&self.src)
            .ok()
            .or_else(|| KernelVersion::from_release_name(&archive_stem(url)))
    }

    /// The title and the command of the resolve step as it will really run for the kernel's
    /// era: `make olddefconfig` (3.7+), `make oldnoconfig` (2.6.36–3.6) or
    /// `yes "" | make oldconfig` (older).
    fn planned_resolve(&self, run: &Run, url: &str, label: &str) -> (String, String) {
        let Some(version) = self.planned_version(url) else {
            return (
                format!(
                    "Resolve the {label} config without prompts (the target follows the tree's \
                     Makefile version: olddefconfig, oldnoconfig, or oldconfig with every prompt \
                     answered by its default)"
                ),
                self.command(run, &["olddefconfig"], &[]),
            );
        };
        let strategy = version.resolve_strategy();
        let make = self.command(run, &[strategy.target()], &[]);
        match strategy {
            ResolveStrategy::OldconfigWithDefaults => (
                format!(
                    "Resolve the {label} config: Linux {version} predates olddefconfig, so \
                     oldconfig with every prompt answered by its default"
                ),
                format!("yes \"\" | {make}"),
            ),
            ResolveStrategy::Oldnoconfig => (
                format!(
                    "Resolve the {label} config without prompts (Linux {version}: oldnoconfig, \
                     olddefconfig's name before 3.7)"
                ),
                make,
            ),
            _ => (format!("Resolve the {label} config without prompts"), make),
        }
    }

    /// The planned commands of the config step.
    pub fn config_commands(&self, run: &Run) -> Vec<String> {
        let dir = quote_path(&self.config_dir);
        let build = quote_path(&self.build);
        let mut commands = vec![format!("mkdir -p {dir} {build}")];
        match &self.base {
            BaseConfig::Running => commands.push(format!(
                "{{ zcat /proc/config.gz || cat /boot/config-$(uname -r); }} > {dir}/base.config"
            )),
            BaseConfig::Defconfig | BaseConfig::Tinyconfig => {
                let target = self.base_target();
                commands.push(self.command(run, &[target], &[]));
                commands.push(format!("cp {build}/.config {dir}/base.config"));
            }
            BaseConfig::File(path) => {
                commands.push(format!("cp {} {dir}/base.config", quote_path(path)))
            }
        }
        let names: Vec<String> = self
            .fragments
            .iter()
            .map(|f| match f {
                FragmentSpec::File(p) => quote_path(p),
                FragmentSpec::Builtin(name, _) => format!("{dir}/{name}"),
            })
            .collect();
        commands.push(format!(
            "{} -m -O {build} {dir}/base.config {}   # kforge merges the same way into {dir}/merged.config",
            quote_path(self.src.join("scripts/kconfig/merge_config.sh")),
            names.join(" ")
        ));
        commands
    }

    /// Step: base config, fragments merged over it, tree cleanliness for `O=`, and the merged
    /// config installed into the build directory. Returns what was requested and the base.
    pub fn configure(&self, run: &mut Run) -> Result<Configured> {
        std::fs::create_dir_all(&self.config_dir)
            .map_err(|e| Error::io("create the directory", &self.config_dir, e))?;
        // The tree must be clean for O= before any make runs in it.
        let tree = kforge_kbuild::SourceTree::open(&self.src)
            .with_context(|| format!("{} is not a kernel source tree", self.src.display()))?;
        let check = tree.check_clean(Some(&self.arch), &kforge_kconfig::srcarch(&self.arch));
        if !check.is_clean() {
            if self.fix_tree {
                let plan = tree.make_clean_for_out_of_tree(&self.build)?;
                run.step_note(format!("source tree cleaned for O= without loss:\n{plan}"));
            } else {
                run.hint = Some(format!(
                    "the kernel would refuse the O= build:\n{}\nfix: rerun with --fix-tree (moves a stray .config into the build directory, \
                     loses nothing) or `kforge tree clean {}`; never `make mrproper`, which deletes the .config",
                    check.message.clone().unwrap_or_default(),
                    self.src.display()
                ));
                return Err(Error::refused(check.to_string()));
            }
        }
        let (mut base, base_desc) = match &self.base {
            BaseConfig::Running => {
                let running = Config::running().context(
                    "reading the running kernel's config (use --config FILE or --config defconfig instead)",
                )?;
                let desc = format!(
                    "running kernel {} ({})",
                    running.release.clone().unwrap_or_default(),
                    running.path.display()
                );
                (running.config, desc)
            }
            BaseConfig::File(path) => (
                Config::read(path)
                    .with_context(|| format!("reading --config {}", path.display()))?,
                path.display().to_string(),
            ),
            BaseConfig::Defconfig | BaseConfig::Tinyconfig => {
                let target = self.base_target();
                run.command_started(target);
                let outcome = self.tree(run).config_target(target)?;
                run.set_log(outcome.log_file.clone());
                let config = BuildDir::new(&self.build).read_config()?;
                (
                    config,
                    format!("make {target} ({} {})", self.arch, tree.version()),
                )
            }
        };
        let base_path = self.config_dir.join("base.config");
        base.write(&base_path)?;
        base.set_origin(&base_path);
        let mut fragments = Vec::new();
        for spec in &self.fragments {
            let fragment = match spec {
                FragmentSpec::File(path) => Fragment::read(path)
                    .with_context(|| format!("reading the fragment {}", path.display()))?,
                FragmentSpec::Builtin(name, text) => {
                    let path = self.config_dir.join(name);
                    crate::write_atomic(&path, text.as_bytes())
                        .map_err(|e| Error::io("write", &path, e))?;
                    Fragment::read(&path)?
                }
            };
            fragments.push(fragment);
        }
        if let Some(key) = &run.options().module_sig_key {
            fragments.push(self.module_sig_key_fragment(key)?);
        }
        let merged = merge(&base, &fragments);
        for o in &merged.overrides {
            run.step_note(format!("{o}"));
        }
        let merged_path = self.config_dir.join("merged.config");
        merged.config.write(&merged_path)?;
        let installed = BuildDir::new(&self.build).install_config(&merged.config)?;
        run.step_note(format!(
            "base: {base_desc}; {} fragment(s), {} value(s) requested; installed {}",
            fragments.len(),
            merged.requested.len(),
            installed.path.display()
        ));
        run.set_commands({
            let mut c = self.config_commands(run);
            c.pop();
            c.push(format!(
                "cp {} {}/.config   # the merged config kforge installed",
                quote_path(&merged_path),
                quote_path(&self.build)
            ));
            c
        });
        run.record.config = Some(ConfigRecord {
            base: base_desc,
            base_file: Some(base_path),
            fragments: fragments.iter().map(|f| f.path().to_path_buf()).collect(),
            merged_file: Some(merged_path),
            build_config: installed.path.clone(),
            sha256: None,
            merge: serde_json::to_value(merged.report(&base, &fragments)).ok(),
            verification: None,
        });
        Ok(Configured {
            requested: merged.requested,
            base,
            fragments_text: fragments
                .iter()
                .map(|f| f.path().display().to_string())
                .collect(),
        })
    }

    /// A fragment that signs modules with the user's key (`CONFIG_MODULE_SIG_KEY`, absolute),
    /// written into the config directory. The key is read, never created.
    fn module_sig_key_fragment(&self, key: &Path) -> Result<Fragment> {
        let key = std::path::absolute(key).map_err(|e| Error::io("resolve", key, e))?;
        std::fs::File::open(&key).map_err(|e| {
            Error::io(
                "read the module signing key (--module-sig-key: a PEM file with the private key \
                 and the certificate, e.g. made once with `openssl req -new -nodes -utf8 -sha512 \
                 -days 36500 -batch -x509 -outform PEM -keyout key.pem -out key.pem`)",
                &key,
                e,
            )
        })?;
        let path = self.config_dir.join("module-sig-key.config");
        let text = format!(
            "# Sign modules with the given key, not a key generated per build directory.\n{}\n",
            Config::new().format_assignment(
                "MODULE_SIG_KEY",
                &kforge_kconfig::Value::Str(key.to_string_lossy().into_owned())
            )
        );
        crate::write_atomic(&path, text.as_bytes()).map_err(|e| Error::io("write", &path, e))?;
        Ok(Fragment::read(&path)?)
    }

    /// Step: `make olddefconfig` (or the era's equivalent) in the build directory; then what
    /// the resolved config needs for a reproducible build goes into the record.
    pub fn olddefconfig(&self, run: &mut Run) -> Result<()> {
        run.command_started("olddefconfig");
        let resolved = self.tree(run).olddefconfig()?;
        run.record_outcome(&resolved.outcome);
        run.step_note(format!(
            "Linux {} resolved with `{}` (stdin closed: a prompt cannot hang the build)",
            resolved.kernel, resolved.strategy
        ));
        if let Ok(text) = std::fs::read_to_string(self.build.join(".config")) {
            let findings =
                crate::repro::config_findings(&text, run.options().module_sig_key.as_deref());
            for f in findings.iter().filter(|f| !f.handled) {
                run.step_note(format!(
                    "not reproducible as configured: {}: {}",
                    f.symbol, f.note
                ));
            }
            run.record.repro.config = findings;
        }
        Ok(())
    }

    /// Step: every requested value must be in the final `.config`.
    pub fn verify(&self, run: &mut Run, configured: &Configured) -> Result<()> {
        let final_config = BuildDir::new(&self.build).read_config()?;
        let mut report = verify_with_base(&configured.requested, &configured.base, &final_config);
        if !report.all_landed()
            && let Ok(index) =
                KconfigIndex::build(&self.src, Some(&kforge_kconfig::srcarch(&self.arch)))
        {
            report.explain_with(&index, &final_config);
        }
        let fix_file = if report.all_landed() {
            None
        } else {
            self.explain_and_fix(run, configured, &mut report)
        };
        let build_config = quote_path(self.build.join(".config"));
        run.set_commands(
            configured
                .requested
                .iter()
                .map(|a| {
                    format!(
                        "grep -qxF {} {build_config}",
                        quote(&final_config.format_assignment(&a.symbol, &a.value))
                    )
                })
                .collect(),
        );
        let text = report.to_string();
        // The summary keeps what matters: what was lost (all of it) and how many other values
        // moved; the full list of unrequested changes is in build.json.
        let short = if report.all_landed() {
            format!(
                "all {} requested values landed in {}\n{} other value(s) changed during dependency \
                 resolution although no fragment asked (listed in build.json)",
                report.requested,
                self.build.join(".config").display(),
                report.unrequested.len()
            )
        } else {
            text.clone()
        };
        run.set_verification_text(short);
        let config_hash = Artifact::of(self.build.join(".config"))
            .ok()
            .map(|a| a.sha256);
        if let Some(config) = run.record.config.as_mut() {
            config.verification = serde_json::to_value(&report).ok();
            config.sha256 = config_hash;
        }
        let modules_lost = report
            .lost
            .iter()
            .any(|l| l.reason == LossReason::ModulesDisabled);
        run.step_note(format!(
            "{} of {} requested values landed",
            report.landed, report.requested
        ));
        if modules_lost {
            run.hint = Some(
                "the base config has CONFIG_MODULES off, so no =m value can land: add \
                 CONFIG_MODULES=y to a fragment (the built-in KVM fragment does)"
                    .into(),
            );
        }
        if let Some(fix) = &fix_file {
            // The fragments given replace the built-in one: name every fragment again.
            let mut again: Vec<String> = run
                .record
                .config
                .as_ref()
                .map(|c| c.fragments.iter().map(quote_path).collect())
                .unwrap_or_default();
            again.push(quote_path(fix));
            run.hint = Some(format!(
                "the proposed fragment lines (checked by resolving again) are in {}: rerun with \
                 --fragment {}",
                fix.display(),
                again.join(" --fragment ")
            ));
        }
        match report.enforce(self.verify_mode) {
            Ok(_) => Ok(()),
            Err(err) => {
                run.observer().report(&text);
                Err(Error::refused(format!(
                    "{} requested value(s) did not land in {} (see the verification above)",
                    err.0.lost.len(),
                    self.build.join(".config").display()
                )))
            }
        }
    }

    /// Evaluates the tree's Kconfig files to give every lost value its explanation, root causes
    /// and fix; writes the proposed lines to `<out>/fix.config` when there are any. Trees whose
    /// Kconfig files the evaluator cannot read keep the plain report.
    fn explain_and_fix(
        &self,
        run: &mut Run,
        configured: &Configured,
        report: &mut kforge_kconfig::Verification,
    ) -> Option<PathBuf> {
        let mut opts = LoadOptions::new(&self.src);
        opts.arch = Some(self.arch.clone());
        opts.probe_cache = Some(kforge_fetch::Cache::default_root().join("kconfig-probes"));
        opts.interrupt = Some(run.interrupt().clone());
        let kconfig = match Kconfig::load(&opts) {
            Ok(k) => k,
            Err(e) => {
                tracing::debug!(error = %e, "no evaluated explanation: the Kconfig files do not load");
                return None;
            }
        };
        report.explain_with_kconfig(
            &kconfig,
            &configured.requested,
            configured.base.to_string().as_bytes(),
        );
        let fix = report.fix.as_ref().filter(|f| !f.lines.is_empty())?;
        let path = run.out().join("fix.config");
        match kforge_kconfig::write_atomic(&path, fix.fragment().as_bytes()) {
            Ok(()) => Some(path),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot write the proposed fragment");
                None
            }
        }
    }

    /// Step: prepare the build directory for external modules (`modules_prepare`, or
    /// `prepare scripts` on trees without it).
    pub fn modules_prepare(&self, run: &mut Run) -> Result<()> {
        run.command_started("modules_prepare");
        let prepared = self.tree(run).prepare_for_external_modules()?;
        run.record_outcome(&prepared.outcome);
        Ok(())
    }

    /// Step: `make M=<dir> modules` with `dir` relative to the source tree, so the objects
    /// land in the build directory (an absolute `M=` would write into the source tree).
    pub fn modules(&self, run: &mut Run, dir: &str) -> Result<Outcome> {
        run.command_started(&format!("M={dir} modules"));
        let outcome = self.tree(run).external_module(Path::new(dir))?;
        run.record_outcome(&outcome);
        Ok(outcome)
    }

    /// The `.ko` files built in the build directory's `dir`.
    pub fn built_modules(&self, dir: &str) -> Vec<PathBuf> {
        let mut kos: Vec<PathBuf> = std::fs::read_dir(self.build.join(dir))
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|e| e == "ko"))
                    .collect()
            })
            .unwrap_or_default();
        kos.sort();
        kos
    }
}

/// What the config step handed to the verification.
#[derive(Debug)]
pub struct Configured {
    /// Every requested value with its fragment line.
    pub requested: kforge_kconfig::Requested,
    /// The base config.
    pub base: Config,
    /// The fragments' paths.
    pub fragments_text: Vec<String>,
}

/// Whether `log` holds modpost's warning about a missing `Module.symvers`.
pub fn modpost_symvers_warning(log: Option<&Path>) -> bool {
    log.and_then(|p| std::fs::read(p).ok())
        .is_some_and(|b| String::from_utf8_lossy(&b).contains("Module.symvers is missing"))
}
