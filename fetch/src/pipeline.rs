//! One streaming pass: a producer thread reads bytes (network, `file://`, cache), hashes them,
//! optionally appends them to a partial file, and hands them to the extracting thread.

use std::fs::File;
use std::io::{self, BufRead, Read, Write};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use crate::Sha256Hasher;
use crate::download::{self, BodySink, ResponseInfo};
use crate::extract::{self, ExtractOptions, ExtractReport};

enum Message {
    Data(Vec<u8>),
    End,
}

/// Where the bytes of a transfer go: hashed always, appended to a partial file if any, and sent
/// to the extractor if one runs.
pub(crate) struct TeeSink {
    pub(crate) hasher: Sha256Hasher,
    pub(crate) part: Option<File>,
    /// `(validator file, url)`: the validator of each response is recorded for a later resume.
    pub(crate) validator_file: Option<(PathBuf, String)>,
    pub(crate) bytes: u64,
    tx: Option<SyncSender<Message>>,
    pending: Vec<u8>,
}

impl TeeSink {
    pub(crate) fn new(part: Option<File>, validator_file: Option<(PathBuf, String)>) -> Self {
        TeeSink {
            hasher: Sha256Hasher::new(),
            part,
            validator_file,
            bytes: 0,
            tx: None,
            pending: Vec::new(),
        }
    }

    /// Hash the bytes and pass them on to the extractor, without writing them to the part file
    /// (used to replay what a partial file already holds).
    pub(crate) fn forward(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.hasher.update(bytes);
        self.bytes += bytes.len() as u64;
        if self.tx.is_some() {
            // Network reads come in small pieces: hand them on in large chunks.
            self.pending.extend_from_slice(bytes);
            if self.pending.len() >= CHUNK {
                self.send_pending()?;
            }
        }
        Ok(())
    }

    fn send_pending(&mut self) -> io::Result<()> {
        if let Some(tx) = &self.tx
            && !self.pending.is_empty()
        {
            let chunk =
                std::mem::replace(&mut self.pending, Vec::with_capacity(CHUNK + 256 * 1024));
            tx.send(Message::Data(chunk))
                .map_err(|_| io::Error::other("the extraction stopped"))?;
        }
        Ok(())
    }
}

/// Bytes handed to the extractor at once.
const CHUNK: usize = 512 * 1024;
/// Chunks queued at most between the download and the extractor (the read-ahead).
const QUEUED_CHUNKS: usize = 64;

impl BodySink for TeeSink {
    fn response(&mut self, info: &ResponseInfo) -> io::Result<()> {
        if let Some((path, url)) = &self.validator_file {
            std::fs::write(
                path,
                format!("{url}\n{}\n", info.validator.as_deref().unwrap_or("")),
            )?;
        }
        Ok(())
    }

    fn data(&mut self, bytes: &[u8]) -> io::Result<()> {
        if let Some(part) = &mut self.part {
            part.write_all(bytes)?;
        }
        self.forward(bytes)
    }
}

/// Reads what the producer thread sends; an error if the producer stopped without finishing.
struct ChannelReader {
    rx: Receiver<Message>,
    chunk: Vec<u8>,
    pos: usize,
    ended: bool,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for ChannelReader {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.pos >= self.chunk.len() && !self.ended {
            match self.rx.recv() {
                Ok(Message::Data(chunk)) => {
                    self.chunk = chunk;
                    self.pos = 0;
                }
                Ok(Message::End) => self.ended = true,
                Err(_) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the download stopped before the end of the archive",
                    ));
                }
            }
        }
        Ok(&self.chunk[self.pos.min(self.chunk.len())..])
    }

    fn consume(&mut self, amt: usize) {
        self.pos += amt;
    }
}

/// Outcome of [`run`]: the producer's result with the finished hasher, and the extraction result
/// if an extraction ran.
pub(crate) struct PipelineOutcome {
    pub(crate) produced: Result<(ResponseInfo, TeeSink), download::Error>,
    pub(crate) extracted: Option<Result<ExtractReport, extract::Error>>,
}

/// Run `produce` on a thread, feeding `sink`; extract into `extract_into` on this thread.
pub(crate) fn run<P>(
    mut sink: TeeSink,
    produce: P,
    extract_into: Option<(&std::path::Path, &ExtractOptions)>,
    hash_verified: bool,
    should_interrupt: &AtomicBool,
) -> PipelineOutcome
where
    P: FnOnce(&mut TeeSink) -> Result<ResponseInfo, download::Error> + Send,
{
    std::thread::scope(|scope| {
        let rx = extract_into.map(|_| {
            let (tx, rx) = sync_channel(QUEUED_CHUNKS);
            sink.tx = Some(tx);
            rx
        });
        let producer = scope.spawn(move || {
            let mut result = produce(&mut sink);
            if result.is_ok()
                && let Err(source) = sink.send_pending()
            {
                result = Err(download::Error::Sink {
                    url: String::new(),
                    source,
                });
            }
            if result.is_ok()
                && let Some(tx) = &sink.tx
            {
                // The extractor may have finished already; that is fine.
                let _ = tx.send(Message::End);
            }
            sink.tx = None;
            if let Some(part) = &mut sink.part
                && let Err(source) = part.flush()
            {
                return Err(download::Error::Sink {
                    url: String::new(),
                    source,
                });
            }
            result.map(|info| (info, sink))
        });
        let extracted = match (extract_into, rx) {
            (Some((root, options)), Some(rx)) => {
                let mut reader = ChannelReader {
                    rx,
                    chunk: Vec::new(),
                    pos: 0,
                    ended: false,
                };
                let result = extract::unpack_into(
                    &mut reader,
                    root,
                    options,
                    hash_verified,
                    should_interrupt,
                );
                if result.is_ok() {
                    // The tar end marker may come before the end of the file: hash it all.
                    let _ = io::copy(&mut reader, &mut io::sink());
                }
                drop(reader);
                Some(result)
            }
            _ => None,
        };
        let produced = producer.join().unwrap_or_else(|_| {
            Err(download::Error::Sink {
                url: String::new(),
                source: io::Error::other("the download thread panicked"),
            })
        });
        PipelineOutcome {
            produced,
            extracted,
        }
    })
}
