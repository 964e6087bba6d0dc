//! Reading the stack frame of the HOWTO's `function()` out of x86 assembly (AT&T syntax, as
//! `gcc -S` and `clang -S` print it): how much the prologue reserves, where `buf` lives, how the
//! arguments of `strcpy` are passed, and whether a stack protector guards the frame.
//!
//! The analysis follows the instructions in program order up to the `strcpy` call, tracking the
//! stack pointer relative to its value at entry (where the return address sits), the frame
//! pointer once `mov %esp, %ebp` sets it, the addresses registers hold, and the stack slots that
//! `push` or `mov …, N(%esp)` fill.

use std::collections::HashMap;
use std::fmt;

/// The GCC 3.4.6 listing of `function()` from the HOWTO (comments as published).
pub const HOWTO_GCC_3_4_6: &str = "function:
pushl %ebp
movl %esp, %ebp
subl $24, %esp /* Alloc a 24 bytes buffer */
movl $0, %eax
cmpl $1, 8(%ebp)
jle .L1
subl $8, %esp /* Alloc an unused 8 bytes */
/* buffer */
movl 12(%ebp), %eax
pushl 4(%eax)
leal -24(%ebp), %eax /* The 24 bytes buffer is */
/* used for strcpy() */
pushl %eax
call strcpy
movl $1, %eax
.L1:
leave
ret
";

/// The GCC 4.2.1 listing of `function()` from the HOWTO (comments as published).
pub const HOWTO_GCC_4_2_1: &str = "function:
pushl %ebp
movl %esp, %ebp
subl $24, %esp /* Alloc a 24 bytes buffer */
movl $0, %eax
cmpl $1, 8(%ebp)
jle .L4
movl 12(%ebp), %edx
movl 4(%edx), %eax
movl %eax, 4(%esp) /* Fake push */
leal -16(%ebp), %eax /* A 16 bytes buffer is */
/* used for strcpy() */
movl %eax, (%esp) /* Fake push */
call strcpy
movl $1, %eax
.L4:
leave
ret
";

/// How the arguments of `strcpy` reach it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgPassing {
    /// `push` instructions (GCC 2.95, 3.4).
    Push,
    /// Stored relative to the stack pointer into space reserved by the prologue (GCC 4.x):
    /// the HOWTO's "fake push".
    FakePush,
    /// In registers (x86-64 System V: `%rdi`, `%rsi`).
    Registers,
    /// There is no call to `strcpy`: the compiler removed it (`buf` is never read, so the copy
    /// is a dead store).
    NoCall,
}

impl fmt::Display for ArgPassing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ArgPassing::Push => "push",
            ArgPassing::FakePush => "fake push (mov to N(%esp))",
            ArgPassing::Registers => "registers (%rdi, %rsi)",
            ArgPassing::NoCall => "no call: strcpy removed",
        })
    }
}

/// Where `buf` (the first argument of `strcpy`) lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BufLocation {
    /// The address as the code writes it: `-24(%ebp)`, `12(%esp)`, `(%rsp)`.
    pub operand: String,
    /// The register it is relative to: `%ebp`, `%esp`, `%rsp`.
    pub base: String,
    /// Whether `base` is the frame pointer (set up by `mov %esp, %ebp`).
    pub base_is_frame_pointer: bool,
    /// Its offset from the stack pointer at entry (the return address slot), when known.
    pub from_entry: Option<i64>,
}

impl BufLocation {
    /// Its offset from where a classic frame pointer (`push %ebp; mov %esp, %ebp`) would point:
    /// one word below the return address. Equal to the `%ebp` offset when there is a frame pointer.
    pub fn offset_from_classic_frame_pointer(&self, word: i64) -> Option<i64> {
        self.from_entry.map(|e| e + word)
    }
}

/// What the analysis found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// 4 for i386 code, 8 for x86-64.
    pub word: i64,
    /// The first `sub $N, %esp`/`%rsp`: what the prologue reserves.
    pub reserved: Option<i64>,
    /// Later `sub $N` before the call (GCC 3.4's "unused 8 bytes").
    pub extra_reserved: Vec<i64>,
    /// Whether a frame pointer is set up (`mov %esp, %ebp`).
    pub frame_pointer: bool,
    /// Where `buf` lives (`None` when there is no `strcpy` call).
    pub buf: Option<BufLocation>,
    /// How the arguments reach `strcpy`.
    pub args: ArgPassing,
    /// Whether the frame is guarded by a stack protector (`__stack_chk_fail`, `%gs:20`, `%fs:40`).
    pub stack_protector: bool,
}

/// Why a listing could not be analysed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// The function's label is not in the listing.
    NoFunction(String),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::NoFunction(name) => write!(f, "no label `{name}:` in the assembly"),
        }
    }
}

/// One instruction: mnemonic and operands (AT&T order: source first).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Insn {
    mnemonic: String,
    operands: Vec<String>,
    text: String,
}

/// Remove `/* … */` (possibly spanning lines) and `#` comments.
fn strip_comments(asm: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_block = false;
    for line in asm.lines() {
        let mut kept = String::new();
        let mut rest = line;
        loop {
            if in_block {
                match rest.find("*/") {
                    Some(end) => {
                        rest = &rest[end + 2..];
                        in_block = false;
                    }
                    None => break,
                }
            } else {
                match rest.find("/*") {
                    Some(start) => {
                        kept.push_str(&rest[..start]);
                        rest = &rest[start + 2..];
                        in_block = true;
                    }
                    None => {
                        kept.push_str(rest);
                        break;
                    }
                }
            }
        }
        if let Some(hash) = kept.find('#') {
            kept.truncate(hash);
        }
        out.push(kept.trim().to_string());
    }
    out
}

/// Split operands at commas outside parentheses.
fn split_operands(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0;
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(cur.trim().to_string());
                cur.clear();
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}

/// The instructions of `function`, from its label to its end (`.cfi_endproc`, `.size`, the next
/// global label, or the end of the listing).
fn function_body(asm: &str, function: &str) -> Result<Vec<Insn>, FrameError> {
    let lines = strip_comments(asm);
    let label = format!("{function}:");
    let start = lines
        .iter()
        .position(|l| l.starts_with(&label))
        .ok_or_else(|| FrameError::NoFunction(function.to_string()))?;
    let mut body = Vec::new();
    for line in &lines[start + 1..] {
        if line.is_empty() {
            continue;
        }
        if line.starts_with(".cfi_endproc")
            || line.starts_with(".size")
            || line.starts_with(".Lfunc_end")
        {
            break;
        }
        if let Some(name) = line.strip_suffix(':') {
            if !name.starts_with('.') {
                break;
            }
            continue;
        }
        if line.starts_with('.') {
            continue;
        }
        let (mnemonic, operands) = match line.split_once(char::is_whitespace) {
            Some((m, rest)) => (m.to_string(), split_operands(rest.trim())),
            None => (line.clone(), Vec::new()),
        };
        body.push(Insn {
            mnemonic,
            operands,
            text: line.clone(),
        });
    }
    Ok(body)
}

/// `%eax`, `%rax`, `%ax` → `ax`; `%r8d` → `r8`; `%esp` → `sp`.
fn reg_family(operand: &str) -> Option<String> {
    let name = operand.strip_prefix('%')?;
    if let Some(num) = name.strip_prefix('r')
        && num.starts_with(|c: char| c.is_ascii_digit())
    {
        return Some(format!("r{}", num.trim_end_matches(['d', 'w', 'b'])));
    }
    if name.len() == 3 && (name.starts_with('e') || name.starts_with('r')) {
        return Some(name[1..].to_string());
    }
    Some(name.to_string())
}

fn immediate(operand: &str) -> Option<i64> {
    let v = operand.strip_prefix('$')?;
    match v.strip_prefix("0x") {
        Some(hex) => i64::from_str_radix(hex, 16).ok(),
        None => v.parse().ok(),
    }
}

/// `-24(%ebp)` → (-24, "%ebp"); `(%esp)` → (0, "%esp"). Only plain base+displacement.
fn memory(operand: &str) -> Option<(i64, String)> {
    let open = operand.find('(')?;
    let inner = operand[open + 1..].strip_suffix(')')?;
    if inner.contains(',') {
        return None;
    }
    let disp = operand[..open].trim();
    let disp = if disp.is_empty() {
        0
    } else {
        disp.parse().ok()?
    };
    Some((disp, inner.trim().to_string()))
}

#[derive(Debug, Clone)]
enum Value {
    Addr(BufLocation),
    Other,
}

fn strip_suffix_size(mnemonic: &str, base: &str) -> bool {
    mnemonic == base
        || (mnemonic.len() == base.len() + 1
            && mnemonic.starts_with(base)
            && mnemonic.ends_with(['l', 'q', 'w']))
}

/// Analyse `function` in `asm`.
pub fn analyse(asm: &str, function: &str) -> Result<Frame, FrameError> {
    let body = function_body(asm, function)?;
    let word: i64 = if body
        .iter()
        .any(|i| i.text.contains("%rsp") || i.text.contains("%rbp") || i.text.contains("%rdi"))
    {
        8
    } else {
        4
    };
    let stack_protector = body.iter().any(|i| {
        i.text.contains("__stack_chk_fail")
            || i.text.contains("__stack_chk_guard")
            || i.text.contains("%gs:20")
            || i.text.contains("%fs:40")
            || i.text.contains("%fs:0x28")
    });
    let mut sp: Option<i64> = Some(0);
    let mut fp: Option<i64> = None;
    let mut frame_pointer = false;
    let mut reserved = None;
    let mut extra_reserved = Vec::new();
    let mut regs: HashMap<String, Value> = HashMap::new();
    let mut slots: HashMap<i64, (Value, ArgPassing)> = HashMap::new();
    let mut buf = None;
    let mut args = ArgPassing::NoCall;

    let value_of = |operand: &str, regs: &HashMap<String, Value>| -> Value {
        reg_family(operand)
            .and_then(|r| regs.get(&r).cloned())
            .unwrap_or(Value::Other)
    };

    for insn in &body {
        let m = insn.mnemonic.as_str();
        let ops = &insn.operands;
        let dest_reg = ops.last().and_then(|o| reg_family(o));
        if strip_suffix_size(m, "push") {
            let v = ops
                .first()
                .map(|o| value_of(o, &regs))
                .unwrap_or(Value::Other);
            sp = sp.map(|s| s - word);
            if let Some(s) = sp {
                slots.insert(s, (v, ArgPassing::Push));
            }
        } else if strip_suffix_size(m, "pop") {
            sp = sp.map(|s| s + word);
            if let Some(r) = dest_reg {
                regs.insert(r, Value::Other);
            }
        } else if m == "leave" || m == "leavel" || m == "leaveq" {
            sp = fp.map(|f| f + word);
        } else if (strip_suffix_size(m, "sub") || strip_suffix_size(m, "add"))
            && dest_reg.as_deref() == Some("sp")
        {
            match ops.first().and_then(|o| immediate(o)) {
                Some(n) => {
                    let n = if m.starts_with("sub") { n } else { -n };
                    if n > 0 && args == ArgPassing::NoCall {
                        if reserved.is_none() {
                            reserved = Some(n);
                        } else {
                            extra_reserved.push(n);
                        }
                    }
                    sp = sp.map(|s| s - n);
                }
                None => sp = None,
            }
        } else if strip_suffix_size(m, "and") && dest_reg.as_deref() == Some("sp") {
            // Stack realignment: the offset from entry is no longer known.
            sp = None;
        } else if strip_suffix_size(m, "mov") && ops.len() == 2 {
            let src = ops[0].as_str();
            let dst = ops[1].as_str();
            if reg_family(src).as_deref() == Some("sp") && reg_family(dst).as_deref() == Some("bp")
            {
                fp = sp;
                frame_pointer = true;
                regs.insert("bp".into(), Value::Other);
            } else if let Some((off, base)) = memory(dst)
                && reg_family(&base).as_deref() == Some("sp")
            {
                if let Some(s) = sp {
                    slots.insert(s + off, (value_of(src, &regs), ArgPassing::FakePush));
                }
            } else if let Some(d) = reg_family(dst) {
                let v = if reg_family(src).as_deref() == Some("sp") {
                    Value::Addr(BufLocation {
                        operand: format!("({src})"),
                        base: src.to_string(),
                        base_is_frame_pointer: false,
                        from_entry: sp,
                    })
                } else {
                    value_of(src, &regs)
                };
                regs.insert(d, v);
            }
        } else if strip_suffix_size(m, "lea") && ops.len() == 2 {
            if let (Some((off, base)), Some(d)) = (memory(&ops[0]), reg_family(&ops[1])) {
                let family = reg_family(&base);
                let from_entry = match family.as_deref() {
                    Some("sp") => sp.map(|s| s + off),
                    Some("bp") if frame_pointer => fp.map(|f| f + off),
                    _ => None,
                };
                let v = if matches!(family.as_deref(), Some("sp") | Some("bp")) {
                    Value::Addr(BufLocation {
                        operand: ops[0].clone(),
                        base: base.clone(),
                        base_is_frame_pointer: family.as_deref() == Some("bp") && frame_pointer,
                        from_entry,
                    })
                } else {
                    Value::Other
                };
                if d == "sp" {
                    sp = from_entry;
                } else {
                    regs.insert(d, v);
                }
            }
        } else if strip_suffix_size(m, "call") {
            let target = ops.first().map(String::as_str).unwrap_or("");
            if target.contains("strcpy") {
                if word == 8 {
                    args = ArgPassing::Registers;
                    if let Some(Value::Addr(loc)) = regs.get("di") {
                        buf = Some(loc.clone());
                    }
                } else if let Some((v, how)) = sp.and_then(|s| slots.get(&s)) {
                    args = *how;
                    if let Value::Addr(loc) = v {
                        buf = Some(loc.clone());
                    }
                }
                break;
            }
            // A call clobbers the caller-saved registers.
            for r in ["ax", "cx", "dx", "si", "di", "r8", "r9", "r10", "r11"] {
                regs.remove(r);
            }
        } else if let Some(d) = dest_reg {
            // Any other instruction writing a register leaves no address we know in it.
            if d != "sp" && d != "bp" {
                regs.insert(d, Value::Other);
            }
        }
    }
    Ok(Frame {
        word,
        reserved,
        extra_reserved,
        frame_pointer,
        buf,
        args,
        stack_protector,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modern_x86_64_listing_without_frame_pointer() {
        let asm = "\t.text\nfunction:\n.LFB0:\n\t.cfi_startproc\n\tmovl\t$0, %eax\n\tcmpl\t$1, %edi\n\tjle\t.L5\n\tsubq\t$24, %rsp\n\t.cfi_def_cfa_offset 32\n\tmovq\t8(%rsi), %rsi\n\tmovq\t%rsp, %rdi\n\tcall\tstrcpy@PLT\n\tmovl\t$1, %eax\n\taddq\t$24, %rsp\n\tret\n.L5:\n\tret\n\t.cfi_endproc\n";
        let f = analyse(asm, "function").unwrap();
        assert_eq!(f.word, 8);
        assert_eq!(f.reserved, Some(24));
        assert!(!f.frame_pointer);
        assert_eq!(f.args, ArgPassing::Registers);
        let buf = f.buf.unwrap();
        assert_eq!(buf.operand, "(%rsp)");
        assert_eq!(buf.from_entry, Some(-24));
        assert_eq!(buf.offset_from_classic_frame_pointer(8), Some(-16));
    }
}
