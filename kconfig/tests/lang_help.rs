//! Help text ends by indentation, never by a keyword inside it: lines starting with `if`,
//! `depends on`, `config`, `endmenu`, `source` stay help; checked against the kernel's own `conf`.

mod common;

use common::{check_all, tree};

#[test]
fn keywords_inside_help_text() {
    let t = tree(&[(
        "Kconfig",
        "
menu \"Help text\"

config WITH_HELP
\tbool \"with help\"
\tdefault y
\thelp
\t  if you have one of these machines, say Y.
\t  depends on nothing at all: this line is help.
\t  config NOT_A_SYMBOL
\t  endmenu

\t  source \"does-not-exist/Kconfig\"
\t    select MORE_INDENTED
\t  endif

config AFTER_HELP
\ttristate \"after help\"
\tdepends on WITH_HELP
\thelp
  Help indented with spaces only,
     and a deeper line.
\tendif is still help here (a tab is deeper than two spaces)

config NO_BLANK_LINE
\tbool \"help ends at the first less indented line\"
\thelp
\t  one line
config DIRECTLY_AFTER
\tbool \"directly after\"
\tdefault y
\thelp

config EMPTY_HELP_THEN_ENTRY
\tbool \"empty help\"
\tdepends on DIRECTLY_AFTER
\tdefault y

endmenu
",
    )]);
    check_all(&t, &[]);
}
