//! Extensions the kernel runs through its xtables compatibility layer
//! (`nft_compat`): matches and targets nf_tables has no native expression
//! for (string, policy, physdev, ...). The kernel module of the extension
//! decides, exactly as under iptables-nft; moat only carries its arguments.

use serde::{Deserialize, Serialize};

use crate::ruleset::{Hook, Stage};

/// One xtables match or target, ready for the kernel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct XtExtension {
    /// The extension's kernel name (`string`, `policy`, `CHECKSUM`, ...).
    pub name: String,
    /// The revision of its argument layout.
    pub revision: u32,
    /// Its argument structure, laid out as the kernel module reads it.
    pub info: Vec<u8>,
    /// How people write it (`-m string --string "GET" --algo bm`), for
    /// descriptions and explanations.
    pub text: String,
    /// The hooks whose packets it can work on (every hook when empty); the
    /// kernel refuses it anywhere else.
    pub hooks: Vec<Hook>,
    /// The hooks its module takes when the rule goes into a built-in chain
    /// (every hook when empty): a check the module makes only as the rule
    /// is added, when nft_compat tells it a built-in chain's hook and none
    /// for a user chain, whatever comes to reach that chain (`-m policy
    /// --dir in`, `-m physdev --physdev-out`).
    #[serde(default)]
    pub builtin_hooks: Vec<Hook>,
    /// The only table it works in, if it is limited to one.
    pub stage: Option<Stage>,
}

impl XtExtension {
    /// Extension `name` at `revision` with argument structure `info`,
    /// written `text`, that works at every hook of every table.
    pub fn new(
        name: impl Into<String>,
        revision: u32,
        info: Vec<u8>,
        text: impl Into<String>,
    ) -> XtExtension {
        XtExtension {
            name: name.into(),
            revision,
            info,
            text: text.into(),
            hooks: Vec::new(),
            builtin_hooks: Vec::new(),
            stage: None,
        }
    }
}

/// An argument structure of an xtables extension being laid out byte by
/// byte as the kernel module reads it: host byte order, C alignment, the
/// whole size rounded up to 8 bytes as `XT_ALIGN` does.
#[derive(Debug, Default)]
pub struct XtLayout(Vec<u8>);

impl XtLayout {
    /// An empty structure.
    pub fn new() -> XtLayout {
        XtLayout::default()
    }

    /// A `__u8`.
    pub fn u8(&mut self, v: u8) -> &mut XtLayout {
        self.0.push(v);
        self
    }

    /// A `__u16` (aligned to 2).
    pub fn u16(&mut self, v: u16) -> &mut XtLayout {
        self.align(2);
        self.0.extend_from_slice(&v.to_ne_bytes());
        self
    }

    /// A `__u32` (aligned to 4).
    pub fn u32(&mut self, v: u32) -> &mut XtLayout {
        self.align(4);
        self.0.extend_from_slice(&v.to_ne_bytes());
        self
    }

    /// A `__u64` (aligned to 8).
    pub fn u64(&mut self, v: u64) -> &mut XtLayout {
        self.align(8);
        self.0.extend_from_slice(&v.to_ne_bytes());
        self
    }

    /// `bytes` in a field of `len` bytes, the rest zero.
    pub fn bytes(&mut self, bytes: &[u8], len: usize) -> &mut XtLayout {
        let start = self.0.len();
        self.0.extend(bytes.iter().take(len));
        self.0.resize(start + len, 0);
        self
    }

    /// Zero bytes up to a multiple of `n`.
    pub fn align(&mut self, n: usize) -> &mut XtLayout {
        let len = self.0.len().next_multiple_of(n);
        self.0.resize(len, 0);
        self
    }

    /// The structure, its size rounded up to 8 bytes.
    pub fn finish(&mut self) -> Vec<u8> {
        self.align(8);
        std::mem::take(&mut self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_aligned_like_c() {
        let bytes = XtLayout::new().u8(1).u16(2).u8(3).bytes(b"ab", 3).finish();
        assert_eq!(bytes.len(), 8);
        assert_eq!(bytes[0], 1);
        assert_eq!(u16::from_ne_bytes([bytes[2], bytes[3]]), 2);
        assert_eq!(bytes[4], 3);
        assert_eq!(&bytes[5..8], b"ab\0");
    }
}
