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
    /// The only table it works in, if it is limited to one.
    pub stage: Option<Stage>,
}
