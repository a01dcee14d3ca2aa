//! The nf_tables compiler: turns the moat ruleset model into nftables JSON
//! commands (native expressions; the kernel's xtables matches where
//! nf_tables has no equivalent).

pub mod kernel;
pub mod layout;
pub mod nft_json;
pub mod plan;
pub mod portmap;
pub mod rule;

pub use kernel::{CtObject, KernelChain, KernelMember, KernelRule, KernelSet, KernelTable};
pub use plan::{
    plan_delete, plan_replace, plan_replace_owned, plan_update, plan_update_owned, ChangeSet, Op,
    OwnState, PlanError, Position, TableChanges,
};
