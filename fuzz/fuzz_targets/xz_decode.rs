//! The xz container parser of the block-parallel decoder (pinned archives) against liblzma's
//! own decoder (unpinned archives): neither panics or hangs, and when both accept the input they
//! produce the same bytes. Output is capped so a tiny input cannot claim gigabytes.
#![no_main]

use std::io::{self, BufRead, Read};

use kforge_fetch::compression;
use libfuzzer_sys::fuzz_target;

const CAP: u64 = 8 << 20;

fn decode(
    d: io::Result<(compression::Compression, Box<dyn BufRead + Send + '_>)>,
) -> Option<Vec<u8>> {
    let (_, reader) = d.ok()?;
    let mut out = Vec::new();
    reader.take(CAP).read_to_end(&mut out).ok()?;
    (out.len() < CAP as usize).then_some(out)
}

fuzz_target!(|data: &[u8]| {
    if !data.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        return;
    }
    let parallel = decode(compression::decoder_for_pinned(
        io::BufReader::with_capacity(64, data),
    ));
    let checked = decode(compression::decoder(io::BufReader::with_capacity(64, data)));
    if let (Some(parallel), Some(checked)) = (parallel, checked) {
        assert!(parallel == checked, "the two xz decoders disagree");
    }
});
