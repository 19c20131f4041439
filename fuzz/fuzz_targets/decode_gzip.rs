//! Gzip CloudTrail objects, checked against an independent inflate.
//!
//! The first byte chooses how the rest is used. `selector % 5 == 0`: the rest is the object as
//! stored, damaged gzip included. Otherwise the rest is JSON text, cut into at most `selector % 5`
//! pieces of equal length, each compressed as its own gzip member (as `cat a.gz b.gz` makes) at
//! level `selector / 5 % 10`.

#![no_main]

use std::io::{Read, Write};

use ctidx::ingest::decode::{Limits, decode_json, decode_object};
use ctidx_fuzz::{assert_same_outcome, check_batch, outcome};
use flate2::Compression;
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    match selector % 5 {
        0 => check_stored(body),
        members => check_members(
            body,
            usize::from(members),
            Compression::new(u32::from(selector / 5 % 10)),
        ),
    }
});

/// Whatever an independent streaming inflate reads from `object`, the decoder reads too.
fn check_stored(object: &[u8]) {
    let limits = Limits::default();
    let decoded = outcome(decode_object(object, limits));
    if !object.starts_with(&[0x1f, 0x8b]) {
        return;
    }
    let mut text = Vec::new();
    let inflated = MultiGzDecoder::new(object)
        .take(limits.max_object_bytes + 1)
        .read_to_end(&mut text);
    // Only one direction is checked: a header checksum or trailing bytes that the streaming
    // inflate refuses may be read leniently.
    if inflated.is_err() || text.len() as u64 > limits.max_object_bytes {
        return;
    }
    let expected = outcome(decode_json(&text, limits));
    assert_same_outcome(
        &decoded,
        &expected,
        "the decoder reads other text than gzip holds",
    );
    if let Ok(batch) = &decoded {
        check_batch(&text, batch);
    }
}

/// `text` compressed as `members` gzip members decodes as `text` itself.
fn check_members(text: &[u8], members: usize, level: Compression) {
    let limits = Limits::default();
    let mut object = Vec::new();
    for part in text.chunks(text.len().div_ceil(members).max(1)) {
        let mut encoder = GzEncoder::new(Vec::new(), level);
        encoder.write_all(part).expect("in memory");
        object.extend(encoder.finish().expect("in memory"));
    }
    if text.is_empty() {
        let encoder = GzEncoder::new(Vec::new(), level);
        object.extend(encoder.finish().expect("in memory"));
    }
    let decoded = outcome(decode_object(&object, limits));
    let expected = outcome(decode_json(text, limits));
    assert_same_outcome(
        &decoded,
        &expected,
        &format!("{members} gzip member(s) decode otherwise than their text"),
    );
    if let Ok(batch) = &decoded {
        check_batch(text, batch);
    }
}
