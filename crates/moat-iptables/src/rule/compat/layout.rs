//! Argument structures of xtables extensions, laid out byte by byte as the
//! kernel's modules read them (host byte order, C alignment, the whole
//! size rounded up to 8 bytes as `XT_ALIGN` does).

/// A C structure being written.
#[derive(Debug, Default)]
pub(crate) struct Layout(Vec<u8>);

impl Layout {
    /// An empty structure.
    pub(crate) fn new() -> Layout {
        Layout::default()
    }

    /// A `__u8`.
    pub(crate) fn u8(&mut self, v: u8) -> &mut Layout {
        self.0.push(v);
        self
    }

    /// A `__u16` (aligned to 2).
    pub(crate) fn u16(&mut self, v: u16) -> &mut Layout {
        self.align(2);
        self.0.extend_from_slice(&v.to_ne_bytes());
        self
    }

    /// `bytes` in a field of `len` bytes, the rest zero.
    pub(crate) fn bytes(&mut self, bytes: &[u8], len: usize) -> &mut Layout {
        let start = self.0.len();
        self.0.extend(bytes.iter().take(len));
        self.0.resize(start + len, 0);
        self
    }

    /// Zero bytes up to a multiple of `n`.
    pub(crate) fn align(&mut self, n: usize) -> &mut Layout {
        let len = self.0.len().next_multiple_of(n);
        self.0.resize(len, 0);
        self
    }

    /// The structure, its size rounded up to 8 bytes.
    pub(crate) fn finish(&mut self) -> Vec<u8> {
        self.align(8);
        std::mem::take(&mut self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_aligned_like_c() {
        let bytes = Layout::new().u8(1).u16(2).u8(3).bytes(b"ab", 3).finish();
        assert_eq!(bytes.len(), 8);
        assert_eq!(bytes[0], 1);
        assert_eq!(u16::from_ne_bytes([bytes[2], bytes[3]]), 2);
        assert_eq!(bytes[4], 3);
        assert_eq!(&bytes[5..8], b"ab\0");
    }
}
