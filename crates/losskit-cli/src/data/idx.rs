//! The IDX format of MNIST: a magic number, big-endian dimensions, then unsigned bytes.
//!
//! Every size is checked against the header, and the header against the limits, before
//! the payload is allocated: a truncated or hostile file is an error, never an allocation
//! of what its header claims.

use std::io::Read;

use flate2::read::MultiGzDecoder;
use thiserror::Error;

/// The largest payload accepted (the 60,000 Fashion-MNIST training images are 47 MB).
pub const MAX_PAYLOAD: u64 = 1 << 30;
/// The largest file read: a raw file of [`MAX_PAYLOAD`] plus its header, or its gzip of
/// incompressible bytes, whose overhead is far below 1/64.
pub const MAX_FILE: u64 = MAX_PAYLOAD + MAX_PAYLOAD / 64;
/// At most this many dimensions.
pub const MAX_DIMS: u8 = 4;

/// What can be wrong with an IDX file.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum IdxError {
    /// Fewer bytes than the 4-byte magic and the dimensions.
    #[error("truncated header: {found} bytes, the header needs {needed}")]
    TruncatedHeader {
        /// Bytes available.
        found: usize,
        /// Bytes the header needs.
        needed: usize,
    },
    /// Magic number not `00 00 08 nd` (unsigned bytes, `nd` dimensions).
    #[error("wrong magic number {0:#010x} (expected 0x00000801 for labels or 0x00000803 for images)")]
    Magic(u32),
    /// Not the number of dimensions asked for (1 for labels, 3 for images).
    #[error("expected {expected} dimensions, the header has {found}")]
    Dims {
        /// Dimensions expected.
        expected: u8,
        /// Dimensions in the header.
        found: u8,
    },
    /// A payload larger than [`MAX_PAYLOAD`].
    #[error("header claims {0} bytes of data, more than the limit of {MAX_PAYLOAD}")]
    TooLarge(u64),
    /// Less data than the header claims.
    #[error("truncated data: the header claims {expected} bytes, the file has {found}")]
    Truncated {
        /// Bytes the header claims.
        expected: u64,
        /// Bytes present.
        found: u64,
    },
    /// More data than the header claims.
    #[error("{0} bytes after the data the header describes")]
    Trailing(u64),
    /// Not valid gzip.
    #[error("corrupt gzip stream: {0}")]
    Gzip(String),
}

/// A decoded IDX file: its dimensions and bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Idx {
    /// The dimensions, outermost first.
    pub dims: Vec<usize>,
    /// The row-major payload.
    pub data: Vec<u8>,
}

/// Decodes raw or gzipped (`1f 8b`) IDX bytes with `ndims` dimensions of unsigned bytes.
/// A gzip file may hold several members one after the other (`cat a.gz b.gz`), read as
/// one stream as `zcat` does.
pub fn decode(bytes: &[u8], ndims: u8) -> Result<Idx, IdxError> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        read_stream(MultiGzDecoder::new(bytes), ndims)
    } else {
        read_stream(bytes, ndims)
    }
}

fn gzip_or_truncated(e: std::io::Error) -> IdxError {
    IdxError::Gzip(e.to_string())
}

fn read_stream(mut reader: impl Read, ndims: u8) -> Result<Idx, IdxError> {
    let mut magic = [0u8; 4];
    let got = read_up_to(&mut reader, &mut magic).map_err(gzip_or_truncated)?;
    if got < 4 {
        return Err(IdxError::TruncatedHeader { found: got, needed: 4 });
    }
    let value = u32::from_be_bytes(magic);
    if magic[0] != 0 || magic[1] != 0 || magic[2] != 0x08 || magic[3] == 0 || magic[3] > MAX_DIMS {
        return Err(IdxError::Magic(value));
    }
    if magic[3] != ndims {
        return Err(IdxError::Dims {
            expected: ndims,
            found: magic[3],
        });
    }
    let mut header = vec![0u8; 4 * ndims as usize];
    let got = read_up_to(&mut reader, &mut header).map_err(gzip_or_truncated)?;
    if got < header.len() {
        return Err(IdxError::TruncatedHeader {
            found: 4 + got,
            needed: 4 + header.len(),
        });
    }
    let dims: Vec<usize> = header
        .chunks(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let expected = dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64))
        .unwrap_or(u64::MAX);
    if expected > MAX_PAYLOAD {
        return Err(IdxError::TooLarge(expected));
    }
    let mut data = Vec::new();
    let found = reader
        .by_ref()
        .take(expected)
        .read_to_end(&mut data)
        .map_err(gzip_or_truncated)? as u64;
    if found < expected {
        return Err(IdxError::Truncated { expected, found });
    }
    let mut rest = [0u8; 1 << 12];
    let mut trailing = 0u64;
    loop {
        let n = reader.read(&mut rest).map_err(gzip_or_truncated)?;
        if n == 0 {
            break;
        }
        trailing += n as u64;
    }
    if trailing > 0 {
        return Err(IdxError::Trailing(trailing));
    }
    Ok(Idx { dims, data })
}

/// Reads until `buf` is full or the stream ends; returns how much was read.
fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

/// Encodes unsigned bytes as an IDX file.
#[cfg(test)]
pub fn encode(dims: &[usize], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 0x08, dims.len() as u8];
    for &d in dims {
        out.extend_from_slice(&(d as u32).to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gz(bytes: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn reads_raw_and_gzip() {
        let file = encode(&[2, 2, 3], &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
        let want = Idx {
            dims: vec![2, 2, 3],
            data: (1..=12).collect(),
        };
        assert_eq!(decode(&file, 3), Ok(want.clone()));
        assert_eq!(decode(&gz(&file), 3), Ok(want));
    }

    #[test]
    fn reads_a_gzip_file_of_several_members() {
        let file = encode(&[2, 2, 3], &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
        // `cat header.gz data1.gz data2.gz`: the members split the header from the data.
        let members = [gz(&file[..16]), gz(&file[16..20]), gz(&file[20..])].concat();
        assert_eq!(
            decode(&members, 3),
            Ok(Idx {
                dims: vec![2, 2, 3],
                data: (1..=12).collect()
            })
        );
        // The limits still hold across members: a second member past the header's size.
        let long = [gz(&file), gz(&[0; 5])].concat();
        assert_eq!(decode(&long, 3), Err(IdxError::Trailing(5)));
    }

    #[test]
    fn refuses_every_kind_of_bad_file() {
        let good = encode(&[3], &[1, 2, 3]);
        assert_eq!(
            decode(&good[..3], 1),
            Err(IdxError::TruncatedHeader { found: 3, needed: 4 })
        );
        assert_eq!(
            decode(&good[..6], 1),
            Err(IdxError::TruncatedHeader { found: 6, needed: 8 })
        );
        assert_eq!(
            decode(&[0, 0, 0x0d, 1, 0, 0, 0, 0], 1),
            Err(IdxError::Magic(0x0000_0d01))
        );
        assert_eq!(
            decode(&[8, 0, 0x08, 1, 0, 0, 0, 0], 1),
            Err(IdxError::Magic(0x0800_0801))
        );
        assert_eq!(decode(&good, 3), Err(IdxError::Dims { expected: 3, found: 1 }));
        assert_eq!(
            decode(&good[..10], 1),
            Err(IdxError::Truncated { expected: 3, found: 2 })
        );
        let mut long = good.clone();
        long.push(0);
        assert_eq!(decode(&long, 1), Err(IdxError::Trailing(1)));
        // A header that claims 4 GiB is refused before anything is allocated.
        let huge = encode(&[65536, 256, 256], &[]);
        assert_eq!(decode(&huge, 3), Err(IdxError::TooLarge(1 << 32)));
        let overflow = encode(&[u32::MAX as usize, u32::MAX as usize, u32::MAX as usize], &[]);
        assert!(matches!(decode(&overflow, 3), Err(IdxError::TooLarge(_))));
        // Truncated and corrupt gzip streams.
        let z = gz(&encode(&[100], &[7; 100]));
        assert!(matches!(
            decode(&z[..z.len() / 2], 1),
            Err(IdxError::Gzip(_) | IdxError::Truncated { .. })
        ));
        let mut corrupt = z.clone();
        let mid = corrupt.len() / 2;
        corrupt[mid] ^= 0xff;
        assert!(decode(&corrupt, 1).is_err());
    }
}
