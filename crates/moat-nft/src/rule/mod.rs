//! Compiles one model rule into nf_tables statements.

use moat_model::{Family, Rule, Stage};
use nftables::schema::Set;
use nftables::stmt::Statement;

/// Where a rule is compiled for.
#[derive(Debug, Clone)]
pub struct RuleContext {
    /// The family of the table.
    pub family: Family,
    /// The stage (table kind).
    pub stage: Stage,
    /// The nf_tables table name the rule goes into (sets are declared there).
    pub table: String,
}

/// A compiled rule: its statements and the named sets it needs declared first.
#[derive(Debug, Clone)]
pub struct CompiledRule {
    /// The rule's statements: matches, a counter, then the action.
    pub stmts: Vec<Statement<'static>>,
    /// Sets the statements refer to (dynamic sets for per-key limits, ...).
    pub sets: Vec<Set<'static>>,
}

/// Why a rule cannot be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CompileError(pub String);

/// Compiles `rule` into nf_tables statements.
pub fn compile_rule(_rule: &Rule, _ctx: &RuleContext) -> Result<CompiledRule, CompileError> {
    unimplemented!()
}
