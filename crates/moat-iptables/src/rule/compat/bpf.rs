//! `-m bpf --bytecode`: a classic BPF program, as `nfbpf_compile` or
//! `tcpdump -ddd` writes it, run on the packet (xt_bpf, revision 0).

use moat_model::{XtExtension, XtLayout};

use super::kernel_ext;
use crate::rule::error::{fail, Res};
use crate::rule::ext::{once, Cx, Extension, Opt};
use crate::rule::options::{opt, OptDef};

/// The longest program the kernel module takes.
const MAX_INSTRUCTIONS: usize = 64;

/// One BPF instruction: code, jump if true, jump if false, constant.
type Instruction = (u16, u8, u8, u32);

/// `-m bpf --bytecode "N,code jt jf k,..."`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Bpf {
    program: Option<Vec<Instruction>>,
}

/// `N,code jt jf k,...` as the instructions it lists.
fn parse_program(text: &str) -> Res<Vec<Instruction>> {
    let bad = |why: &str| {
        fail(format!(
            "bpf: --bytecode {why}: give \"N,code jt jf k,...\""
        ))
    };
    let mut parts = text.split(',');
    let Some(count) = parts.next().and_then(|n| n.trim().parse::<usize>().ok()) else {
        return bad("does not start with the number of instructions");
    };
    if count == 0 || count > MAX_INSTRUCTIONS {
        return bad(&format!(
            "has {count} instructions; the kernel takes 1 to {MAX_INSTRUCTIONS}"
        ));
    }
    let mut program = Vec::with_capacity(count);
    for part in parts.filter(|p| !p.trim().is_empty()) {
        let words: Vec<&str> = part.split_whitespace().collect();
        let instruction = match words.as_slice() {
            [code, jt, jf, k] => (|| {
                Some((
                    code.parse().ok()?,
                    jt.parse().ok()?,
                    jf.parse().ok()?,
                    k.parse().ok()?,
                ))
            })(),
            _ => None,
        };
        match instruction {
            Some(i) => program.push(i),
            None => return bad(&format!("has an unreadable instruction \"{part}\"")),
        }
    }
    if program.len() != count {
        return bad(&format!(
            "says {count} instructions but lists {}",
            program.len()
        ));
    }
    Ok(program)
}

impl Bpf {
    fn instructions(&self) -> String {
        let program = self.program.as_deref().unwrap_or_default();
        let words: Vec<String> = program
            .iter()
            .map(|(code, jt, jf, k)| format!("{code} {jt} {jf} {k}"))
            .collect();
        words.join(",")
    }

    /// The kernel extension.
    pub(crate) fn ext(&self) -> XtExtension {
        let program = self.program.as_deref().unwrap_or_default();
        let mut layout = XtLayout::new();
        // The count, then the instructions (4-byte aligned, as struct sock_filter).
        layout.u16(program.len() as u16).align(4);
        for i in 0..MAX_INSTRUCTIONS {
            let (code, jt, jf, k) = program.get(i).copied().unwrap_or_default();
            layout.u16(code).u8(jt).u8(jf).u32(k);
        }
        // The kernel's pointer to the program it built, 8-byte aligned.
        layout.align(8).bytes(&[], 8);
        kernel_ext("-m", "bpf", 0, layout.finish(), self)
    }
}

impl Extension for Bpf {
    fn options(&self) -> &'static [OptDef] {
        const O: &[OptDef] = &[opt("--bytecode", 1, false)];
        O
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        once(&self.program, "--bytecode")?;
        self.program = Some(parse_program(o.value())?);
        Ok(())
    }

    fn finish(&mut self, _cx: &Cx) -> Res<()> {
        if self.program.is_none() {
            return fail("bpf: option \"--bytecode\" must be specified");
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        if let Some(program) = &self.program {
            out.push_str(&format!(
                " --bytecode \"{},{}\"",
                program.len(),
                self.instructions()
            ));
        }
    }

    /// iptables prints the program and then, by a slip, a NUL byte.
    fn print(&self, out: &mut String, _numeric: bool) {
        out.push_str(&format!("match bpf {}\0", self.instructions()));
    }
}
