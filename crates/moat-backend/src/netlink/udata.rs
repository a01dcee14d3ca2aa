//! User data as libnftnl writes it: TLVs (a one-byte type, a one-byte
//! length, the value) the kernel keeps with a table, a rule, a set or an
//! element without reading them; `nft` keeps comments and byte orders there.

use moat_model::text::first_bytes;

use super::consts::USERDATA_MAXLEN;
use super::wire::string;

/// Builds a user-data blob.
#[derive(Debug, Default)]
pub(crate) struct Udata(pub Vec<u8>);

impl Udata {
    /// Adds a NUL-terminated string, cut to fit the kernel's limit.
    pub(crate) fn string(&mut self, kind: u8, text: &str) {
        let room = USERDATA_MAXLEN.saturating_sub(self.0.len() + 3);
        let text = first_bytes(text, room.min(254));
        self.0.reserve(text.len() + 3);
        self.0.push(kind);
        self.0.push((text.len() + 1) as u8);
        self.0.extend_from_slice(text.as_bytes());
        self.0.push(0);
    }

    /// Adds a host-order `u32`, as libnftnl stores numbers.
    pub(crate) fn u32(&mut self, kind: u8, value: u32) {
        self.0.push(kind);
        self.0.push(4);
        self.0.extend_from_slice(&value.to_ne_bytes());
    }

    /// Adds a TLV of `kind` with no value.
    pub(crate) fn empty(&mut self, kind: u8) {
        self.0.push(kind);
        self.0.push(0);
    }

    /// Adds the TLVs of `inner` as the value of one TLV of `kind` (at most
    /// 255 bytes of them).
    pub(crate) fn nest(&mut self, kind: u8, inner: &Udata) {
        let len = u8::try_from(inner.0.len()).unwrap_or(u8::MAX);
        self.0.push(kind);
        self.0.push(len);
        self.0.extend_from_slice(&inner.0[..usize::from(len)]);
    }
}

/// The string of the first TLV of type `kind` in `blob`, without its NUL.
pub(crate) fn udata_string(blob: &[u8], kind: u8) -> Option<String> {
    let mut rest = blob;
    while let [ty, len, tail @ ..] = rest {
        let value = tail.get(..usize::from(*len))?;
        if *ty == kind {
            return Some(string(value));
        }
        rest = &tail[value.len()..];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udata_round_trips_and_is_bounded() {
        let mut u = Udata::default();
        u.u32(0, 2);
        u.string(7, "moat list cn");
        assert_eq!(udata_string(&u.0, 7).as_deref(), Some("moat list cn"));
        let mut long = Udata::default();
        long.string(7, &"é".repeat(300));
        assert!(long.0.len() <= 256);
        assert!(udata_string(&long.0, 7).unwrap().chars().all(|c| c == 'é'));
    }

    #[test]
    fn reads_the_first_string_of_its_kind() {
        assert_eq!(
            udata_string(b"\x07\x02x\x00\x00\x06hello\x00", 0).as_deref(),
            Some("hello")
        );
        assert_eq!(udata_string(b"\x07\x02x\x00", 0), None);
        assert_eq!(udata_string(&[0, 9, b'a'], 0), None);
    }
}
