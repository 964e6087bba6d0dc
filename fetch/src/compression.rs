//! Compression formats, recognised by their magic bytes (never by file name), and decoders.

use std::io::{self, BufRead, BufReader, Cursor, Read};

use liblzma::stream::{Action, MtStreamBuilder, Status, Stream};

/// The compression wrapped around a tar archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// A plain tar archive.
    None,
    /// gzip (`1f 8b`), possibly several members.
    Gzip,
    /// xz (`fd 37 7a 58 5a 00`), possibly several streams; blocks are decoded on all cores.
    Xz,
    /// bzip2 (`BZh`), possibly several streams.
    Bzip2,
    /// Zstandard (`28 b5 2f fd`), possibly several frames.
    Zstd,
}

/// How many leading bytes [`Compression::detect`] looks at.
pub const MAGIC_LEN: usize = 6;

impl Compression {
    /// Recognise the format from the first bytes of a file.
    pub fn detect(magic: &[u8]) -> Compression {
        if magic.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if magic.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
            Compression::Xz
        } else if magic.starts_with(b"BZh") {
            Compression::Bzip2
        } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }
}

/// Read the magic bytes of `reader`, and return the detected format and a decoder that yields
/// the decompressed bytes (the peeked bytes included). Every integrity check of the format is
/// verified.
pub fn decoder<'a, R: BufRead + Send + 'a>(
    reader: R,
) -> io::Result<(Compression, Box<dyn BufRead + Send + 'a>)> {
    decoder_with(reader, false)
}

/// As [`decoder`], for input whose SHA-256 the caller verifies before using the output (a pinned
/// archive): xz blocks that carry their sizes are decoded in parallel by the block decoder.
pub fn decoder_for_pinned<'a, R: BufRead + Send + 'a>(
    reader: R,
) -> io::Result<(Compression, Box<dyn BufRead + Send + 'a>)> {
    decoder_with(reader, true)
}

/// As [`decoder`]; when `hash_verified` (the caller checks a SHA-256 of the compressed bytes
/// before using the output), xz blocks that carry their sizes are decoded in parallel by the
/// block decoder (each block's check verified; the index is not).
pub(crate) fn decoder_with<'a, R: BufRead + Send + 'a>(
    mut reader: R,
    hash_verified: bool,
) -> io::Result<(Compression, Box<dyn BufRead + Send + 'a>)> {
    let mut magic = Vec::with_capacity(MAGIC_LEN);
    while magic.len() < MAGIC_LEN {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            break;
        }
        let take = buf.len().min(MAGIC_LEN - magic.len());
        magic.extend_from_slice(&buf[..take]);
        reader.consume(take);
    }
    let compression = Compression::detect(&magic);
    if compression == Compression::Xz && hash_verified {
        // Peek the stream header and first block header.
        while magic.len() < crate::xz::PROBE_LEN {
            let buf = reader.fill_buf()?;
            if buf.is_empty() {
                break;
            }
            let take = buf.len().min(crate::xz::PROBE_LEN - magic.len());
            magic.extend_from_slice(&buf[..take]);
            reader.consume(take);
        }
        let parallel = crate::xz::supports(&magic);
        let input = Cursor::new(magic).chain(reader);
        // The parallel reader hands out whole decoded blocks: no extra buffer needed.
        let decoded: Box<dyn BufRead + Send + 'a> = if parallel {
            Box::new(crate::xz::ParallelXzReader::new(input))
        } else {
            Box::new(BufReader::with_capacity(1 << 20, XzReader::new(input)?))
        };
        return Ok((compression, decoded));
    }
    let input = Cursor::new(magic).chain(reader);
    let decoded: Box<dyn Read + Send + 'a> = match compression {
        Compression::None => Box::new(input),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(input)),
        Compression::Bzip2 => Box::new(bzip2::bufread::MultiBzDecoder::new(input)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(input)?),
        Compression::Xz => Box::new(XzReader::new(input)?),
    };
    Ok((
        compression,
        Box::new(BufReader::with_capacity(1 << 20, decoded)),
    ))
}

/// An xz decoder that uses liblzma's multi-threaded block decoder (a kernel tarball is one
/// stream of many independent blocks) and continues across concatenated streams.
pub(crate) struct XzReader<R> {
    inner: R,
    stream: Stream,
    threads: u32,
    stream_ended: bool,
}

fn xz_decoder(threads: u32) -> io::Result<Stream> {
    let stream = if threads > 1 {
        MtStreamBuilder::new()
            .threads(threads)
            // Block until input is used up or output is full (no early returns).
            .timeout_ms(0)
            .memlimit_threading(1 << 30)
            .memlimit_stop(u64::MAX)
            .decoder()
    } else {
        Stream::new_stream_decoder(u64::MAX, 0)
    };
    stream.map_err(|e| io::Error::other(format!("xz decoder: {e}")))
}

impl<R: BufRead> XzReader<R> {
    pub(crate) fn new(inner: R) -> io::Result<Self> {
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .min(16) as u32;
        Ok(XzReader {
            inner,
            stream: xz_decoder(threads)?,
            threads,
            stream_ended: false,
        })
    }
}

impl<R: BufRead> Read for XzReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if self.stream_ended {
                // Skip stream padding (NUL bytes); another stream may follow.
                loop {
                    let input = self.inner.fill_buf()?;
                    if input.is_empty() {
                        return Ok(0);
                    }
                    let zeros = input.iter().take_while(|b| **b == 0).count();
                    let all = zeros == input.len();
                    self.inner.consume(zeros);
                    if !all {
                        break;
                    }
                }
                self.stream = xz_decoder(self.threads)?;
                self.stream_ended = false;
            }
            let input = self.inner.fill_buf()?;
            let eof = input.is_empty();
            let (in_before, out_before) = (self.stream.total_in(), self.stream.total_out());
            let status =
                self.stream
                    .process(input, buf, if eof { Action::Finish } else { Action::Run });
            let consumed = (self.stream.total_in() - in_before) as usize;
            let produced = (self.stream.total_out() - out_before) as usize;
            self.inner.consume(consumed);
            let status = status.map_err(|e| {
                io::Error::new(io::ErrorKind::InvalidData, format!("corrupt xz data: {e}"))
            })?;
            if status == Status::StreamEnd {
                self.stream_ended = true;
            }
            if produced > 0 {
                return Ok(produced);
            }
            if self.stream_ended {
                continue;
            }
            if eof || (consumed == 0 && status == Status::MemNeeded) {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "xz data ends before the end of the stream (truncated file?)",
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufReader, Write};

    fn round_trip(compression: Compression, data: &[u8]) -> Vec<u8> {
        let compressed = match compression {
            Compression::None => data.to_vec(),
            Compression::Gzip => {
                let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                e.write_all(data).unwrap();
                e.finish().unwrap()
            }
            Compression::Xz => {
                let mut e = liblzma::write::XzEncoder::new(Vec::new(), 1);
                e.write_all(data).unwrap();
                e.finish().unwrap()
            }
            Compression::Bzip2 => {
                let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
                e.write_all(data).unwrap();
                e.finish().unwrap()
            }
            Compression::Zstd => zstd::encode_all(data, 1).unwrap(),
        };
        let (found, mut d) = decoder(BufReader::new(&compressed[..])).unwrap();
        assert_eq!(found, compression);
        let mut out = Vec::new();
        d.read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn every_format_is_detected_and_decoded() {
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        for c in [
            Compression::None,
            Compression::Gzip,
            Compression::Xz,
            Compression::Bzip2,
            Compression::Zstd,
        ] {
            assert_eq!(round_trip(c, &data), data, "{c:?}");
        }
    }

    #[test]
    fn concatenated_xz_streams_are_all_decoded() {
        let mut both = Vec::new();
        for part in [&b"first "[..], &b"second"[..]] {
            let mut e = liblzma::write::XzEncoder::new(Vec::new(), 1);
            e.write_all(part).unwrap();
            both.extend(e.finish().unwrap());
            both.extend([0u8; 4]); // stream padding
        }
        let (_, mut d) = decoder(BufReader::new(&both[..])).unwrap();
        let mut out = String::new();
        d.read_to_string(&mut out).unwrap();
        assert_eq!(out, "first second");
    }

    #[test]
    fn truncated_xz_is_an_error() {
        let mut e = liblzma::write::XzEncoder::new(Vec::new(), 1);
        e.write_all(&vec![7u8; 100_000]).unwrap();
        let full = e.finish().unwrap();
        let (_, mut d) = decoder(BufReader::new(&full[..full.len() - 10])).unwrap();
        let mut out = Vec::new();
        assert!(d.read_to_end(&mut out).is_err());
    }
}
