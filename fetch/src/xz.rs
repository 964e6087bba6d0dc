//! A block-parallel xz decoder for archives whose SHA-256 the caller verifies.
//!
//! `xz -T`, pixz and kernel.org/Debian tarballs store each block's compressed size in its
//! header, so blocks can be cut out of the stream as they arrive and decoded on several threads
//! with a raw LZMA2 decoder. Each block's integrity check (CRC32, CRC64 or SHA-256, as the
//! stream header says) is verified on the decoding thread, so damaged input is an error here and
//! not only later, when the whole file's SHA-256 is compared. The index is skipped (its records
//! repeat the block sizes checked here). Blocks without a stored size are decoded in order on the
//! calling thread, also checked; a stream whose first block uses other filters than LZMA2 (BCJ,
//! delta) is handed to liblzma's own decoder.

use std::collections::VecDeque;
use std::io::{self, BufRead, Read};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};

use liblzma::stream::{Action, Filters, Status, Stream};
use sha2::Digest;

const MAGIC: [u8; 6] = [0xfd, b'7', b'z', b'X', b'Z', 0x00];
const FOOTER_MAGIC: [u8; 2] = [b'Y', b'Z'];
/// Blocks larger than this (compressed or not), or of unknown size, are decoded in order on the
/// calling thread with bounded memory: the input is not trusted until its hash is checked, so a
/// header must not make us buffer gigabytes.
const MAX_PARALLEL_BLOCK: u64 = 256 << 20;
/// Decoded bytes of queued blocks at most (at least one block is always allowed).
const MAX_QUEUED_OUTPUT: u64 = 256 << 20;

fn corrupt(what: impl Into<String>) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("corrupt xz data: {}", what.into()),
    )
}

fn truncated() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "xz data ends before the end of the stream (truncated file?)",
    )
}

/// Read `n` bytes; the buffer grows with the bytes that arrive, so a size claimed by a damaged
/// header costs memory only as far as the input really goes.
fn read_exact_buf<R: BufRead>(r: &mut R, n: usize) -> io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(n.min(1 << 20));
    Read::take(&mut *r, n as u64).read_to_end(&mut out)?;
    if out.len() < n {
        return Err(truncated());
    }
    Ok(out)
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = flate2::Crc::new();
    crc.update(data);
    crc.sum()
}

/// xz's CRC64 (ECMA-182, reflected), as liblzma computes it.
static CRC64: crc::Crc<u64, crc::Table<16>> = crc::Crc::<u64, crc::Table<16>>::new(&crc::CRC_64_XZ);

/// The integrity check of every block of a stream (the stream flags' check type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    None,
    Crc32,
    Crc64,
    Sha256,
    /// An ID the format reserves: its field is skipped (liblzma's decoder does the same).
    Reserved {
        size: usize,
    },
}

impl Check {
    fn from_id(id: u8) -> io::Result<Check> {
        Ok(match id {
            0x00 => Check::None,
            0x01 => Check::Crc32,
            0x04 => Check::Crc64,
            0x0a => Check::Sha256,
            0x02..=0x03 => Check::Reserved { size: 4 },
            0x05..=0x06 => Check::Reserved { size: 8 },
            0x07..=0x09 => Check::Reserved { size: 16 },
            0x0b..=0x0c => Check::Reserved { size: 32 },
            0x0d..=0x0f => Check::Reserved { size: 64 },
            _ => return Err(corrupt("unknown check type")),
        })
    }

    /// Bytes of the check field after each block.
    fn size(self) -> usize {
        match self {
            Check::None => 0,
            Check::Crc32 => 4,
            Check::Crc64 => 8,
            Check::Sha256 => 32,
            Check::Reserved { size } => size,
        }
    }

    fn start(self) -> Checker {
        match self {
            Check::None | Check::Reserved { .. } => Checker::None,
            Check::Crc32 => Checker::Crc32(flate2::Crc::new()),
            Check::Crc64 => Checker::Crc64(CRC64.digest()),
            Check::Sha256 => Checker::Sha256(Box::default()),
        }
    }
}

/// A block's check being computed over its decoded bytes.
enum Checker {
    None,
    Crc32(flate2::Crc),
    Crc64(crc::Digest<'static, u64, crc::Table<16>>),
    Sha256(Box<sha2::Sha256>),
}

impl Checker {
    fn update(&mut self, data: &[u8]) {
        match self {
            Checker::None => {}
            Checker::Crc32(c) => c.update(data),
            Checker::Crc64(c) => c.update(data),
            Checker::Sha256(c) => c.update(data),
        }
    }

    /// Compare with the check field stored after the block.
    fn verify(self, stored: &[u8]) -> io::Result<()> {
        let (name, matches) = match self {
            Checker::None => return Ok(()),
            Checker::Crc32(c) => ("CRC32", c.sum().to_le_bytes()[..] == *stored),
            Checker::Crc64(c) => ("CRC64", c.finalize().to_le_bytes()[..] == *stored),
            Checker::Sha256(c) => ("SHA-256", c.finalize()[..] == *stored),
        };
        if matches {
            Ok(())
        } else {
            Err(corrupt(format!(
                "a block's {name} check does not match its data (damaged file)"
            )))
        }
    }
}

/// Parse a multibyte integer at `*pos`.
fn varint(buf: &[u8], pos: &mut usize) -> io::Result<u64> {
    let mut value = 0u64;
    for i in 0..9 {
        let byte = *buf.get(*pos).ok_or_else(|| corrupt("header too short"))?;
        *pos += 1;
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(corrupt("integer too long"))
}

fn read_varint<R: BufRead>(r: &mut R) -> io::Result<u64> {
    let mut value = 0u64;
    for i in 0..9 {
        let byte = read_exact_buf(r, 1)?[0];
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(corrupt("integer too long"))
}

/// What a block header says.
struct BlockHeader {
    compressed: Option<u64>,
    uncompressed: Option<u64>,
    /// The LZMA2 properties byte; `None` if the chain is not LZMA2 alone.
    lzma2_props: Option<u8>,
}

/// Parse a block header whose first byte is `first` (not 0) and whose remaining bytes are `rest`.
fn parse_block_header(first: u8, rest: &[u8]) -> io::Result<BlockHeader> {
    let mut all = Vec::with_capacity(rest.len() + 1);
    all.push(first);
    all.extend_from_slice(rest);
    let (body, crc) = all.split_at(all.len() - 4);
    let stored = u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]);
    if crc32(body) != stored {
        return Err(corrupt("block header checksum"));
    }
    let flags = body[1];
    let mut pos = 2;
    let compressed = (flags & 0x40 != 0)
        .then(|| varint(body, &mut pos))
        .transpose()?;
    let uncompressed = (flags & 0x80 != 0)
        .then(|| varint(body, &mut pos))
        .transpose()?;
    let filters = (flags & 0x03) + 1;
    let mut lzma2_props = None;
    if filters == 1 {
        let id = varint(body, &mut pos)?;
        let size = varint(body, &mut pos)?;
        if id == 0x21 && size == 1 {
            lzma2_props = body.get(pos).copied();
        }
    }
    Ok(BlockHeader {
        compressed,
        uncompressed,
        lzma2_props,
    })
}

fn raw_lzma2(props: u8) -> io::Result<Stream> {
    let mut filters = Filters::new();
    filters
        .lzma2_properties(&[props])
        .map_err(|e| corrupt(format!("LZMA2 properties: {e}")))?;
    Stream::new_raw_decoder(&filters).map_err(|e| corrupt(format!("LZMA2 decoder: {e}")))
}

/// Decode one block's LZMA2 data completely.
fn decode_block(job: &BlockJob) -> io::Result<Vec<u8>> {
    let out = decode_block_data(job)?;
    let mut checker = job.check.start();
    checker.update(&out);
    checker.verify(&job.stored_check)?;
    Ok(out)
}

fn decode_block_data(job: &BlockJob) -> io::Result<Vec<u8>> {
    let mut stream = raw_lzma2(job.props)?;
    let expected = job.uncompressed;
    // One spare byte: room for the decoder to show that the block is longer than announced.
    let mut out = Vec::with_capacity(expected as usize + 1);
    let mut input = &job.data[..];
    loop {
        let (in_before, out_before) = (stream.total_in(), out.len());
        let status = stream
            .process_vec(input, &mut out, Action::Run)
            .map_err(|e| corrupt(e.to_string()))?;
        let consumed = (stream.total_in() - in_before) as usize;
        input = &input[consumed..];
        if out.len() as u64 > expected {
            return Err(corrupt("block larger than its header says"));
        }
        if status == Status::StreamEnd {
            break;
        }
        if input.is_empty() || (consumed == 0 && out.len() == out_before) {
            return Err(corrupt("block data ends early"));
        }
    }
    if expected != out.len() as u64 {
        return Err(corrupt("block size differs from its header"));
    }
    Ok(out)
}

struct BlockJob {
    data: Vec<u8>,
    props: u8,
    uncompressed: u64,
    check: Check,
    /// The check field stored after the block.
    stored_check: Vec<u8>,
    reply: Sender<io::Result<Vec<u8>>>,
}

struct Queued {
    output: Receiver<io::Result<Vec<u8>>>,
    size: u64,
}

enum State {
    StreamHeader {
        first: bool,
    },
    Blocks,
    /// A block without a stored size, decoded in order on this thread.
    Sequential {
        stream: Stream,
        check: Check,
        checker: Checker,
    },
    Done,
}

/// Whether the first block of the stream at the start of `peeked` can be decoded here.
pub(crate) fn supports(peeked: &[u8]) -> bool {
    if peeked.len() < 13 || peeked[..6] != MAGIC {
        return false;
    }
    let first = peeked[12];
    if first == 0 {
        return true;
    }
    let size = (usize::from(first) + 1) * 4;
    match peeked.get(13..12 + size) {
        Some(rest) => parse_block_header(first, rest).is_ok_and(|h| h.lzma2_props.is_some()),
        None => false,
    }
}

/// Bytes [`supports`] needs at most: stream header plus the largest block header.
pub(crate) const PROBE_LEN: usize = 12 + 1024;

/// The decoder.
pub(crate) struct ParallelXzReader<R> {
    input: R,
    state: State,
    check: Check,
    queue: VecDeque<Queued>,
    queued_output: u64,
    current: Vec<u8>,
    pos: usize,
    jobs: Option<Sender<BlockJob>>,
    max_queue: usize,
}

impl<R: BufRead> ParallelXzReader<R> {
    pub(crate) fn new(input: R) -> Self {
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(16);
        let (tx, rx) = channel::<BlockJob>();
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..threads {
            let rx = rx.clone();
            std::thread::spawn(move || {
                loop {
                    let job = match rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    let Ok(job) = job else { return };
                    let result = decode_block(&job);
                    // The reader may be gone (error elsewhere): nothing to do then.
                    let _ = job.reply.send(result);
                }
            });
        }
        ParallelXzReader {
            input,
            state: State::StreamHeader { first: true },
            check: Check::None,
            queue: VecDeque::new(),
            queued_output: 0,
            current: Vec::new(),
            pos: 0,
            jobs: Some(tx),
            max_queue: threads + 1,
        }
    }

    /// Parse input and queue blocks until the queue is full, a sequential block or the end.
    fn fill_queue(&mut self) -> io::Result<()> {
        loop {
            match &mut self.state {
                State::Done | State::Sequential { .. } => return Ok(()),
                State::StreamHeader { first } => {
                    let first = *first;
                    if !first && !self.skip_padding()? {
                        self.state = State::Done;
                        return Ok(());
                    }
                    let header = read_exact_buf(&mut self.input, 12)?;
                    if header[..6] != MAGIC {
                        return Err(corrupt("bad stream header"));
                    }
                    if crc32(&header[6..8])
                        != u32::from_le_bytes([header[8], header[9], header[10], header[11]])
                    {
                        return Err(corrupt("stream header checksum"));
                    }
                    if header[6] != 0 || header[7] & 0xf0 != 0 {
                        return Err(corrupt("unsupported stream flags"));
                    }
                    self.check = Check::from_id(header[7])?;
                    self.state = State::Blocks;
                }
                State::Blocks => {
                    if self.queue.len() >= self.max_queue
                        || (self.queued_output >= MAX_QUEUED_OUTPUT && !self.queue.is_empty())
                    {
                        return Ok(());
                    }
                    let first = read_exact_buf(&mut self.input, 1)?[0];
                    if first == 0 {
                        self.skip_index()?;
                        self.state = State::StreamHeader { first: false };
                        continue;
                    }
                    let rest = read_exact_buf(&mut self.input, usize::from(first) * 4 + 3)?;
                    let header = parse_block_header(first, &rest)?;
                    let props = header
                        .lzma2_props
                        .ok_or_else(|| corrupt("a block with filters other than LZMA2 after LZMA2 blocks (not supported)"))?;
                    let (Some(compressed), Some(uncompressed)) =
                        (header.compressed, header.uncompressed)
                    else {
                        self.state = State::Sequential {
                            stream: raw_lzma2(props)?,
                            check: self.check,
                            checker: self.check.start(),
                        };
                        return Ok(());
                    };
                    if compressed > MAX_PARALLEL_BLOCK || uncompressed > MAX_PARALLEL_BLOCK {
                        self.state = State::Sequential {
                            stream: raw_lzma2(props)?,
                            check: self.check,
                            checker: self.check.start(),
                        };
                        return Ok(());
                    }
                    let padded = compressed.div_ceil(4) * 4;
                    let mut data =
                        read_exact_buf(&mut self.input, (padded as usize) + self.check.size())?;
                    let stored_check = data.split_off(padded as usize);
                    if data[compressed as usize..].iter().any(|&b| b != 0) {
                        return Err(corrupt("block padding is not zero"));
                    }
                    data.truncate(compressed as usize);
                    let (reply, output) = channel();
                    let size = uncompressed;
                    let job = BlockJob {
                        data,
                        props,
                        uncompressed,
                        check: self.check,
                        stored_check,
                        reply,
                    };
                    self.jobs
                        .as_ref()
                        .ok_or_else(|| io::Error::other("xz decoder closed"))?
                        .send(job)
                        .map_err(|_| io::Error::other("xz decoder threads stopped"))?;
                    self.queue.push_back(Queued { output, size });
                    self.queued_output += size;
                }
            }
        }
    }

    /// Skip stream padding (NUL bytes); `false` at the end of the input.
    fn skip_padding(&mut self) -> io::Result<bool> {
        loop {
            let buf = self.input.fill_buf()?;
            if buf.is_empty() {
                return Ok(false);
            }
            let zeros = buf.iter().take_while(|b| **b == 0).count();
            let all = zeros == buf.len();
            self.input.consume(zeros);
            if !all {
                return Ok(true);
            }
        }
    }

    /// Skip the index (after its 0 indicator byte) and the stream footer.
    fn skip_index(&mut self) -> io::Result<()> {
        let mut counted = CountingReader {
            inner: &mut self.input,
            count: 1,
        };
        let records = read_varint(&mut counted)?;
        for _ in 0..records {
            read_varint(&mut counted)?;
            read_varint(&mut counted)?;
        }
        let padding = (4 - counted.count % 4) % 4;
        read_exact_buf(&mut self.input, padding as usize + 4)?;
        let footer = read_exact_buf(&mut self.input, 12)?;
        if footer[10..12] != FOOTER_MAGIC {
            return Err(corrupt("bad stream footer"));
        }
        Ok(())
    }

    /// Decode from a block without a stored size into `buf`.
    fn read_sequential(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let State::Sequential {
            stream,
            check,
            checker,
        } = &mut self.state
        else {
            return Ok(0);
        };
        loop {
            let input = self.input.fill_buf()?;
            let eof = input.is_empty();
            let (in_before, out_before) = (stream.total_in(), stream.total_out());
            let status = stream
                .process(input, buf, Action::Run)
                .map_err(|e| corrupt(e.to_string()))?;
            let consumed = (stream.total_in() - in_before) as usize;
            let produced = (stream.total_out() - out_before) as usize;
            self.input.consume(consumed);
            checker.update(&buf[..produced]);
            if status == Status::StreamEnd {
                let compressed = stream.total_in();
                let padding = (compressed.div_ceil(4) * 4 - compressed) as usize;
                let mut tail = read_exact_buf(&mut self.input, padding + check.size())?;
                let stored = tail.split_off(padding);
                if tail.iter().any(|&b| b != 0) {
                    return Err(corrupt("block padding is not zero"));
                }
                std::mem::replace(checker, Checker::None).verify(&stored)?;
                self.state = State::Blocks;
                return Ok(produced);
            }
            if produced > 0 {
                return Ok(produced);
            }
            if eof {
                return Err(truncated());
            }
        }
    }
}

struct CountingReader<'a, R> {
    inner: &'a mut R,
    count: u64,
}

impl<R: BufRead> Read for CountingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

impl<R: BufRead> BufRead for CountingReader<'_, R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }
    fn consume(&mut self, amt: usize) {
        self.count += amt as u64;
        self.inner.consume(amt);
    }
}

impl<R: BufRead> Read for ParallelXzReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.pos >= self.current.len()
            && matches!(self.state, State::Sequential { .. })
            && self.queue.is_empty()
        {
            return self.read_sequential(buf);
        }
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for ParallelXzReader<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.pos >= self.current.len() {
            self.fill_queue()?;
            if let Some(next) = self.queue.pop_front() {
                self.queued_output -= next.size;
                self.current = next
                    .output
                    .recv()
                    .map_err(|_| io::Error::other("xz decoder thread stopped"))??;
                self.pos = 0;
                continue;
            }
            match self.state {
                State::Sequential { .. } => {
                    // Decode the next piece of a block without stored size into `current`.
                    let mut chunk = std::mem::take(&mut self.current);
                    chunk.resize(1 << 20, 0);
                    let n = self.read_sequential(&mut chunk)?;
                    chunk.truncate(n);
                    self.current = chunk;
                    self.pos = 0;
                }
                State::Done => break,
                _ => {}
            }
        }
        Ok(&self.current[self.pos.min(self.current.len())..])
    }

    fn consume(&mut self, amt: usize) {
        self.pos += amt;
    }
}

impl<R> Drop for ParallelXzReader<R> {
    fn drop(&mut self) {
        // Closing the job channel ends the worker threads.
        self.jobs = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use liblzma::stream::{Check, LzmaOptions, MtStreamBuilder};
    use std::io::Write;

    fn data(len: usize) -> Vec<u8> {
        // Compressible but not trivial.
        (0..len).map(|i| ((i * 7) ^ (i >> 9)) as u8 % 61).collect()
    }

    fn multi_block(input: &[u8], block: u64) -> Vec<u8> {
        let stream = MtStreamBuilder::new()
            .threads(2)
            .block_size(block)
            .preset(1)
            .check(Check::Crc64)
            .encoder()
            .unwrap();
        let mut e = liblzma::write::XzEncoder::new_stream(Vec::new(), stream);
        e.write_all(input).unwrap();
        e.finish().unwrap()
    }

    fn single_block(input: &[u8]) -> Vec<u8> {
        let mut e = liblzma::write::XzEncoder::new(Vec::new(), 1);
        e.write_all(input).unwrap();
        e.finish().unwrap()
    }

    fn first_block_sized(xz: &[u8]) -> bool {
        let first = xz[12];
        let rest = &xz[13..12 + (usize::from(first) + 1) * 4];
        parse_block_header(first, rest)
            .unwrap()
            .compressed
            .is_some()
    }

    fn decode(compressed: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        ParallelXzReader::new(io::BufReader::with_capacity(4096, compressed))
            .read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn blocks_with_sizes_are_decoded_in_parallel_and_in_order() {
        let input = data(3_000_000);
        let xz = multi_block(&input, 100_000);
        assert!(supports(&xz) && first_block_sized(&xz));
        assert_eq!(decode(&xz).unwrap(), input);
    }

    #[test]
    fn blocks_without_sizes_are_decoded_in_sequence() {
        let input = data(500_000);
        let xz = single_block(&input);
        assert!(supports(&xz) && !first_block_sized(&xz));
        assert_eq!(decode(&xz).unwrap(), input);
    }

    #[test]
    fn concatenated_streams_with_padding() {
        let (a, b) = (data(300_000), data(200_000));
        let mut xz = multi_block(&a, 64 * 1024);
        xz.extend([0u8; 8]);
        xz.extend(single_block(&b));
        let mut expected = a.clone();
        expected.extend(&b);
        assert_eq!(decode(&xz).unwrap(), expected);
    }

    #[test]
    fn the_xz_command_output_decodes() {
        let input = data(2_000_000);
        let mut child = std::process::Command::new("xz")
            .args(["-T2", "--block-size=300000", "-1", "-c"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("xz is needed: apt-get install xz-utils");
        let mut stdin = child.stdin.take().unwrap();
        let feed = input.clone();
        let writer = std::thread::spawn(move || stdin.write_all(&feed).unwrap());
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap();
        assert!(supports(&out.stdout) && first_block_sized(&out.stdout));
        assert_eq!(decode(&out.stdout).unwrap(), input);
    }

    #[test]
    fn other_filters_fall_back_to_liblzma() {
        let input = data(200_000);
        let mut filters = Filters::new();
        filters.x86();
        filters.lzma2(&LzmaOptions::new_preset(1).unwrap());
        let stream = Stream::new_stream_encoder(&filters, Check::Crc64).unwrap();
        let mut e = liblzma::write::XzEncoder::new_stream(Vec::new(), stream);
        e.write_all(&input).unwrap();
        let xz = e.finish().unwrap();
        assert!(!supports(&xz));
        let (_, mut d) =
            crate::compression::decoder_with(io::BufReader::new(&xz[..]), true).unwrap();
        let mut out = Vec::new();
        d.read_to_end(&mut out).unwrap();
        assert_eq!(out, input);
    }

    #[test]
    fn truncated_and_corrupt_input_are_errors() {
        let input = data(1_000_000);
        let xz = multi_block(&input, 100_000);
        for cut in [20, xz.len() / 2, xz.len() - 13] {
            assert!(decode(&xz[..cut]).is_err(), "cut at {cut}");
        }
        // Damaged compressed data: the LZMA2 decoder or the block's CRC64 refuses it, whatever
        // the byte (no wrong output is ever returned).
        for at in [xz.len() / 3, xz.len() / 2, 2 * xz.len() / 3] {
            for mask in [0x01, 0x55, 0x80] {
                let mut bad = xz.clone();
                bad[at] ^= mask;
                assert!(decode(&bad).is_err(), "byte {at} ^ {mask:#x}");
            }
        }
        let mut bad_header = xz.clone();
        bad_header[14] ^= 0x01; // inside the first block header: its CRC32 fails
        assert!(decode(&bad_header).is_err());
    }
}
