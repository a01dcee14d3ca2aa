//! Interface names by index, asked of the kernel once per index (an index
//! is not reused while its interface exists; a miss asks again).

use std::collections::HashMap;
use std::ffi::CStr;

/// A cache of interface names.
#[derive(Debug, Default)]
pub struct Interfaces {
    names: HashMap<u32, String>,
}

impl Interfaces {
    /// The name of interface `index`, if it exists.
    pub fn name(&mut self, index: u32) -> Option<String> {
        if let Some(n) = self.names.get(&index) {
            return Some(n.clone());
        }
        let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
        // SAFETY: `buf` has the IF_NAMESIZE bytes if_indextoname writes at most.
        let ptr = unsafe { libc::if_indextoname(index, buf.as_mut_ptr()) };
        if ptr.is_null() {
            return None;
        }
        // SAFETY: on success `buf` holds a NUL-terminated name.
        let name = unsafe { CStr::from_ptr(buf.as_ptr()) }
            .to_string_lossy()
            .into_owned();
        self.names.insert(index, name.clone());
        Some(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_found_and_a_missing_index_is_not() {
        let mut i = Interfaces::default();
        assert_eq!(i.name(1).as_deref(), Some("lo"));
        assert_eq!(i.name(u32::MAX), None);
    }
}
