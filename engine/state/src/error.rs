//! Errors of the state layer, each tagged with whose fault it is.
//!
//! The engine decides what to do from [`StateError::class`]:
//!
//! | variant | class | what happened |
//! |---|---|---|
//! | `Storage`, `Io` | external | the disk or RocksDB failed a read or write |
//! | `Refused` | that of the failure | the partition refuses checkpoints after a failed read, write or decode |
//! | `Corrupt` | internal | a stored record does not decode |
//! | `Internal` | internal | a bug: the checkpoint protocol called out of order, an encoder thread panicked |
//! | `Config` | user | bad `[state]` configuration |
//!
//! An external error is retried with backoff after reopening the partition
//! from its last checkpoint; an internal one fails loudly (replaying into a
//! corrupt record or a bug would fail again); a user error is reported at
//! startup.

/// Whose fault an error is; decides retry or fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Bad configuration or input: report it, do not retry.
    User,
    /// Disk or storage engine: retry with backoff.
    External,
    /// A bug or corrupt state: fail loudly.
    Internal,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    #[error("storage error: {0}")]
    Storage(String),
    #[error("corrupt state record under key {key:02x?}: {reason}")]
    Corrupt { key: Vec<u8>, reason: &'static str },
    /// A checkpoint refused because a store read, a record decode or a
    /// checkpoint write failed since the last one: the partition's memory
    /// may be ahead of (or missing) what the store holds.
    #[error(
        "partition {partition}: a store read or checkpoint write failed since the last checkpoint ({cause}); reopen and replay"
    )]
    Refused {
        partition: i32,
        cause: String,
        /// The class of the failure.
        class: ErrorClass,
    },
    #[error("internal state error: {0}")]
    Internal(String),
    #[error("invalid state configuration: {0}")]
    Config(String),
    #[error("io error: {0}")]
    Io(#[from] std::io::Error),
}

impl StateError {
    /// Whose fault the error is (see the module docs).
    pub fn class(&self) -> ErrorClass {
        match self {
            StateError::Storage(_) | StateError::Io(_) => ErrorClass::External,
            StateError::Corrupt { .. } | StateError::Internal(_) => ErrorClass::Internal,
            StateError::Refused { class, .. } => *class,
            StateError::Config(_) => ErrorClass::User,
        }
    }

    /// Whether retrying (after reopening from the last checkpoint) may succeed.
    pub fn is_retryable(&self) -> bool {
        self.class() == ErrorClass::External
    }
}
