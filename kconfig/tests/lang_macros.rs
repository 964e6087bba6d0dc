//! The macro language (Linux 4.18+): `:=`, `=` and `+=` variables, `$(shell,…)`, `$(if,…)`,
//! user functions, `$(filename)`, `$(lineno)`, `$(info,…)`, `$(warning-if,…)`, environment
//! variables, expansion in prompts, defaults, `source` paths and symbol names; checked against the
//! kernel's own `conf`.

mod common;

use common::{check, check_all, oracle::Op, tree};

#[test]
fn variables_and_builtin_functions() {
    let t = tree(&[
        (
            "Kconfig",
            r#"
mainmenu "Macros for $(ARCH) $(KERNELVERSION)"

first := $(shell,echo first)
immediate := $(first)
deferred = $(immediate)-deferred
immediate := $(first)-changed
list := a
list += b c
empty :=
empty += x
fn-twice = $(1)$(1)
success = $(shell,{ $(1); } >/dev/null 2>&1 && echo y || echo n)
kver-ok := $(success,test -n "$(KERNELVERSION)")
where = $(filename):$(lineno)

$(info,info from Kconfig: $(list))
$(warning-if,y,a warning from $(filename))
$(warning-if,n,never printed)

config IMMEDIATE
	string "immediate"
	default "$(immediate)"

config DEFERRED
	string "deferred"
	default "$(deferred)"

config LIST
	string "list"
	default "$(list) / $(empty)"

config FN
	string "user function"
	default "$(fn-twice,ab) $(fn-twice,) $(fn-twice,$(fn-twice,c))"

config SHELL_NUMBER
	int "a number from the shell"
	default $(shell,expr 6 \* 7)

config SUCCESS
	def_bool $(success,true)

config FAILURE
	def_bool $(success,false)

config KVER_OK
	def_bool $(kver-ok)

config WHERE
	string "where"
	default "$(where) $(filename):$(lineno)"

config ENV_ARCH_$(ARCH)
	bool "symbol name from the environment"
	default y

config MULTILINE_SHELL
	string
	default "$(shell,printf 'a\nb\n')"

source "sub/$(ARCH)/Kconfig"
"#,
        ),
        (
            "sub/x86/Kconfig",
            r#"
config IN_SUB
	string "set in a sourced file"
	default "$(filename) line $(lineno)"
"#,
        ),
    ]);
    let env = [("ARCH", "x86"), ("KERNELVERSION", "6.1.0")];
    check_all(&t, &env);
    let run = check(&t, &Op::OldDefconfig, None, &env);
    assert!(
        run.stderr.contains("a warning from Kconfig"),
        "conf printed the warning: {}",
        run.stderr
    );
}

#[test]
fn shell_probes_see_the_environment() {
    let t = tree(&[(
        "Kconfig",
        r#"
cc-option = $(success,$(CC) -Werror $(1) -E -x c /dev/null -o /dev/null)
success = $(shell,{ $(1); } >/dev/null 2>&1 && echo y || echo n)

config CC_IS_GCC
	def_bool $(success,$(CC) --version | head -n1 | grep -q gcc)

config CC_HAS_WALL
	def_bool $(cc-option,-Wall)

config CC_HAS_BOGUS
	def_bool $(cc-option,-fno-such-option-at-all)

config CC_VERSION
	string
	default "$(shell,$(CC) -dumpversion)"
"#,
    )]);
    check_all(&t, &[("CC", "gcc")]);
}

/// Linux 6.1's macro language has no `if` function: `$(if,…)` is an undefined variable there and
/// expands to nothing.
#[test]
fn if_is_not_a_function_in_linux_6_1() {
    let t = tree(&[(
        "Kconfig",
        r#"
cond-yes = $(if,$(1),yes,no)

config FN
	string "if"
	default "[$(cond-yes,)] [$(cond-yes,z)] [$(if,a,b,c)]"
"#,
    )]);
    check(&t, &Op::AllDef, None, &[]);
}
