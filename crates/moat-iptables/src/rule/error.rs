//! Building parse errors.

use super::RuleParseError;

impl RuleParseError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        RuleParseError {
            message: message.into(),
            kernel: false,
        }
    }
}

/// Fails with `message`.
pub(crate) fn fail<T>(message: impl Into<String>) -> Result<T, RuleParseError> {
    Err(RuleParseError::new(message))
}

/// Fails with `message` for a rule iptables takes and the kernel refuses
/// (a target or match checks the rule's protocol when it is added).
pub(crate) fn refused_by_kernel<T>(message: impl Into<String>) -> Result<T, RuleParseError> {
    Err(RuleParseError {
        kernel: true,
        ..RuleParseError::new(message)
    })
}

/// The result type of everything in the rule parser.
pub(crate) type Res<T> = Result<T, RuleParseError>;
