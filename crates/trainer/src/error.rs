//! The crate's error type.

use std::path::PathBuf;

/// Errors of the trainer: data loading, partitioning, model parameters and benchmarks.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A data set's files are not where they should be.
    #[error("{dataset} not found at {}: missing {file}; {fix}", dir.display())]
    DatasetMissing {
        /// Data set name.
        dataset: String,
        /// Directory searched.
        dir: PathBuf,
        /// The first missing file.
        file: String,
        /// How to get the data.
        fix: String,
    },
    /// A data file exists but cannot be parsed.
    #[error("corrupt data file {}: {reason}; {fix}", path.display())]
    DatasetCorrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong (bad magic, wrong count, truncated …).
        reason: String,
        /// How to repair it.
        fix: String,
    },
    /// An unknown data set name.
    #[error("unknown dataset {0:?}; known: mnist, fashion-mnist")]
    UnknownDataset(String),
    /// An unknown model name.
    #[error("unknown model {0:?}; known: logreg, mlp, cnn, cnn-small")]
    UnknownModel(String),
    /// Reading a file failed.
    #[error("I/O error on {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A parameter vector does not match the model.
    #[error("parameter mismatch: {0}")]
    ParamMismatch(String),
    /// Invalid arguments (partitioning, configs, shard pools …).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// Encoding or decoding safetensors failed.
    #[error("safetensors: {0}")]
    SafeTensors(String),
    /// Conversion to or from the fixed-point update format failed.
    #[error("fixed-point update: {0}")]
    Update(#[from] chorus_fl::ValidationError),
    /// Training diverged (non-finite loss or parameters).
    #[error("training diverged: {0}")]
    Diverged(String),
}

/// Result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;
