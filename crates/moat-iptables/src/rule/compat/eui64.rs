//! `-m eui64` (ip6tables): the source address's interface identifier is
//! the EUI-64 of the frame's source MAC, as stateless autoconfiguration
//! makes it (xt_eui64, revision 0; PREROUTING, INPUT and FORWARD only,
//! where packets still have their Ethernet header). It takes no options.

use moat_model::{Hook, XtExtension, XtLayout};

use crate::rule::ext::option_free_extension;

/// `-m eui64`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Eui64;

impl Eui64 {
    /// The kernel extension: its argument is one unused `int`.
    pub(crate) fn ext(&self) -> XtExtension {
        let info = XtLayout::new().u32(0).finish();
        XtExtension {
            hooks: vec![Hook::Prerouting, Hook::Input, Hook::Forward],
            ..super::kernel_ext("-m", "eui64", 0, info, self)
        }
    }
}

// iptables' listing shows nothing for it.
option_free_extension!(Eui64);
