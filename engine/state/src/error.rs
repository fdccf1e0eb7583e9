//! Errors of the state layer, each tagged with whose fault it is.
//!
//! The engine decides what to do from [`StateError::class`]: an external error
//! (disk, RocksDB) is retried with backoff after reopening the partition from
//! its last checkpoint; an internal one (corrupt record, bug) fails loudly; a
//! user error (bad configuration) is reported at startup.

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
    #[error("invalid state configuration: {0}")]
    Config(String),
    #[error("io error: {0}")]
    Io(#[from] std::io::Error),
}

impl StateError {
    pub fn class(&self) -> ErrorClass {
        match self {
            StateError::Storage(_) | StateError::Io(_) => ErrorClass::External,
            StateError::Corrupt { .. } => ErrorClass::Internal,
            StateError::Config(_) => ErrorClass::User,
        }
    }

    /// Whether retrying (after reopening from the last checkpoint) may succeed.
    pub fn is_retryable(&self) -> bool {
        self.class() == ErrorClass::External
    }
}

impl From<rocksdb::Error> for StateError {
    fn from(e: rocksdb::Error) -> Self {
        StateError::Storage(e.into_string())
    }
}
