//! How `.config` and `savedefconfig` are written: the header with the main menu prompt, menu
//! comments and `# end of …` lines, `comment` entries, symbols without prompts, `MODULES` as
//! the modules symbol (the `modules` keyword), `m` rewritten when modules are off, and the
//! minimal defconfig; checked against the kernel's own `conf`.

mod common;

use common::{check, check_all, oracle::Op, tree};

const TREE: &str = r#"
mainmenu "Output of $(PRODUCT)"

config MODULES
	bool "Enable loadable module support"
	modules
	default y

menu "General"

config LOCALVERSION
	string "Local version"

comment "Comment at the top of General"

config SWAP
	bool "Swap"
	default y

menu "Empty menu"
endmenu

menu "Menu with only hidden symbols"
config HIDDEN_ONE
	bool
endmenu

config INVISIBLE_WITH_DEFAULT
	bool
	default y

config TRI
	tristate "tristate"
	default m

config TRI_Y
	tristate "tristate y"
	default y

config DEP_ON_TRI
	tristate "depends on TRI"
	depends on TRI
	default y

endmenu

menuconfig NET
	bool "Networking"
	default y

if NET

config INET
	bool "TCP/IP"
	default y

menu "Net options"
	depends on INET

config IPV6
	tristate "IPv6"
	default m

endmenu

endif

comment "Comment depending on NET"
	depends on NET

config LAST
	int "Last"
	default 1
"#;

#[test]
fn config_layout_and_defconfig() {
    let t = tree(&[("Kconfig", TREE)]);
    let env = [("PRODUCT", "kforge tests")];
    check_all(&t, &env);
    for input in [
        "# CONFIG_MODULES is not set\n",
        "# CONFIG_NET is not set\nCONFIG_TRI=y\n",
        "CONFIG_LOCALVERSION=\"-test\"\nCONFIG_IPV6=y\nCONFIG_LAST=1\n",
    ] {
        check(&t, &Op::OldDefconfig, Some(input), &env);
        check(&t, &Op::SaveDefconfig, Some(input), &env);
    }
}

#[test]
fn no_mainmenu_and_no_modules_symbol() {
    let t = tree(&[(
        "Kconfig",
        r#"
config TRI
	tristate "tristate without a modules symbol"
	default m

config B
	bool "b"
	default TRI
"#,
    )]);
    check_all(&t, &[]);
}
