//! Bytes of one CloudTrail object → one Arrow [`RecordBatch`] with [`schema::file_schema`].
//!
//! Accepts what AWS delivers (gzip or plain `{"Records":[...]}`) and a bare JSON array of records.
//! Every problem is a [`DecodeError`] that says what is wrong and where; the caller names the file.

use std::cell::RefCell;
use std::fmt;
use std::io::Read;

use arrow::array::RecordBatch;
use serde::de::DeserializeSeed;

mod columns;
mod nested;
mod record;

use columns::BatchBuilder;
use record::{EnvelopeSeed, RecordsSeed};

/// Limits that keep a hostile or broken object from exhausting memory.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest decompressed object accepted.
    pub max_object_bytes: u64,
    /// Largest single record accepted (CloudTrail itself caps events far below this).
    pub max_record_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_object_bytes: 2 << 30,
            max_record_bytes: 16 << 20,
        }
    }
}

/// JSON documents that sit beside CloudTrail logs in a working folder and are recognisably not logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NotCloudTrail {
    AuthorizationDetails,
    PolicyDocument,
    Digest,
    CloudTrackerConfig,
}

impl NotCloudTrail {
    /// What an object of this top-level keys is, when they name another known document. A
    /// `Records` key always means a log, broken or not.
    pub fn recognise<'a>(keys: impl IntoIterator<Item = &'a str> + Clone) -> Option<NotCloudTrail> {
        let has = |wanted: &[&str]| keys.clone().into_iter().any(|key| wanted.contains(&key));
        if has(&["Records"]) {
            None
        } else if has(&[
            "UserDetailList",
            "GroupDetailList",
            "RoleDetailList",
            "Policies",
        ]) {
            Some(NotCloudTrail::AuthorizationDetails)
        } else if has(&["Statement", "PolicyDocument", "PolicyVersion"]) {
            Some(NotCloudTrail::PolicyDocument)
        } else if has(&[
            "digestStartTime",
            "digestEndTime",
            "digestPublicKeyFingerprint",
        ]) {
            Some(NotCloudTrail::Digest)
        } else if has(&["accounts"]) {
            Some(NotCloudTrail::CloudTrackerConfig)
        } else {
            None
        }
    }
}

impl fmt::Display for NotCloudTrail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NotCloudTrail::AuthorizationDetails => "IAM authorization details",
            NotCloudTrail::PolicyDocument => "IAM policy document",
            NotCloudTrail::Digest => "CloudTrail digest",
            NotCloudTrail::CloudTrackerConfig => "CloudTracker config",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("empty file (0 bytes)")]
    Empty,
    #[error("not valid gzip: {0}")]
    Gzip(std::io::Error),
    #[error("decompresses to more than {limit} bytes; refusing to read further")]
    TooLarge { limit: u64 },
    #[error("invalid JSON: {0}")]
    Json(String),
    #[error("wrong top-level shape: {0}")]
    Shape(String),
    #[error("not a CloudTrail log: {0}")]
    NotCloudTrail(NotCloudTrail),
    #[error("record {index}: {message}")]
    Record { index: usize, message: String },
}

/// Decompresses `bytes` if they are gzip (by magic number, not by name) and decodes the records.
pub fn decode_object(bytes: &[u8], limits: Limits) -> Result<RecordBatch, DecodeError> {
    if bytes.is_empty() {
        return Err(DecodeError::Empty);
    }
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return decode_json(bytes, limits);
    }
    if let Some(size) = trusted_trailer_size(bytes, limits.max_object_bytes) {
        let decoded = INFLATER.with_borrow_mut(|inflater| {
            let text = inflater.inflate_whole(bytes, size)?;
            let decoded = decode_text(text, limits);
            inflater.shrink();
            Some(decoded)
        });
        if let Some(decoded) = decoded {
            return decoded;
        }
    }
    decode_text(&gunzip_streaming(bytes, limits.max_object_bytes)?, limits)
}

fn decode_text(text: &[u8], limits: Limits) -> Result<RecordBatch, DecodeError> {
    if text.is_empty() {
        return Err(DecodeError::Empty);
    }
    decode_json(text, limits)
}

/// Deflate's densest encoding turns 258 bytes into about 2 bits, so no stream inflates beyond about
/// 1,032 times its size.
const MAX_DEFLATE_RATIO: u64 = 1032;

/// Inflated text at most this long stays with its thread for the next object.
const KEPT_TEXT_BYTES: usize = 16 << 20;

thread_local! {
    static INFLATER: RefCell<Inflater> = RefCell::new(Inflater::default());
}

/// A decoding thread's decompressor and the buffer of the object it inflated last. A fresh buffer
/// for each object (half a megabyte of CloudTrail JSON) was zeroed, then faulted in page by page.
#[derive(Default)]
struct Inflater {
    decompressor: Option<libdeflater::Decompressor>,
    text: Vec<u8>,
}

impl Inflater {
    /// CloudTrail writes one gzip member, whose trailer gives its inflated `size`: such a member is
    /// inflated by libdeflate in one call, about twice as fast as streaming. Anything else (several
    /// members, a size that does not match, damage) gives `None`, for the streaming path, which
    /// reports the error.
    fn inflate_whole(&mut self, bytes: &[u8], size: usize) -> Option<&[u8]> {
        if self.text.len() < size {
            self.text.resize(size, 0);
        }
        let text = &mut self.text[..size];
        let inflated = self
            .decompressor
            .get_or_insert_with(libdeflater::Decompressor::new)
            .gzip_decompress(bytes, text);
        (inflated.is_ok_and(|n| n == size) && first_member_is_whole(bytes)).then_some(&*text)
    }

    fn shrink(&mut self) {
        if self.text.len() > KEPT_TEXT_BYTES {
            self.text = Vec::new();
        }
    }
}

/// Inflates gzip data of at most `limit` bytes.
#[cfg(test)]
fn gunzip(bytes: &[u8], limit: u64) -> Result<Vec<u8>, DecodeError> {
    if let Some(size) = trusted_trailer_size(bytes, limit) {
        let mut inflater = Inflater::default();
        if let Some(text) = inflater.inflate_whole(bytes, size) {
            return Ok(text.to_vec());
        }
    }
    gunzip_streaming(bytes, limit)
}

fn gunzip_streaming(bytes: &[u8], limit: u64) -> Result<Vec<u8>, DecodeError> {
    let mut text = Vec::with_capacity(bytes.len().saturating_mul(8));
    flate2::read::MultiGzDecoder::new(bytes)
        .take(limit + 1)
        .read_to_end(&mut text)
        .map_err(DecodeError::Gzip)?;
    if text.len() as u64 > limit {
        return Err(DecodeError::TooLarge { limit });
    }
    Ok(text)
}

/// Whether the gzip member libdeflate inflated spans all of `bytes`: libdeflate stops after the
/// first member and ignores what follows. Having inflated as many bytes as the input's last four
/// say, that member's own size field holds those same four bytes, so a member that ends early (two
/// members of equal size, trailing data) shows them before the end. A chance earlier occurrence
/// only sends the input down the streaming path.
fn first_member_is_whole(bytes: &[u8]) -> bool {
    let Some(trailer_at) = bytes.len().checked_sub(4) else {
        return false;
    };
    memchr::memmem::find(bytes, &bytes[trailer_at..]) == Some(trailer_at)
}

/// The inflated size a gzip trailer records (modulo 2^32, as gzip stores it), when it is within
/// `limit` and within what the compressed bytes can hold: memory of that size is set aside at once.
fn trusted_trailer_size(bytes: &[u8], limit: u64) -> Option<usize> {
    let trailer: [u8; 4] = bytes.get(bytes.len().checked_sub(4)?..)?.try_into().ok()?;
    let size = u64::from(u32::from_le_bytes(trailer));
    let inflatable = (bytes.len() as u64).saturating_mul(MAX_DEFLATE_RATIO);
    (size <= limit.min(inflatable)).then_some(size as usize)
}

/// Decodes uncompressed JSON: `{"Records":[...]}` or `[...]`.
pub fn decode_json(text: &[u8], limits: Limits) -> Result<RecordBatch, DecodeError> {
    let first = text.iter().find(|b| !b.is_ascii_whitespace());
    // Checked once for the whole object, so that serde_json need not check every value it borrows.
    let text = simdutf8::compat::from_utf8(text).map_err(|e| {
        DecodeError::Json(format!(
            "not UTF-8: invalid byte at offset {}",
            e.valid_up_to()
        ))
    })?;
    let mut builder = BatchBuilder::new(text.len());
    let mut failure = None;
    let seed = RecordsSeed {
        builder: &mut builder,
        limits,
        failure: &mut failure,
        index: 0,
        text,
    };
    let mut de = serde_json::Deserializer::from_str(text);
    let outcome = match first {
        Some(b'{') => EnvelopeSeed(seed).deserialize(&mut de),
        Some(b'[') => seed.deserialize(&mut de),
        Some(_) => {
            return Err(DecodeError::Shape(
                "expected {\"Records\":[...]} or a JSON array of records".into(),
            ));
        }
        None => return Err(DecodeError::Empty),
    };
    if let Some(failure) = failure {
        return Err(failure);
    }
    outcome.map_err(|e| DecodeError::Json(e.to_string()))?;
    de.end().map_err(|e| DecodeError::Json(e.to_string()))?;
    builder.finish()
}

#[cfg(test)]
mod tests {
    use super::record::push_json_string;
    use super::*;
    use crate::store::schema::{self, EXTRA_FIELDS, Field, Kind, RECORD};
    use arrow::array::{Array, AsArray};

    fn decode(text: &str) -> Result<RecordBatch, DecodeError> {
        decode_json(text.as_bytes(), Limits::default())
    }

    const MINIMAL: &str = r#"{"eventVersion":"1.08","eventTime":"2024-03-01T10:00:00Z","eventSource":"s3.amazonaws.com","eventName":"ListBuckets","eventID":"e1","readOnly":true}"#;

    #[test]
    fn recognises_documents_that_are_not_logs() {
        let cases: [(&[&str], Option<NotCloudTrail>); 8] = [
            (&["Records"], None),
            (&["Records", "UserDetailList"], None),
            (
                &[
                    "UserDetailList",
                    "GroupDetailList",
                    "RoleDetailList",
                    "Policies",
                ],
                Some(NotCloudTrail::AuthorizationDetails),
            ),
            (
                &["RoleDetailList"],
                Some(NotCloudTrail::AuthorizationDetails),
            ),
            (
                &["Version", "Statement"],
                Some(NotCloudTrail::PolicyDocument),
            ),
            (
                &[
                    "awsAccountId",
                    "digestStartTime",
                    "digestEndTime",
                    "logFiles",
                ],
                Some(NotCloudTrail::Digest),
            ),
            (
                &["accounts", "athena"],
                Some(NotCloudTrail::CloudTrackerConfig),
            ),
            (&["eventTime", "eventName"], None),
        ];
        for (keys, expected) in cases {
            assert_eq!(
                NotCloudTrail::recognise(keys.iter().copied()),
                expected,
                "{keys:?}"
            );
        }
    }

    #[test]
    fn accepts_records_envelope_and_bare_array() {
        for text in [
            format!("{{\"Records\":[{MINIMAL}]}}"),
            format!("[{MINIMAL},{MINIMAL}]"),
        ] {
            let batch = decode(&text).expect("decodes");
            assert!(batch.num_rows() >= 1);
        }
        assert_eq!(
            decode("{\"Records\":[]}").map(|b| b.num_rows()).ok(),
            Some(0)
        );
    }

    #[test]
    fn rejects_bad_input_with_a_reason() {
        let cases: &[(&str, &str)] = &[
            ("", "empty"),
            ("   ", "empty"),
            ("{\"Records\":[", "invalid JSON"),
            ("{\"Foo\":[]}", "without a Records array"),
            ("\"text\"", "wrong top-level shape"),
            (
                "{\"Records\":[1]}",
                "record 0: expected an object, found a number",
            ),
            (
                r#"{"Records":[{"eventTime":"2024-03-01T10:00:00Z","eventName":"X","eventID":"e"}]}"#,
                "missing eventSource",
            ),
            (
                r#"{"Records":[{"eventSource":"s3.amazonaws.com","eventName":"X","eventID":"e"}]}"#,
                "missing eventTime",
            ),
            (
                r#"{"Records":[{"eventTime":"yesterday","eventSource":"s","eventName":"X","eventID":"e"}]}"#,
                "not an ISO-8601",
            ),
            (
                r#"{"Records":[{"eventTime":"2024-03-01T10:00:00Z","eventSource":"s","eventName":"X","eventID":"e","userIdentity":"root"}]}"#,
                "userIdentity: expected an object, found a string",
            ),
            (
                r#"{"Records":[{"eventTime":"2024-03-01T10:00:00Z","eventSource":"s","eventName":"X","eventID":"e","userIdentity":{"sessionContext":{"sessionIssuer":[]}}}]}"#,
                "sessionIssuer: expected an object, found an array",
            ),
            (
                r#"{"Records":[{"eventTime":"2024-03-01T10:00:00Z","eventSource":{"a":1},"eventName":"X","eventID":"e"}]}"#,
                "eventSource: expected a string",
            ),
            (
                r#"{"Records":[{"eventTime":"2024-03-01T10:00:00Z","eventSource":"s","eventName":"X","eventID":"e","resources":{}}]}"#,
                "resources: expected an array",
            ),
        ];
        for (input, expected) in cases {
            let err = decode(input).expect_err(input).to_string();
            assert!(
                err.contains(expected),
                "{input:?}: got {err:?}, want {expected:?}"
            );
        }
    }

    #[test]
    fn bytes_that_are_not_utf8_are_refused_with_their_offset() {
        let mut text = format!("{{\"Records\":[{MINIMAL}]}}").into_bytes();
        let at = text.len() - 10;
        text[at] = 0xff;
        let err = decode_json(&text, Limits::default())
            .expect_err("not UTF-8")
            .to_string();
        assert!(
            err.contains(&format!("not UTF-8: invalid byte at offset {at}")),
            "{err}"
        );
    }

    #[test]
    fn text_members_count_as_their_json_strings_escapes_included() {
        for user_agent in [r#""plain agent""#, r#""a\u0041\"b\\""#, r#""\\""#] {
            let record = format!(
                r#"{{"eventTime":"2024-03-01T10:00:00Z","eventSource":"s","eventName":"X","eventID":"e","userAgent":{user_agent}}}"#
            );
            let members: std::collections::BTreeMap<String, Box<serde_json::value::RawValue>> =
                serde_json::from_str(&record).expect("a record");
            let size: usize = members.iter().map(|(k, v)| k.len() + v.get().len()).sum();
            let text = format!(r#"{{"Records":[{record}]}}"#);
            let at_most = |max_record_bytes| {
                decode_json(
                    text.as_bytes(),
                    Limits {
                        max_record_bytes,
                        ..Limits::default()
                    },
                )
            };
            let batch = at_most(size).expect("a record of exactly the limit");
            let stored = schema::text_column(&batch, "useragent").expect("useragent");
            let expected: String = serde_json::from_str(user_agent).expect("a string");
            assert_eq!(stored.value(0), expected);
            assert!(
                batch
                    .column_by_name(EXTRA_FIELDS)
                    .expect("extra")
                    .is_null(0)
            );
            let err = at_most(size - 1).expect_err("one byte over").to_string();
            assert!(err.contains(&format!("{size} bytes, larger")), "{err}");
        }
    }

    #[test]
    fn rejects_huge_record_and_gzip_problems() {
        let big = format!(
            r#"{{"Records":[{{"eventTime":"2024-03-01T10:00:00Z","eventSource":"s","eventName":"X","eventID":"e","requestParameters":"{}"}}]}}"#,
            "x".repeat(2000)
        );
        let limits = Limits {
            max_record_bytes: 1000,
            ..Limits::default()
        };
        let err = decode_json(big.as_bytes(), limits)
            .expect_err("too big")
            .to_string();
        assert!(err.contains("larger than the 1000 byte limit"), "{err}");
        // A nested member counts whole, read in place and last in its record.
        let identity = format!(r#"{{"userName":"{}"}}"#, "y".repeat(2000));
        for big in [
            format!(
                r#"{{"Records":[{{"eventTime":"2024-03-01T10:00:00Z","eventSource":"s","eventName":"X","eventID":"e","userIdentity":{identity}}}]}}"#
            ),
            format!(
                r#"{{"Records":[{{"userIdentity":{identity},"eventTime":"2024-03-01T10:00:00Z","eventSource":"s","eventName":"X","eventID":"e"}}]}}"#
            ),
        ] {
            let err = decode_json(big.as_bytes(), limits)
                .expect_err("too big")
                .to_string();
            assert!(
                err.contains("bytes, larger than the 1000 byte limit"),
                "{err}"
            );
        }

        let mut gz = Vec::new();
        {
            use std::io::Write;
            let mut enc = flate2::write::GzEncoder::new(&mut gz, flate2::Compression::default());
            enc.write_all(format!("{{\"Records\":[{MINIMAL}]}}").as_bytes())
                .ok();
        }
        assert_eq!(
            decode_object(&gz, Limits::default())
                .map(|b| b.num_rows())
                .ok(),
            Some(1)
        );
        let truncated = &gz[..gz.len() / 2];
        let err = decode_object(truncated, Limits::default())
            .expect_err("truncated")
            .to_string();
        assert!(err.contains("gzip"), "{err}");
        let small = Limits {
            max_object_bytes: 10,
            ..Limits::default()
        };
        assert!(matches!(
            decode_object(&gz, small),
            Err(DecodeError::TooLarge { .. })
        ));
    }

    fn gzip(text: &str) -> Vec<u8> {
        use std::io::Write;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(text.as_bytes()).expect("in memory");
        encoder.finish().expect("in memory")
    }

    #[test]
    fn gunzip_takes_one_member_fast_and_the_rest_streaming() {
        let first = format!("{{\"Records\":[{MINIMAL},");
        let second = format!("{MINIMAL}]}}");
        let single = gzip(&(first.clone() + &second));
        assert_eq!(
            gunzip(&single, 1 << 20).ok(),
            Some((first.clone() + &second).into_bytes())
        );

        // Two members (as `cat a.gz b.gz` makes): the trailer only gives the second one's size.
        let mut two = gzip(&first);
        two.extend(gzip(&second));
        let batch = decode_object(&two, Limits::default()).expect("both members");
        assert_eq!(batch.num_rows(), 2);

        // A trailer that lies about the size, and a damaged CRC, are both errors, not short reads.
        let mut wrong_size = single.clone();
        let at = wrong_size.len() - 4;
        wrong_size[at] ^= 1;
        assert!(matches!(
            gunzip(&wrong_size, 1 << 20),
            Err(DecodeError::Gzip(_))
        ));
        let mut wrong_crc = single.clone();
        wrong_crc[at - 1] ^= 1;
        assert!(matches!(
            gunzip(&wrong_crc, 1 << 20),
            Err(DecodeError::Gzip(_))
        ));
        // A trailer claiming more than the limit is not trusted either.
        assert!(matches!(
            gunzip(&single, 10),
            Err(DecodeError::TooLarge { .. })
        ));
    }

    /// Found by the `decode_gzip` fuzz target: two members of equal size read as the first alone,
    /// because the fast path trusted the last trailer, which the first member's size matched.
    #[test]
    fn members_of_equal_size_are_all_read() {
        let mut two = gzip("aaaa");
        two.extend(gzip("bbbb"));
        assert_eq!(gunzip(&two, 1 << 20).ok(), Some(b"aaaabbbb".to_vec()));
        let mut trailing = gzip("aaaa");
        trailing.extend(&trailing.clone()[trailing.len() - 8..]);
        assert!(gunzip(&trailing, 1 << 20).is_err());
    }

    proptest::proptest! {
        /// The trailer is looked for with a substring search; it must find the first place the
        /// last four bytes occur, as a byte-by-byte scan does (a small alphabet makes repeats likely).
        #[test]
        fn the_trailer_is_found_where_a_plain_scan_finds_it(
            bytes in proptest::collection::vec(0u8..3, 0..64)
        ) {
            let by_scan = bytes.len().checked_sub(4).is_some_and(|at| {
                bytes.windows(4).position(|window| window == &bytes[at..]) == Some(at)
            });
            proptest::prop_assert_eq!(first_member_is_whole(&bytes), by_scan);
        }
    }

    #[test]
    fn a_trailer_is_trusted_only_as_far_as_the_compressed_bytes_reach() {
        let single = gzip(&format!("{{\"Records\":[{MINIMAL}]}}"));
        let claimed = single.len() - 4;
        assert!(trusted_trailer_size(&single, 2 << 30).is_some());
        let mut huge = single.clone();
        huge[claimed..].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(trusted_trailer_size(&huge, 8 << 30), None);
        // Still read, and refused by the streaming path for what it is.
        assert!(matches!(gunzip(&huge, 8 << 30), Err(DecodeError::Gzip(_))));
        let in_reach = (single.len() as u64 * MAX_DEFLATE_RATIO) as u32;
        huge[claimed..].copy_from_slice(&in_reach.to_le_bytes());
        assert_eq!(
            trusted_trailer_size(&huge, 8 << 30),
            Some(in_reach as usize)
        );
        assert_eq!(trusted_trailer_size(&[0x1f, 0x8b, 0], 1 << 20), None);
    }

    #[test]
    fn round_trips_records_exactly() {
        let records = [
            MINIMAL.to_string(),
            r#"{"eventVersion":"1.09","userIdentity":{"type":"AssumedRole","principalId":"AROA:s","arn":"arn:aws:sts::1:assumed-role/r/s","accountId":"1","accessKeyId":"ASIA1","sessionContext":{"sessionIssuer":{"type":"Role","arn":"arn:aws:iam::1:role/r","accountId":"1","userName":"r"},"webIdFederationData":{"federatedProvider":"x","attributes":{"a":"b","n":null}},"attributes":{"creationDate":"2024-03-01T09:00:00Z","mfaAuthenticated":"false"}}},"eventTime":"2024-03-01T10:00:00Z","eventSource":"iam.amazonaws.com","eventName":"CreateUser","requestParameters":{"userName":"x","n":[1,2.5,{"q":null}]},"responseElements":null,"eventID":"e2","resources":[{"ARN":"arn:x","accountId":"1","type":"T"},{"ARN":"arn:y","ARNPrefix":"p"}],"managementEvent":true,"tlsDetails":{"tlsVersion":"TLSv1.3"},"unknownTop":{"a":[1]}}"#.to_string(),
            r#"{"eventTime":"2024-03-01T10:00:00Z","eventSource":"s","eventName":"X","eventID":"e3","userIdentity":{"type":"AWSService","invokedBy":"x","extraThing":1,"sessionContext":{}},"readOnly":"true","errorCode":42,"resources":[],"addendum":{"reason":null}}"#.to_string(),
        ];
        let text = format!("{{\"Records\":[{}]}}", records.join(","));
        let batch = decode(&text).expect("decodes");
        assert_eq!(batch.num_rows(), records.len());
        for (row, original) in records.iter().enumerate() {
            let original: serde_json::Value = serde_json::from_str(original).expect("valid");
            let rebuilt = schema::reconstruct(&batch, row).expect("reconstructs");
            assert_eq!(rebuilt, original, "row {row}");
        }
        let readonly = batch.column_by_name("readonly").expect("column");
        assert_eq!(readonly.as_string::<i32>().value(0), "true");
        let extra = batch
            .column_by_name(EXTRA_FIELDS)
            .expect("column")
            .as_string::<i32>();
        assert!(extra.is_null(0));
        assert!(extra.value(1).contains("managementEvent"));
    }

    #[test]
    fn keys_are_written_as_json_encodes_them() {
        for key in [
            "plain",
            "",
            "é€😀",
            "quo\"te",
            "back\\slash",
            "tab\tnew\nline\u{1f}",
            "\u{7f}",
        ] {
            let mut out = String::new();
            push_json_string(&mut out, key);
            assert_eq!(out, serde_json::to_string(key).expect("encodes"), "{key:?}");
        }
    }

    #[test]
    fn nested_members_read_in_place_keep_their_own_text() {
        // userIdentity inexact in the middle (whitespace around it), tlsDetails inexact and last,
        // resources exact; then the same with an escaped key, which is decoded from its own text.
        let records = [
            r#"{"eventTime":"2024-03-01T10:00:00Z","eventSource":"s","eventName":"X","eventID":"e1", "userIdentity" :  {"type":"IAMUser","n":1} , "resources":[{"ARN":"arn:x"}],"tlsDetails": {"tlsVersion":"TLSv1.3","z":[true]}
            }"#,
            r#"{"eventTime":"2024-03-01T10:00:00Z","eventSource":"s","eventName":"X","eventID":"e2","userIdentity":{"type":"IAMUser","n":2},"tlsDetails":{"tlsVersion":"TLSv1.2"}}"#,
            r#"{"eventTime":"2024-03-01T10:00:00Z","userIdentity":null,"eventSource":"s","eventName":"X","eventID":"e3"}"#,
        ];
        let text = format!("{{\"Records\":[{}]}}", records.join(" ,\n"));
        let batch = decode(&text).expect("decodes");
        let extra = batch
            .column_by_name(EXTRA_FIELDS)
            .expect("column")
            .as_string::<i32>();
        assert_eq!(
            extra.value(0),
            r#"{"userIdentity":{"type":"IAMUser","n":1},"tlsDetails":{"tlsVersion":"TLSv1.3","z":[true]}}"#
        );
        assert_eq!(
            extra.value(1),
            r#"{"userIdentity":{"type":"IAMUser","n":2}}"#
        );
        assert_eq!(extra.value(2), r#"{"userIdentity":null}"#);
        for (row, original) in records.iter().enumerate() {
            let original: serde_json::Value = serde_json::from_str(original).expect("valid");
            let rebuilt = schema::reconstruct(&batch, row).expect("reconstructs");
            assert_eq!(rebuilt, original, "row {row}");
        }
    }

    #[test]
    fn nested_members_that_do_not_fit_name_their_path_and_broken_json_is_json() {
        let record = |identity: &str| {
            format!(
                r#"{{"Records":[{MINIMAL},{{"eventTime":"2024-03-01T10:00:00Z","eventSource":"s","eventName":"X","eventID":"e","userIdentity":{identity},"tlsDetails":{{}}}}]}}"#
            )
        };
        let cases = [
            (
                r#"{"sessionContext":{"sessionIssuer":{"arn":{}}}}"#,
                "record 1: userIdentity.sessionContext.sessionIssuer.arn: expected a string, found an object",
            ),
            (
                r#"{"type":"a","type":"b"}"#,
                "record 1: userIdentity.type appears twice",
            ),
            (
                r#"[1]"#,
                "record 1: userIdentity: expected an object, found an array",
            ),
        ];
        for (identity, expected) in cases {
            let err = decode(&record(identity)).expect_err(identity).to_string();
            assert_eq!(err, expected, "{identity}");
        }
        let err = decode(&record(r#"{"sessionContext":{"x":[1,}}"#))
            .expect_err("broken")
            .to_string();
        assert!(err.starts_with("invalid JSON: "), "{err}");
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;
        use serde_json::{Map, Value};

        /// Member names a record may carry: every column's JSON name at every depth (so values of
        /// the wrong type reach each builder), and some names no column has.
        fn member_names() -> Vec<&'static str> {
            fn collect(fields: &[Field], names: &mut Vec<&'static str>) {
                for field in fields {
                    names.push(field.json);
                    if let Kind::Struct(members) | Kind::ListOfStruct(members) = &field.kind {
                        collect(members, names);
                    }
                }
            }
            let mut names = vec!["managementEvent", "unknownKey", "é\"quoted\\"];
            collect(RECORD, &mut names);
            names
        }

        fn json_value() -> BoxedStrategy<Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<i64>().prop_map(Value::from),
                (-1e6f64..1e6).prop_map(Value::from),
                "[a-z0-9:/\\\\\"\\u{0}-\\u{1f}é€😀 ]{0,12}".prop_map(Value::String),
            ];
            let leaf = leaf.boxed();
            leaf.prop_recursive(3, 24, 4, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                    prop::collection::vec((prop::sample::select(member_names()), inner), 0..5)
                        .prop_map(|members| {
                            Value::Object(
                                members
                                    .into_iter()
                                    .map(|(k, v)| (k.to_string(), v))
                                    .collect(),
                            )
                        }),
                ]
            })
            .boxed()
        }

        fn text() -> impl Strategy<Value = String> {
            "[a-z0-9:/\\\\\"\\u{0}-\\u{1f}é€😀 ]{0,12}"
        }

        fn object(members: Vec<(String, Value)>) -> Value {
            Value::Object(members.into_iter().collect())
        }

        /// A value of the type the schema expects for `kind`, with unknown members mixed in.
        fn typed_value(kind: &'static Kind) -> BoxedStrategy<Value> {
            match kind {
                Kind::Text => text().prop_map(Value::String).boxed(),
                Kind::BoolText => any::<bool>().prop_map(Value::Bool).boxed(),
                Kind::JsonText => json_value(),
                Kind::Struct(members) => typed_members(members).prop_map(object).boxed(),
                Kind::ListOfStruct(members) => {
                    prop::collection::vec(typed_members(members).prop_map(object), 0..3)
                        .prop_map(Value::Array)
                        .boxed()
                }
                Kind::StringMap => prop::collection::vec((text(), prop::option::of(text())), 0..3)
                    .prop_map(|entries| {
                        object(
                            entries
                                .into_iter()
                                .map(|(k, v)| (k, v.map_or(Value::Null, Value::String)))
                                .collect(),
                        )
                    })
                    .boxed(),
            }
        }

        /// Some of `fields`, each with a well-typed value, in a random order, sometimes with a
        /// member the schema does not know.
        fn typed_members(fields: &'static [Field]) -> BoxedStrategy<Vec<(String, Value)>> {
            let chosen: Vec<BoxedStrategy<Option<(String, Value)>>> = fields
                .iter()
                .map(|field| {
                    prop::option::of(
                        typed_value(&field.kind).prop_map(|v| (field.json.to_string(), v)),
                    )
                    .boxed()
                })
                .collect();
            (
                chosen,
                prop::option::of(json_value()),
                any::<prop::sample::Index>(),
            )
                .prop_map(|(members, unknown, shift)| {
                    let mut members: Vec<(String, Value)> = members.into_iter().flatten().collect();
                    members.extend(unknown.map(|v| ("unknownMember".to_string(), v)));
                    if !members.is_empty() {
                        let by = shift.index(members.len());
                        members.rotate_left(by);
                    }
                    members
                })
                .boxed()
        }

        fn with_required(mut record: Map<String, Value>, id: String) -> Value {
            record.insert("eventTime".into(), "2024-03-01T10:00:00Z".into());
            record.insert("eventSource".into(), "s3.amazonaws.com".into());
            record.insert("eventName".into(), "ListBuckets".into());
            record.insert("eventID".into(), id.into());
            Value::Object(record)
        }

        /// Records with members of any type under any name: mostly refused, which is the point.
        fn loose_record() -> impl Strategy<Value = Value> {
            (
                prop::collection::vec((prop::sample::select(member_names()), json_value()), 0..8),
                "[a-z0-9-]{1,8}",
            )
                .prop_map(|(members, id)| {
                    let record = members
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), v))
                        .collect();
                    with_required(record, id)
                })
        }

        /// Records shaped like CloudTrail's, which must all be stored.
        fn typed_record() -> impl Strategy<Value = Value> {
            (typed_members(RECORD), "[a-z0-9-]{1,8}")
                .prop_map(|(members, id)| with_required(members.into_iter().collect(), id))
        }

        /// A record, and whether it is shaped like CloudTrail's.
        fn record() -> impl Strategy<Value = (Value, bool)> {
            prop_oneof![
                loose_record().prop_map(|record| (record, false)),
                typed_record().prop_map(|record| (record, true)),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            /// Whatever the records hold, decoding either stores every record so that it is rebuilt
            /// exactly, whatever order its keys come in, or refuses the object naming a record that
            /// is not shaped like CloudTrail's. An object of CloudTrail-shaped records is stored.
            #[test]
            fn decoded_records_rebuild_exactly(records in prop::collection::vec(record(), 1..6), pretty in any::<bool>()) {
                let typed: Vec<bool> = records.iter().map(|(_, typed)| *typed).collect();
                let records: Vec<Value> = records.into_iter().map(|(record, _)| record).collect();
                let envelope = serde_json::json!({ "Records": records });
                // Pretty-printed text puts whitespace around every member, which the decoder
                // steps over to find a nested member's text by its place.
                let text = if pretty {
                    serde_json::to_string_pretty(&envelope)
                } else {
                    serde_json::to_string(&envelope)
                }
                .expect("serializable");
                // Compared with the records as the text reads back (serde_json parses floats
                // approximately; the store keeps the text itself).
                let parsed: Value = serde_json::from_str(&text).expect("valid JSON");
                let records = parsed["Records"].as_array().expect("records").clone();
                match decode(&text) {
                    Ok(batch) => {
                        prop_assert_eq!(batch.num_rows(), records.len());
                        for (row, original) in records.iter().enumerate() {
                            let rebuilt = schema::reconstruct(&batch, row).expect("reconstructs");
                            prop_assert_eq!(&rebuilt, original);
                        }
                    }
                    Err(DecodeError::Record { index, message }) => {
                        prop_assert!(index < typed.len(), "record {} of {}", index, typed.len());
                        prop_assert!(!typed[index], "a CloudTrail-shaped record refused: {}", message);
                    }
                    Err(other) => prop_assert!(false, "refused as a whole: {}", other),
                }
            }

            /// Records shaped like CloudTrail's are never refused.
            #[test]
            fn well_typed_records_are_stored(records in prop::collection::vec(typed_record(), 1..6)) {
                let text = serde_json::to_string(&serde_json::json!({ "Records": records }))
                    .expect("serializable");
                let decoded = decode(&text);
                prop_assert!(decoded.is_ok(), "{:?}", decoded.err());
            }

            /// Arbitrary bytes, plain or gzip, never panic the decoder.
            #[test]
            fn arbitrary_bytes_are_refused_or_decoded(bytes in prop::collection::vec(any::<u8>(), 0..512), gzipped in any::<bool>()) {
                let bytes = if gzipped {
                    gzip(&String::from_utf8_lossy(&bytes))
                } else {
                    bytes
                };
                let _ = decode_object(&bytes, Limits::default());
            }
        }
    }
}
