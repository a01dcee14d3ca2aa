//! `-m socket`: packets that belong to a local socket, the first half of
//! transparent proxying (xt_socket, revision 3; PREROUTING and INPUT only).

use moat_model::{Hook, XtExtension, XtLayout};

use crate::rule::error::Res;
use crate::rule::ext::{Cx, Extension, Opt};
use crate::rule::options::{opt, OptDef};

/// The options and their flag bits, in the order iptables prints them.
const FLAGS: &[(&str, u8)] = &[
    ("--transparent", 0x1),
    ("--nowildcard", 0x2),
    ("--restore-skmark", 0x4),
];

/// `-m socket`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Socket {
    flags: u8,
}

impl Socket {
    /// The kernel extension.
    pub(crate) fn ext(&self) -> XtExtension {
        let info = XtLayout::new().u8(self.flags).finish();
        XtExtension {
            hooks: vec![Hook::Prerouting, Hook::Input],
            ..super::kernel_ext("-m", "socket", 3, info, self)
        }
    }
}

impl Extension for Socket {
    fn options(&self) -> &'static [OptDef] {
        const O: &[OptDef] = &[
            opt("--transparent", 0, false),
            opt("--nowildcard", 0, false),
            opt("--restore-skmark", 0, false),
        ];
        O
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        if let Some((_, bit)) = FLAGS.iter().find(|(name, _)| *name == o.name) {
            self.flags |= bit;
        }
        Ok(())
    }

    fn finish(&mut self, _cx: &Cx) -> Res<()> {
        Ok(())
    }

    fn save(&self, out: &mut String) {
        for (name, bit) in FLAGS {
            if self.flags & bit != 0 {
                out.push(' ');
                out.push_str(name);
            }
        }
    }

    fn print(&self, out: &mut String, _numeric: bool) {
        out.push_str(" socket");
        self.save(out);
    }
}
