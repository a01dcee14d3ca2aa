//! The TRACE target: marks the packet so nf_tables reports its path.

use crate::rule::ext::option_free_extension;

/// `-j TRACE`, which takes no options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Trace;

option_free_extension!(Trace);
