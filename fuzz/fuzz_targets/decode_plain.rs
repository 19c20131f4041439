//! Uncompressed CloudTrail objects: `{"Records":[...]}` or a bare array of records.

#![no_main]

use ctidx::ingest::decode::{Limits, decode_object};
use ctidx_fuzz::check_batch;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        // Read as gzip: the decode_gzip target's ground.
        return;
    }
    if let Ok(batch) = decode_object(bytes, Limits::default()) {
        check_batch(bytes, &batch);
    }
});
