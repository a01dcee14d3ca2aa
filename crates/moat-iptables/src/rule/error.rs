//! Building parse errors.

use super::RuleParseError;

impl RuleParseError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        RuleParseError {
            message: message.into(),
        }
    }
}

/// Fails with `message`.
pub(crate) fn fail<T>(message: impl Into<String>) -> Result<T, RuleParseError> {
    Err(RuleParseError::new(message))
}

/// The result type of everything in the rule parser.
pub(crate) type Res<T> = Result<T, RuleParseError>;
