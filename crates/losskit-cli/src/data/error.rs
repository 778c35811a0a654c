//! Why a data directory cannot be used.

use std::path::PathBuf;

use thiserror::Error;

use super::idx::IdxError;

/// Why a data directory cannot be used.
#[derive(Debug, Error)]
pub enum DataError {
    /// No such directory.
    #[error("data directory {} does not exist", .0.display())]
    NotFound(PathBuf),
    /// A path that is a file or something else, not a directory.
    #[error("data path {} is not a directory (--data takes a directory holding the four MNIST files)", .0.display())]
    NotADirectory(PathBuf),
    /// A directory whose path cannot be made absolute.
    #[error("cannot resolve data directory {}: {source}", path.display())]
    Resolve {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A standard file that is in neither form.
    #[error("{} has no {name} or {name}.gz", dir.display())]
    MissingFile {
        /// The data directory.
        dir: PathBuf,
        /// The standard name, without `.gz`.
        name: &'static str,
    },
    /// A file that exists but cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file too large to be an accepted IDX file.
    #[error("{} is larger than {} bytes, more than any accepted IDX file", path.display(), super::idx::MAX_FILE)]
    TooLarge {
        /// The file.
        path: PathBuf,
    },
    /// A file that is not valid IDX.
    #[error("{file}: {source}")]
    Idx {
        /// The file, as shown.
        file: String,
        /// What is wrong with it.
        source: IdxError,
    },
    /// Images of another size than the model's input.
    #[error("{file}: images are {rows}x{columns}, the model takes 28x28")]
    ImageSize {
        /// The images file.
        file: String,
        /// Rows per image.
        rows: usize,
        /// Columns per image.
        columns: usize,
    },
    /// An images file and a labels file that disagree on the number of examples.
    #[error("{images} has {image_count} images but {labels} has {label_count} labels")]
    CountMismatch {
        /// The images file.
        images: String,
        /// Images in it.
        image_count: usize,
        /// The labels file.
        labels: String,
        /// Labels in it.
        label_count: usize,
    },
    /// A split without examples.
    #[error("{file} holds no images: training and testing need at least one")]
    Empty {
        /// The images file.
        file: String,
    },
    /// A label that is not a class of the model.
    #[error("{file}: label {label} of example {index} is outside 0-9")]
    Label {
        /// The labels file.
        file: String,
        /// The label.
        label: u8,
        /// Its example.
        index: usize,
    },
}
