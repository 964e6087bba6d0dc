//! Miniatures of the real trees, small enough to build in a second, faithful in what the flows
//! rely on.

use std::path::Path;

use super::write_tree;

/// The top Makefile of a Linux-like tree. Like Linux 6.1's: `O=` builds out of tree and refuses
/// a source tree holding `.config`, `include/config/` or `arch/$(SRCARCH)/include/generated/`;
/// `olddefconfig` resolves the `.config` without prompting (with one Kconfig rule that matters
/// here: without `CONFIG_MODULES=y` nothing can be `=m`); `modules_prepare` generates
/// `include/generated/autoconf.h` and builds a host tool; `M=dir modules` compiles the
/// directory's modules against the prepared tree (objects under `O=` for a relative `M=`, in
/// `M` itself for an absolute one, as Linux does) and warns like modpost that
/// `Module.symvers` is missing.
pub const KERNEL_MAKEFILE: &str = r##"VERSION = 6
PATCHLEVEL = 1
SUBLEVEL = 0
EXTRAVERSION = -mini
NAME = Miniature

abs_srctree := $(CURDIR)
srctree := $(CURDIR)
ifneq ($(O),)
objtree := $(O)
else
objtree := $(CURDIR)
endif
ARCH ?= x86
SRCARCH := x86
HOSTCC = cc
CC = cc

.PHONY: outputmakefile defconfig olddefconfig oldconfig modules_prepare modules kernelrelease kernelversion mrproper

outputmakefile:
ifneq ($(O),)
	@if [ -f $(srctree)/.config -o \
		 -d $(srctree)/include/config -o \
		 -d $(srctree)/arch/$(SRCARCH)/include/generated ]; then \
		echo >&2 "***"; \
		echo >&2 "*** The source tree is not clean, please run 'make$(if $(findstring command line, $(origin ARCH)), ARCH=$(ARCH)) mrproper'"; \
		echo >&2 "*** in $(abs_srctree)";\
		echo >&2 "***"; \
		false; \
	fi
	@mkdir -p $(objtree)
endif

defconfig: outputmakefile
	cp $(srctree)/arch/x86/configs/x86_64_defconfig $(objtree)/.config
	$(MAKE) -f $(srctree)/Makefile O=$(O) olddefconfig

olddefconfig oldconfig: outputmakefile
	@test -f $(objtree)/.config || { echo >&2 "no .config in $(objtree)"; exit 1; }
	sh $(srctree)/scripts/kconfig/conf.sh $(objtree)/.config
	@mkdir -p $(objtree)/include/config
	@cp $(objtree)/.config $(objtree)/include/config/auto.conf

modules_prepare: outputmakefile
	@test -f $(objtree)/include/config/auto.conf || { echo >&2 "*** Configuration file .config not found! Run 'make olddefconfig' first."; exit 1; }
	@mkdir -p $(objtree)/include/generated $(objtree)/scripts/mod
	sed -n -e 's/^CONFIG_\([A-Za-z0-9_]*\)=y$$/#define CONFIG_\1 1/p' \
	       -e 's/^CONFIG_\([A-Za-z0-9_]*\)=m$$/#define CONFIG_\1_MODULE 1/p' \
	       -e 's/^CONFIG_\([A-Za-z0-9_]*\)=\(.*\)$$/#define CONFIG_\1 \2/p' \
	       $(objtree)/.config > $(objtree)/include/generated/autoconf.h
	$(HOSTCC) -o $(objtree)/scripts/mod/modpost $(srctree)/scripts/mod/modpost.c

ifneq ($(M),)
modobj := $(if $(filter /%,$(M)),$(M),$(objtree)/$(M))
modsrc := $(if $(filter /%,$(M)),$(M),$(srctree)/$(M))
modules: outputmakefile
	@test -f $(objtree)/include/generated/autoconf.h -a -x $(objtree)/scripts/mod/modpost || { \
		echo >&2 "ERROR: Kernel configuration is invalid."; \
		echo >&2 "         include/generated/autoconf.h or include/config/auto.conf are missing."; \
		echo >&2 "         Run 'make oldconfig && make prepare' on kernel src to fix it."; exit 1; }
	@mkdir -p $(modobj)
	@while read name symbol; do \
		if grep -qx "CONFIG_$$symbol=m" $(objtree)/.config; then \
			echo "  CC [M]  $(M)/$$name.o"; \
			$(CC) -include $(objtree)/include/generated/autoconf.h -c $(modsrc)/$$name.c -o $(modobj)/$$name.o || exit 1; \
			echo "  LD [M]  $(M)/$$name.ko"; \
			ld -r -o $(modobj)/$$name.ko $(modobj)/$$name.o || exit 1; \
		fi; \
	done < $(modsrc)/modules.list
	@echo "  MODPOST $(M)/Module.symvers"
	@test -f $(objtree)/Module.symvers || { \
		echo >&2 "WARNING: Module.symvers is missing."; \
		echo >&2 "         Modules may not have dependencies or modversions."; }
	@$(objtree)/scripts/mod/modpost > $(modobj)/Module.symvers
else
modules:
	@echo >&2 "this miniature builds external modules only (M=dir)"; exit 2
endif

kernelrelease kernelversion:
	@echo $(VERSION).$(PATCHLEVEL).$(SUBLEVEL)$(EXTRAVERSION)

mrproper:
	rm -rf .config include/config arch/x86/include/generated
"##;

/// `olddefconfig` of the miniature: one pass of Kconfig's rules that matter to the flows.
const CONF_SH: &str = r##"#!/bin/sh
# Resolve a .config like Kconfig's olddefconfig, for the few symbols this tree has:
# - without CONFIG_MODULES=y no tristate can be =m (it is dropped, as KVM would be);
# - KVM_INTEL and KVM_AMD depend on KVM, and KVM on VIRTUALIZATION;
# - a symbol this tree knows but the file lacks gets its default.
set -e
config=$1
tmp=$config.tmp
modules=n
grep -qx 'CONFIG_MODULES=y' "$config" && modules=y
virt=n
grep -qx 'CONFIG_VIRTUALIZATION=y' "$config" && virt=y
awk -v modules=$modules -v virt=$virt '
	/^CONFIG_[A-Za-z0-9_]*=m$/ && modules != "y" { sub(/=m$/, ""); print "# " $0 " is not set"; next }
	/^CONFIG_KVM=/ && virt != "y" { print "# CONFIG_KVM is not set"; next }
	{ print }
' "$config" > "$tmp"
kvm=$(sed -n 's/^CONFIG_KVM=\(.*\)$/\1/p' "$tmp")
if [ -z "$kvm" ]; then
	sed -e 's/^CONFIG_KVM_INTEL=.*/# CONFIG_KVM_INTEL is not set/' \
	    -e 's/^CONFIG_KVM_AMD=.*/# CONFIG_KVM_AMD is not set/' "$tmp" > "$tmp.2"
	mv "$tmp.2" "$tmp"
fi
grep -q '^CONFIG_64BIT=' "$tmp" || echo 'CONFIG_64BIT=y' >> "$tmp"
grep -q 'CONFIG_MINI_DEFAULT[= ]' "$tmp" || echo 'CONFIG_MINI_DEFAULT=y' >> "$tmp"
mv "$tmp" "$config"
echo "#"
echo "# configuration written to .config"
echo "#"
"##;

const KCONFIG: &str = "mainmenu \"Miniature Linux\"\n\nconfig 64BIT\n\tbool \"64-bit kernel\"\n\tdefault y\n\nconfig MODULES\n\tbool \"Enable loadable module support\"\n\tmodules\n\nconfig MINI_DEFAULT\n\tbool\n\tdefault y\n\nsource \"arch/x86/kvm/Kconfig\"\n";

const KVM_KCONFIG: &str = "menuconfig VIRTUALIZATION\n\tbool \"Virtualization\"\n\nconfig KVM\n\ttristate \"Kernel-based Virtual Machine (KVM) support\"\n\tdepends on VIRTUALIZATION\n\nconfig KVM_INTEL\n\ttristate \"KVM for Intel processors support\"\n\tdepends on KVM\n\nconfig KVM_AMD\n\ttristate \"KVM for AMD processors support\"\n\tdepends on KVM\n";

fn module_c(symbol: &str, name: &str) -> String {
    format!(
        "#ifndef CONFIG_{symbol}_MODULE\n#error \"CONFIG_{symbol} is not =m in include/generated/autoconf.h\"\n#endif\n\
         int {}_init(void) {{ return CONFIG_64BIT - 1; }}\n",
        name.replace('-', "_")
    )
}

/// Write the Linux-like tree under `root`.
pub fn write_kernel_tree(root: &Path) {
    write_tree(
        root,
        &[
            ("Makefile", KERNEL_MAKEFILE, false),
            ("Kconfig", KCONFIG, false),
            ("arch/x86/Kconfig", "config X86\n\tdef_bool y\n", false),
            ("arch/x86/kvm/Kconfig", KVM_KCONFIG, false),
            (
                "arch/x86/configs/x86_64_defconfig",
                "CONFIG_64BIT=y\nCONFIG_MODULES=y\nCONFIG_VIRTUALIZATION=y\n",
                false,
            ),
            ("scripts/kconfig/conf.sh", CONF_SH, true),
            (
                "scripts/kconfig/merge_config.sh",
                "#!/bin/sh\necho merge_config.sh is not part of the miniature >&2\nexit 1\n",
                true,
            ),
            (
                "scripts/mod/modpost.c",
                "#include <stdio.h>\nint main(void) { puts(\"# Module.symvers of the miniature\"); return 0; }\n",
                false,
            ),
            (
                "arch/x86/kvm/modules.list",
                "kvm KVM\nkvm-intel KVM_INTEL\nkvm-amd KVM_AMD\n",
                false,
            ),
            ("arch/x86/kvm/kvm.c", &module_c("KVM", "kvm"), false),
            (
                "arch/x86/kvm/kvm-intel.c",
                &module_c("KVM_INTEL", "kvm-intel"),
                false,
            ),
            (
                "arch/x86/kvm/kvm-amd.c",
                &module_c("KVM_AMD", "kvm-amd"),
                false,
            ),
        ],
    );
}

/// A running kernel's config as on this machine: modules off, KVM built in, no vendor modules.
pub const BASE_CONFIG_MODULES_OFF: &str = "#\n# Automatically generated file; DO NOT EDIT.\n#\nCONFIG_64BIT=y\n# CONFIG_MODULES is not set\nCONFIG_VIRTUALIZATION=y\nCONFIG_KVM=y\n# CONFIG_KVM_INTEL is not set\n# CONFIG_KVM_AMD is not set\n";

/// kvm-snapshot's `configure`: `--qemu-cc`, `--cc`, `--kerneldir`, `--prefix`, and refuses a
/// kernel directory that was not prepared.
const USERLAND_CONFIGURE: &str = r##"#!/bin/sh
# A miniature of kvm-snapshot-20080117's configure.
qemu_cc=
cc=cc
kerneldir=
prefix=/usr/local
for opt in "$@"; do
	case "$opt" in
	--qemu-cc=*) qemu_cc=${opt#*=} ;;
	--cc=*) cc=${opt#*=} ;;
	--kerneldir=*) kerneldir=${opt#*=} ;;
	--prefix=*) prefix=${opt#*=} ;;
	*) echo "configure: error: unknown option $opt" >&2; exit 1 ;;
	esac
done
[ -n "$qemu_cc" ] || qemu_cc=$cc
command -v "$qemu_cc" > /dev/null || { echo "configure: error: C compiler $qemu_cc not found" >&2; exit 1; }
if [ ! -f "$kerneldir/include/generated/autoconf.h" ]; then
	echo "configure: error: $kerneldir is not a prepared kernel tree (run make prepare there)" >&2
	exit 1
fi
printf 'QEMU_CC=%s\nKERNELDIR=%s\nPREFIX=%s\n' "$qemu_cc" "$kerneldir" "$prefix" > config.mak
echo "Install prefix    $prefix"
echo "qemu compiler     $qemu_cc"
echo "kernel dir        $kerneldir"
"##;

const USERLAND_MAKEFILE: &str = "include config.mak\n\nall: qemu-kvm\n\nqemu-kvm: qemu.c\n\t$(QEMU_CC) -include $(KERNELDIR)/include/generated/autoconf.h -o $@ qemu.c\n\ninstall: all\n\tinstall -D -m 755 qemu-kvm $(DESTDIR)$(PREFIX)/bin/qemu-kvm\n";

const USERLAND_QEMU_C: &str = "#include <stdio.h>\n#ifndef CONFIG_KVM_MODULE\n#error \"the kernel tree was not configured with KVM as a module\"\n#endif\nint main(void) { printf(\"qemu-kvm built by %s\\n\", __VERSION__); return 0; }\n";

/// Write the kvm-snapshot-like userland under `root`.
pub fn write_userland_tree(root: &Path) {
    write_tree(
        root,
        &[
            ("configure", USERLAND_CONFIGURE, true),
            ("Makefile", USERLAND_MAKEFILE, false),
            ("qemu.c", USERLAND_QEMU_C, false),
        ],
    );
}

/// The top Makefile of a Xen-3.2-like tree: `prep-kernels` asks `select-repository` for
/// `linux-2.6.18-xen.hg` in `LINUX_SRC_PATH` (`.:..`, `.` ignored, `.hg` required) and makes
/// `build-linux-2.6.18-xen_<arch>/` through the kernel's `O=` (so the kernel's cleanliness
/// check runs); `dist` builds the hypervisor and the kernel from that build directory's
/// `.config`; `world` runs `clean` and `kdelete` first, as Xen 3.2's does.
///
/// The architecture follows Xen 3.2's Config.mk, `config/<arch>.mk` and
/// `buildconfigs/select-linux-arch`: XEN_TARGET_ARCH defaults to the host's (`uname -m`, so
/// x86_64 on an x86_64 host, whatever the HOWTO's 32-bit machine made), x86_32 adds `-m32`, and
/// the kernel gets ARCH=i386 or x86_64 from it.
const XEN32_MAKEFILE: &str = r##"# A miniature of Xen 3.2's top Makefile, Config.mk and buildconfigs/mk.linux-2.6-xen.
XEN_COMPILE_ARCH ?= $(shell uname -m | sed -e s/i.86/x86_32/ -e s/i86pc/x86_32/ -e s/amd64/x86_64/)
XEN_TARGET_ARCH ?= $(XEN_COMPILE_ARCH)
include config/$(XEN_TARGET_ARCH).mk
LINUX_SRC_PATH ?= .:..
XEN_LINUX_HGREPO ?= http://xenbits.xensource.com/linux-2.6.18-xen.hg
LINUX_VER := 2.6.18-xen
LINUX_DIR := build-linux-$(LINUX_VER)_$(XEN_TARGET_ARCH)
export XEN_TARGET_ARCH

.PHONY: prep-kernels dist xen kernels world clean kdelete

prep-kernels:
	@repo=$$(sh buildconfigs/select-repository linux-$(LINUX_VER).hg '$(LINUX_SRC_PATH)') || { \
		echo >&2 "select-repository: no linux-$(LINUX_VER).hg checkout in $(LINUX_SRC_PATH); would clone $(XEN_LINUX_HGREPO) (the miniature has no network)"; \
		exit 1; }; \
	echo "using the kernel checkout $$repo"; \
	$(MAKE) -C "$$repo" ARCH=$$(sh buildconfigs/select-linux-arch "$$repo") O=$(CURDIR)/$(LINUX_DIR) outputmakefile && \
	echo "$$repo" > $(LINUX_DIR)/.linux-src

xen:
	mkdir -p dist/install/boot
	$(CC) $(CFLAGS) -c -o xen/xen.o xen/xen.c
	gzip -9n -c xen/xen.o > dist/install/boot/xen-3.2.0.gz
	ln -sf xen-3.2.0.gz dist/install/boot/xen.gz

kernels:
	@test -f $(LINUX_DIR)/.config || { echo >&2 "*** no .config in $(LINUX_DIR): run make prep-kernels and install one"; exit 1; }
	repo=$$(cat $(LINUX_DIR)/.linux-src); \
	$(MAKE) -C $$repo ARCH=$$(sh buildconfigs/select-linux-arch $$repo) O=$(CURDIR)/$(LINUX_DIR) vmlinuz
	mkdir -p dist/install/boot
	cp $(LINUX_DIR)/vmlinuz dist/install/boot/vmlinuz-2.6.18-xen

dist: xen kernels

clean:
	rm -rf dist xen/*.o

kdelete:
	rm -rf build-linux-*

world:
	$(MAKE) clean
	$(MAKE) kdelete
	$(MAKE) prep-kernels
	$(MAKE) dist
"##;

const SELECT_REPOSITORY: &str = r##"#!/bin/sh
# usage: select-repository NAME SEARCHPATH
# As Xen 3.2's: "." is ignored, and only a directory holding .hg is accepted.
name=$1
IFS=:
for dir in $2; do
	[ "$dir" = "." ] && continue
	if [ -d "$dir/$name/.hg" ]; then
		cd "$dir/$name" && pwd
		exit 0
	fi
done
exit 1
"##;

/// As Xen 3.2's: the kernel's ARCH for XEN_TARGET_ARCH (2.6.18 has no arch/x86 yet).
const SELECT_LINUX_ARCH: &str = r##"#!/bin/sh
# usage: select-linux-arch LINUX_SRCDIR   (XEN_TARGET_ARCH in the environment)
case "$XEN_TARGET_ARCH" in
	x86_32|x86_64)
		if [ -d "$1/arch/x86" ]; then ARCH=x86
		elif [ "$XEN_TARGET_ARCH" = x86_32 ]; then ARCH=i386
		else ARCH=x86_64
		fi ;;
	*) ARCH=$XEN_TARGET_ARCH ;;
esac
echo "select-linux-arch: $ARCH" >&2
echo "$ARCH"
"##;

/// Write the Xen-3.2-like tree under `root`.
pub fn write_xen32_tree(root: &Path) {
    write_tree(
        root,
        &[
            ("Makefile", XEN32_MAKEFILE, false),
            ("buildconfigs/select-repository", SELECT_REPOSITORY, true),
            ("buildconfigs/select-linux-arch", SELECT_LINUX_ARCH, true),
            ("config/x86_32.mk", "CFLAGS += -m32 -march=i686\n", false),
            ("config/x86_64.mk", "CFLAGS += -m64\n", false),
            ("xen/xen.c", "int xen_start(void) { return 0; }\n", false),
        ],
    );
}

/// The top Makefile of the xenified 2.6.18 kernel: `O=` refuses a tree holding `.config` or
/// `include/config` (with 2.6.18's message); `vmlinuz` builds from the build directory's
/// `.config`, which must enable `CONFIG_XEN`.
const LINUX_2618_MAKEFILE: &str = r##"VERSION = 2
PATCHLEVEL = 6
SUBLEVEL = 18
EXTRAVERSION = -xen
NAME=Avast! A bilge rat!

SUBARCH := $(shell uname -m | sed -e s/i.86/i386/ -e s/sun4u/sparc64/)
ARCH ?= $(SUBARCH)
srctree := $(CURDIR)
objtree := $(if $(O),$(O),$(CURDIR))
# arch/i386/Makefile: a biarch compiler builds 32-bit code with -m32.
CFLAGS-i386 := -m32
CFLAGS-x86_64 := -m64

.PHONY: outputmakefile vmlinuz mrproper

outputmakefile:
	@test -d $(srctree)/arch/$(ARCH) || { echo >&2 "no arch/$(ARCH) in this tree (ARCH=$(ARCH))"; exit 1; }
ifneq ($(O),)
	@if test -f $(srctree)/.config -o -d $(srctree)/include/config; then \
		echo "  $(srctree) is not clean, please run 'make mrproper'"; \
		echo "  in the '$(srctree)' directory."; \
		/bin/false; \
	fi
	@mkdir -p $(objtree)
endif

vmlinuz: outputmakefile
	@test -f $(objtree)/.config || { echo >&2 "no .config in $(objtree)"; exit 1; }
	sed -n 's/^CONFIG_\([A-Za-z0-9_]*\)=y$$/#define CONFIG_\1 1/p' $(objtree)/.config > $(objtree)/autoconf.h
	$(CC) $(CFLAGS-$(ARCH)) -include $(objtree)/autoconf.h -c -o $(objtree)/vmlinux.o $(srctree)/init/main.c
	gzip -9n -c $(objtree)/vmlinux.o > $(objtree)/vmlinuz

mrproper:
	rm -rf .config include/config
"##;

/// Write the xenified kernel's files under `root` (a Mercurial working directory).
pub fn write_linux_2618_xen_tree(root: &Path) {
    write_tree(
        root,
        &[
            ("Makefile", LINUX_2618_MAKEFILE, false),
            (
                "init/main.c",
                "#ifndef CONFIG_XEN\n#error \"the .config in the build directory does not enable CONFIG_XEN\"\n#endif\nint start_kernel(void) { return 0; }\n",
                false,
            ),
            (
                "arch/i386/Kconfig",
                "config X86_32\n\tdef_bool y\n\nconfig XEN\n\tbool \"Xen\"\n",
                false,
            ),
            (
                "arch/x86_64/Kconfig",
                "config X86_64\n\tdef_bool y\n\nconfig XEN\n\tbool \"Xen\"\n",
                false,
            ),
        ],
    );
}

/// A Xen-4.x-like tree: `make dist-xen` builds `dist/install/boot/xen-4.17.0.gz` (and the
/// `xen.gz` link) without `./configure`.
pub fn write_xen4_tree(root: &Path) {
    write_tree(
        root,
        &[
            (
                "Makefile",
                "# A miniature of Xen 4.17's top Makefile.\n.PHONY: dist-xen world\n\ndist-xen:\n\tmkdir -p dist/install/boot\n\t$(CC) -c -o xen/xen.o xen/xen.c\n\tgzip -9n -c xen/xen.o > dist/install/boot/xen-4.17.0.gz\n\tln -sf xen-4.17.0.gz dist/install/boot/xen.gz\n\nworld:\n\trm -rf dist\n",
                false,
            ),
            ("xen/xen.c", "int xen_start(void) { return 4; }\n", false),
        ],
    );
}
