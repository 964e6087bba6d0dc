//! int, hex and string symbols: defaults, ranges (clamping, ranges from symbols), user values
//! that are invalid or out of range, string escaping; checked against the kernel's own `conf`.

mod common;

use common::{check, check_all, oracle::Op, tree};

const TREE: &str = r#"
config BASE
	int "base"
	default 10

config IN_RANGE
	int "in range"
	range 1 100
	default 50

config CLAMPED_DEFAULT
	int "default above the range"
	range 1 8
	default 64

config RANGE_FROM_SYMBOL
	int "range up to BASE"
	range 0 BASE
	default 12

config COND_RANGE
	int "conditional range"
	range 1 4 if SMALL
	range 1 1000
	default 500

config SMALL
	bool "small"

config NEG
	int "negative"
	range -10 10
	default -3

config ADDR
	hex "address"
	default 0x1000000

config ADDR_NO_PREFIX
	hex "hex without prefix"
	default 1f

config HEX_RANGE
	hex "hex range"
	range 0x10 0xff
	default 0x200

config NAME
	string "name"
	default "quote \" and backslash \\ inside"

config EMPTY
	string "empty"

config FROM_OTHER
	string
	default NAME

config INT_FROM_SYM
	int
	default BASE

config HIDDEN_INT
	int
	depends on SMALL
	default 3
"#;

#[test]
fn defaults_and_ranges() {
    let t = tree(&[("Kconfig", TREE)]);
    check_all(&t, &[]);
}

#[test]
fn user_values_in_and_out_of_range_and_invalid() {
    let t = tree(&[("Kconfig", TREE)]);
    let inputs = [
        "CONFIG_IN_RANGE=7\nCONFIG_NEG=-10\nCONFIG_ADDR=0xdead\nCONFIG_NAME=\"x\\\"y\"\n",
        "CONFIG_IN_RANGE=1000\nCONFIG_RANGE_FROM_SYMBOL=11\nCONFIG_BASE=5\n",
        "CONFIG_IN_RANGE=abc\nCONFIG_ADDR=zz\nCONFIG_SMALL=y\nCONFIG_COND_RANGE=5\n",
        "CONFIG_ADDR=1234\nCONFIG_HEX_RANGE=0x20\nCONFIG_EMPTY=\"\"\nCONFIG_SMALL=maybe\n",
        "CONFIG_UNKNOWN=y\nCONFIG_NAME=unquoted\nCONFIG_HIDDEN_INT=9\n# CONFIG_IN_RANGE is not set\n",
    ];
    for input in inputs {
        check(&t, &Op::OldDefconfig, Some(input), &[]);
        check(&t, &Op::SaveDefconfig, Some(input), &[]);
    }
}

#[test]
fn defconfig_files() {
    let t = tree(&[("Kconfig", TREE)]);
    check(
        &t,
        &Op::Defconfig("CONFIG_SMALL=y\nCONFIG_IN_RANGE=99\n".into()),
        None,
        &[],
    );
    check(
        &t,
        &Op::Defconfig("CONFIG_HEX_RANGE=0x1\n".into()),
        None,
        &[],
    );
}
