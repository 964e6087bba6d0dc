//! The `gcc_asm` example's frame analysis, proven on the HOWTO's published GCC 3.4.6 and 4.2.1
//! listings and on what the installed compilers emit today.

#[path = "../../examples/gcc_asm/frame.rs"]
mod frame;

use frame::{ArgPassing, analyse};

#[test]
fn gcc_3_4_6_reserves_24_pushes_and_passes_the_whole_24_byte_buffer() {
    let f = analyse(frame::HOWTO_GCC_3_4_6, "function").unwrap();
    assert_eq!(f.word, 4);
    assert!(f.frame_pointer);
    assert_eq!(f.reserved, Some(24));
    assert_eq!(f.extra_reserved, [8], "the HOWTO's \"unused 8 bytes\"");
    assert_eq!(f.args, ArgPassing::Push);
    let buf = f.buf.unwrap();
    assert_eq!(buf.operand, "-24(%ebp)");
    assert!(buf.base_is_frame_pointer);
    assert_eq!(buf.from_entry, Some(-28));
    assert_eq!(buf.offset_from_classic_frame_pointer(4), Some(-24));
    assert!(!f.stack_protector);
}

#[test]
fn gcc_4_2_1_reserves_24_and_fake_pushes_a_16_byte_buffer() {
    let f = analyse(frame::HOWTO_GCC_4_2_1, "function").unwrap();
    assert_eq!(f.reserved, Some(24));
    assert!(f.extra_reserved.is_empty());
    assert_eq!(f.args, ArgPassing::FakePush);
    let buf = f.buf.unwrap();
    assert_eq!(buf.operand, "-16(%ebp)");
    assert_eq!(buf.offset_from_classic_frame_pointer(4), Some(-16));
    assert!(!f.stack_protector);
}

#[test]
fn missing_function_is_an_error() {
    assert!(analyse(frame::HOWTO_GCC_4_2_1, "main").is_err());
}

#[test]
fn a_removed_strcpy_and_a_stack_protector_are_recognised() {
    // clang -S -O -m32 (14.0.6): buf is never read, so the copy is gone.
    let clang = "function:                               # @function\n# %bb.0:\n\txorl\t%eax, %eax\n\tcmpl\t$2, 4(%esp)\n\tsetge\t%al\n\tretl\n.Lfunc_end0:\n";
    let f = analyse(clang, "function").unwrap();
    assert_eq!(f.args, ArgPassing::NoCall);
    assert_eq!(f.reserved, None);
    assert!(f.buf.is_none());
    // gcc -S -O -m32 -fstack-protector-all (12.2.0, abridged).
    let protected = "function:\n\tsubl\t$40, %esp\n\tmovl\t%gs:20, %eax\n\tmovl\t%eax, 28(%esp)\n\txorl\t%eax, %eax\n\tsubl\t$8, %esp\n\tpushl\t4(%edx)\n\tleal\t20(%esp), %eax\n\tpushl\t%eax\n\tcall\tstrcpy\n\tcall\t__stack_chk_fail\n";
    let f = analyse(protected, "function").unwrap();
    assert!(f.stack_protector);
    assert_eq!(f.args, ArgPassing::Push);
    assert_eq!(f.buf.unwrap().from_entry, Some(-40 - 8 - 4 + 20));
}

#[test]
fn the_installed_gcc_12_frame_matches_what_its_assembly_says() {
    let gcc = kforge_toolchain::Compiler::identify("gcc-12")
        .expect("gcc-12 is not installed: run scripts/install-deps test (apt-get install gcc-12 gcc-multilib)");
    let source = "char *strcpy(char *, const char *);\nint function(int ac, char *av[])\n{\n\tchar buf[16];\n\tif (ac < 2)\n\t\treturn 0;\n\tstrcpy(buf, av[1]);\n\treturn 1;\n}\n";
    let asm = gcc
        .compile_to_asm(source, &["-O", "-m32", "-fno-stack-protector"])
        .unwrap();
    let f = analyse(&asm, "function").unwrap();
    assert_eq!(f.word, 4);
    assert_ne!(f.args, ArgPassing::NoCall, "{asm}");
    let buf = f.buf.expect("buf found");
    // The 16-byte buf must lie inside the frame: below the return address, above the stack
    // pointer at the call.
    let entry = buf.from_entry.expect("offset known");
    assert!(entry <= -16, "{entry} {asm}");
    assert!(!f.stack_protector);
    let asm = gcc
        .compile_to_asm(source, &["-O", "-m32", "-fstack-protector-all"])
        .unwrap();
    assert!(analyse(&asm, "function").unwrap().stack_protector, "{asm}");
    let asm = gcc.compile_to_asm(source, &["-O"]).unwrap();
    let f = analyse(&asm, "function").unwrap();
    assert_eq!(f.args, ArgPassing::Registers);
    assert_eq!(f.word, 8);
}
