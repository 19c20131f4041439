//! `ctidx ingest`: CloudTrail objects → the Parquet store, incrementally and exactly once.
//!
//! Objects are read and decoded on every core; rows are grouped by partition (account and UTC day
//! of `eventTime`) and each touched partition gets at most one new file per run. Partitions that no
//! more objects can reach are written while decoding goes on (see `frontier`). An object that
//! fails is reported, not recorded in the manifest (so the next run retries it), and does not stop
//! the others.

pub mod decode;
mod frontier;
pub mod keys;
pub mod s3;

pub mod source;
mod staging;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError, mpsc};
use std::time::{Duration, Instant};

use arrow::array::{Array, AsArray, RecordBatch, UInt32Array};
use arrow::compute::take_record_batch;
use rayon::prelude::*;

use crate::store::schema::{self, column};
use crate::store::{ManifestEntry, PartitionKey, Store, StoreError};
use keys::SkipReason;
use source::{Listing, SourceObject};
use staging::DayKey;

#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Forget what was ingested and rebuild the store from the source.
    pub full: bool,
    /// Objects decoded at once.
    pub jobs: usize,
    /// S3 downloads in flight at once.
    pub concurrency: usize,
    pub limits: decode::Limits,
    /// Decoded rows held in memory before they are spilled to disk.
    pub memory_budget: usize,
}

/// The default of `--memory-budget`. At 5M events (partitions of about 110 MiB of rows), 64 MiB
/// kept ingest's peak under 512 MiB for about 5% more time than 192 MiB, which peaked near 800 MiB.
pub const DEFAULT_MEMORY_BUDGET_MIB: usize = 64;

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            full: false,
            jobs: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
            concurrency: s3::DEFAULT_CONCURRENCY,
            limits: decode::Limits::default(),
            memory_budget: DEFAULT_MEMORY_BUDGET_MIB << 20,
        }
    }
}

/// What a run tells its caller while it goes: the command shows it, a library caller may ignore it.
pub trait Reporter: Sync {
    /// The bytes of the objects to read.
    fn planned(&self, _bytes: u64) {}
    /// An object has been read (ingested, skipped or failed), and where the run stands.
    fn advanced(&self, _bytes: u64, _status: &str) {}
    /// An object could not be ingested.
    fn failed(&self, _failure: &Failure) {}
    /// What the run does next.
    fn stage(&self, _status: &str) {}
}

/// A reporter that shows nothing.
pub struct Silent;

impl Reporter for Silent {}

/// An object that could not be ingested, and why.
#[derive(Debug)]
pub struct Failure {
    pub location: String,
    pub error: String,
}

#[derive(Debug, Default)]
pub struct IngestReport {
    pub objects_ingested: u64,
    pub objects_unchanged: u64,
    pub bytes_read: u64,
    pub events_read: u64,
    pub events_stored: u64,
    pub partitions_written: u64,
    pub skipped: BTreeMap<SkipReason, u64>,
    pub failures: Vec<Failure>,
    pub elapsed: Duration,
}

impl IngestReport {
    pub fn duplicates(&self) -> u64 {
        self.events_read.saturating_sub(self.events_stored)
    }
}

struct Decoded {
    object: usize,
    bytes: u64,
    result: Result<Vec<(DayKey, RecordBatch)>, Unread>,
}

/// Why an object gave no rows.
enum Unread {
    /// Recognisably not a log: counted, not retried as a failure.
    Skipped(SkipReason),
    Failed(String),
}

pub fn ingest(
    store: &Store,
    listing: Listing,
    options: &IngestOptions,
    reporter: &dyn Reporter,
) -> Result<IngestReport, StoreError> {
    let started = Instant::now();
    let lock = store.lock_for_writing()?;
    if options.full {
        store.clear(&lock)?;
    }
    // A store of the earlier day layout is refused before anything is added to it.
    store.partition_keys()?;
    let mut manifest = store.manifest()?;
    let mut report = IngestReport {
        skipped: listing.skipped,
        failures: listing.failures,
        ..IngestReport::default()
    };
    for failure in &report.failures {
        reporter.failed(failure);
    }
    let s3 = listing.s3;
    let mut objects: Vec<SourceObject> = listing
        .objects
        .into_iter()
        .filter(|object| {
            let unchanged = manifest
                .objects
                .get(&object.location)
                .is_some_and(|e| e.size == object.size && e.version == object.version);
            report.objects_unchanged += u64::from(unchanged);
            !unchanged
        })
        .collect();
    // Partitions close one after another and are written while decoding goes on (see `frontier`).
    objects.sort_by(SourceObject::delivery_order);
    let mut frontier = frontier::DeliveryFrontier::new(&objects);

    reporter.planned(objects.iter().map(|o| o.size).sum());
    let mut staging = staging::Staging::new(&store.scratch_dir()?, options.memory_budget)?;
    let mut staging_error = None;
    let mut events_per_object: HashMap<usize, u64> = HashMap::new();
    let next = AtomicUsize::new(0);
    // S3 objects are downloaded ahead of the decoders, a bounded number at a time; local ones are
    // read by the decoders themselves.
    let downloads = s3.as_ref().map(|source| {
        let keys = objects
            .iter()
            .enumerate()
            .filter_map(|(index, object)| Some((index, object.s3_key()?.to_string())))
            .collect();
        source.download(keys, options.concurrency)
    });
    let read_ahead = ReadAhead::default();
    let next_bytes = || -> Option<(usize, Result<Vec<u8>, Unread>)> {
        match &downloads {
            Some(downloads) => downloads.next().map(|download| {
                let location = &objects[download.index].location;
                let result = download.result.map_err(|error| {
                    let message = error.to_string();
                    Unread::Failed(match message.strip_prefix(location.as_str()) {
                        Some(rest) => rest.trim_start_matches(": ").to_string(),
                        None => message,
                    })
                });
                (download.index, result)
            }),
            None => {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let object = objects.get(index)?;
                read_ahead.advance(&objects, index);
                Some((
                    index,
                    object
                        .read()
                        .map_err(|e| Unread::Failed(format!("cannot read: {e}"))),
                ))
            }
        }
    };
    let (sender, receiver) = mpsc::sync_channel::<Decoded>(options.jobs * 2);
    // Closed partitions are written while the decoders go on. The channel holds none: a closed
    // partition is handed over only when a writer is free, so writers that fall behind slow
    // decoding rather than letting memory grow.
    let (write_sender, write_receiver) =
        mpsc::sync_channel::<(staging::StagedPartition, Reservation)>(0);
    let lock_ref = &lock;
    let mut sent: BTreeSet<DayKey> = BTreeSet::new();
    let written_in_run = &WrittenInRun::default();
    let write_receiver = Arc::new(Mutex::new(write_receiver));
    let in_flight = &InFlight::default();
    let early_writes = std::thread::scope(|scope| {
        // Writers are threads of their own, not the thread pool's: a spill runs on the pool and
        // must not wait behind writers that wait for the next closed partition.
        let writers: Vec<_> = (0..options.jobs.max(1))
            .map(|_| {
                // Each writer owns a handle on the receiver: if every writer stops, the channel
                // closes and the decoding loop does not wait on it.
                let write_receiver = Arc::clone(&write_receiver);
                scope.spawn(move || {
                    let mut written = Vec::new();
                    loop {
                        let next = write_receiver
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .recv();
                        // The reservation is given back when this write ends.
                        let Ok((partition, _reservation)) = next else {
                            break;
                        };
                        let key = partition.key.clone();
                        let rows = write_staged(store, partition, lock_ref, written_in_run);
                        written.push((key, rows));
                    }
                    written
                })
            })
            .collect();
        drop(write_receiver);
        for _ in 0..options.jobs.max(1) {
            let sender = sender.clone();
            let (objects, next_bytes) = (&objects, &next_bytes);
            scope.spawn(move || {
                while let Some((index, bytes)) = next_bytes() {
                    let object = &objects[index];
                    let decoded = Decoded {
                        object: index,
                        bytes: object.size,
                        result: bytes
                            .and_then(|bytes| decode_bytes(object, &bytes, options.limits)),
                    };
                    if sender.send(decoded).is_err() {
                        break;
                    }
                }
            });
        }
        drop(sender);
        let mut read = 0;
        for decoded in receiver {
            let object = &objects[decoded.object];
            read += 1;
            report.bytes_read += decoded.bytes;
            match decoded.result {
                Ok(parts) => {
                    let events: u64 = parts.iter().map(|(_, b)| b.num_rows() as u64).sum();
                    report.events_read += events;
                    report.objects_ingested += 1;
                    events_per_object.insert(decoded.object, events);
                    for (key, batch) in parts {
                        if let Err(error) = staging.push(key, batch) {
                            staging_error.get_or_insert(error);
                        }
                    }
                }
                Err(Unread::Skipped(reason)) => *report.skipped.entry(reason).or_default() += 1,
                Err(Unread::Failed(error)) => {
                    let failure = Failure {
                        location: object.location.clone(),
                        error,
                    };
                    reporter.failed(&failure);
                    report.failures.push(failure);
                }
            }
            reporter.advanced(
                decoded.bytes,
                &format!(
                    "{read}/{} objects, {} events",
                    objects.len(),
                    report.events_read
                ),
            );
            if let Some((account, open_from)) = frontier.as_mut().and_then(|f| f.done(object)) {
                // A day is written at most once while decoding goes on: rows delivered after it was
                // written wait for the end of the run, when that write has finished, so the second
                // write knows every event of the first.
                for partition in staging.take_closed(&account, open_from.as_deref(), &sent) {
                    sent.extend(partition.days.iter().cloned());
                    let reservation =
                        in_flight.reserve(partition.memory_bytes(), options.memory_budget);
                    // The writer only stops early by panicking, which the join below re-raises.
                    let _ = write_sender.send((partition, reservation));
                }
            }
        }
        drop(write_sender);
        writers
            .into_iter()
            .flat_map(|writer| {
                writer
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect::<Vec<_>>()
    });

    if let Some(error) = staging_error {
        return Err(error);
    }
    reporter.stage(&format!("writing {} partitions", staging.partition_count()));
    let (partitions, _spill_folder) = staging.into_partitions();
    let late_writes: Vec<(PartitionKey, Result<usize, StoreError>)> = partitions
        .into_par_iter()
        .map(|partition| {
            let key = partition.key.clone();
            (key, write_staged(store, partition, &lock, written_in_run))
        })
        .collect();
    // Per partition written: the files written, and whether each was of small days only.
    let mut partitions_written: BTreeMap<PartitionKey, (usize, bool)> = BTreeMap::new();
    for (key, rows) in early_writes.into_iter().chain(late_writes) {
        let rows = rows?;
        report.events_stored += rows as u64;
        if rows > 0 {
            let (files, small) = partitions_written.entry(key).or_insert((0, true));
            *files += 1;
            *small &= rows < crate::store::SMALL_FILE_ROWS;
        }
    }
    for (key, (files, small)) in &partitions_written {
        // Rows delivered late reached a quiet month already written in this run: one file again.
        // A busy month keeps its files of a day or a few, and its late rows their own file, until
        // `compact`.
        if *files > 1 && *small {
            store.compact_partition(key, &lock)?;
        }
    }
    report.partitions_written = partitions_written.len() as u64;

    for (index, events) in events_per_object {
        let object = &objects[index];
        manifest.objects.insert(
            object.location.clone(),
            ManifestEntry {
                size: object.size,
                version: object.version.clone(),
                events,
            },
        );
    }
    store.save_manifest(&manifest, &lock)?;
    report.failures.sort_by(|a, b| a.location.cmp(&b.location));
    report.elapsed = started.elapsed();
    Ok(report)
}

/// Local objects past the one a decoder takes that the kernel is asked to read ahead (S3 objects are
/// downloaded ahead instead). With each decoder reading its next file when it needs it, a file not
/// in the page cache kept a core idle while the decoder waited on the disk: in one 1M-event ingest
/// the two decoders waited 1.5 s each in `read`.
const READ_AHEAD_OBJECTS: usize = 32;
/// At most this many bytes of objects are read ahead.
const READ_AHEAD_BYTES: u64 = 64 << 20;

/// How far objects have been read ahead: those before `advised` were.
#[derive(Default)]
struct ReadAhead {
    advised: Mutex<usize>,
}

impl ReadAhead {
    /// Called as the object at `taken` goes to a decoder: asks for the objects after it to be read
    /// ahead. The range is claimed under the lock and advised after it, so that the other decoders
    /// never wait on the kernel's read submissions to take their next object.
    fn advance(&self, objects: &[SourceObject], taken: usize) {
        let range = {
            let mut advised = self.advised.lock().unwrap_or_else(PoisonError::into_inner);
            let range = read_ahead_range(objects, |object| object.size, *advised, taken);
            *advised = (*advised).max(range.end);
            range
        };
        for object in &objects[range] {
            object.read_ahead();
        }
    }
}

/// The objects to read ahead once the one at `taken` goes to a decoder, those before `advised`
/// having been read ahead already: the next ones until [`READ_AHEAD_OBJECTS`] objects or
/// [`READ_AHEAD_BYTES`] bytes lie ahead of `taken`.
fn read_ahead_range<T>(
    objects: &[T],
    size: impl Fn(&T) -> u64,
    advised: usize,
    taken: usize,
) -> std::ops::Range<usize> {
    let first = advised.max(taken + 1).min(objects.len());
    let mut bytes: u64 = objects[(taken + 1).min(first)..first]
        .iter()
        .map(&size)
        .sum();
    let mut end = first;
    while end < objects.len() && end - taken <= READ_AHEAD_OBJECTS && bytes < READ_AHEAD_BYTES {
        bytes += size(&objects[end]);
        end += 1;
    }
    first..end
}

/// Bytes of staged rows handed to writers and not yet written. With the rows still staged (at most
/// the memory budget), it bounds the rows ingest holds at about two budgets: a writer's sorted copy
/// takes the place of its staged rows column by column.
#[derive(Default)]
struct InFlight {
    bytes: Mutex<usize>,
    released: Condvar,
}

impl InFlight {
    /// Waits until `bytes` more fit in `budget` beside what writers hold; a partition larger than
    /// the budget goes alone.
    fn reserve(&self, bytes: usize, budget: usize) -> Reservation<'_> {
        let mut held = self.bytes.lock().unwrap_or_else(PoisonError::into_inner);
        while *held > 0 && *held + bytes > budget {
            held = self
                .released
                .wait(held)
                .unwrap_or_else(PoisonError::into_inner);
        }
        *held += bytes;
        Reservation {
            in_flight: self,
            bytes,
        }
    }
}

/// Bytes taken from [`InFlight`], given back when dropped: when the write ends, however it ends.
struct Reservation<'a> {
    in_flight: &'a InFlight,
    bytes: usize,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        let mut held = self
            .in_flight
            .bytes
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *held = held.saturating_sub(self.bytes);
        self.in_flight.released.notify_all();
    }
}

/// The files this run has written, with the first and last day each holds: a later write of the
/// same partition needs the event IDs of those that hold its days only. (A repeated event has the
/// same time, so the same day, as its first copy.)
#[derive(Default)]
struct WrittenInRun(Mutex<HashMap<PathBuf, (String, String)>>);

/// Writes staged days as one new file of their partition, without the events it already holds.
fn write_staged(
    store: &Store,
    partition: staging::StagedPartition,
    lock: &crate::store::WriteLock,
    written_in_run: &WrittenInRun,
) -> Result<usize, StoreError> {
    let key = partition.key.clone();
    let (Some(first), Some(last)) = (partition.days.first(), partition.days.last()) else {
        return Ok(0);
    };
    let (first, last) = (first.day.clone(), last.day.clone());
    let runs = partition.runs()?;
    let existing: Vec<PathBuf> = {
        let written = written_in_run
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        store
            .data_files(&key)?
            .into_iter()
            .filter(|file| {
                written
                    .get(file)
                    .is_none_or(|(from, to)| from <= &last && &first <= to)
            })
            .collect()
    };
    let mut known = store.event_ids(&existing)?;
    let days = (first, last);
    let (rows, file) = store.write_partition(&key, Some(&days), runs, &mut known, lock)?;
    if let Some(file) = file {
        written_in_run
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(file, days);
    }
    Ok(rows)
}

fn decode_bytes(
    object: &SourceObject,
    bytes: &[u8],
    limits: decode::Limits,
) -> Result<Vec<(DayKey, RecordBatch)>, Unread> {
    let batch = decode::decode_object(bytes, limits).map_err(|error| match error {
        decode::DecodeError::NotCloudTrail(document) => {
            Unread::Skipped(SkipReason::Document(document))
        }
        error => Unread::Failed(error.to_string()),
    })?;
    split_by_partition(&batch, object.layout.as_ref().map(|l| l.account.as_str()))
        .map_err(|e| Unread::Failed(e.to_string()))
}

/// Groups rows by (account, day). The account is the one the object's key names, else the record's
/// `recipientAccountId`, else its caller's account.
fn split_by_partition(
    batch: &RecordBatch,
    layout_account: Option<&str>,
) -> Result<Vec<(DayKey, RecordBatch)>, arrow::error::ArrowError> {
    let days = schema::text_column(batch, column::DAY)?;
    let recipients = schema::text_column(batch, column::RECIPIENT_ACCOUNT_ID)?;
    let identity_accounts = batch
        .column_by_name(column::USER_IDENTITY)
        .and_then(|c| c.as_struct_opt())
        .and_then(|identity| identity.column_by_name(column::ACCOUNT_ID))
        .and_then(|accounts| accounts.as_string_opt::<i32>())
        .ok_or_else(|| {
            arrow::error::ArrowError::SchemaError(
                "the rows have no text column `useridentity.accountid`".into(),
            )
        })?;

    // An object nearly always holds one partition's rows: the previous row's key is tried first,
    // and keys are only allocated when a new one appears.
    let mut rows_by_key: Vec<(DayKey, Vec<u32>)> = Vec::new();
    let mut index_of: HashMap<(&str, &str), usize> = HashMap::new();
    let mut previous: Option<((&str, &str), usize)> = None;
    for row in 0..batch.num_rows() {
        let account = layout_account
            .or_else(|| recipients.is_valid(row).then(|| recipients.value(row)))
            .or_else(|| {
                identity_accounts
                    .is_valid(row)
                    .then(|| identity_accounts.value(row))
            })
            .unwrap_or("unknown");
        let day = Some(days.value(row))
            .filter(|day| !day.is_empty())
            .unwrap_or("unknown");
        let index = match previous {
            Some((key, index)) if key == (account, day) => index,
            _ => *index_of.entry((account, day)).or_insert_with(|| {
                let key = DayKey {
                    account: account.to_string(),
                    day: day.to_string(),
                };
                rows_by_key.push((key, Vec::new()));
                rows_by_key.len() - 1
            }),
        };
        previous = Some(((account, day), index));
        rows_by_key[index].1.push(row as u32);
    }
    rows_by_key.sort_by(|a, b| a.0.cmp(&b.0));
    if let [(key, _)] = rows_by_key.as_slice() {
        return Ok(vec![(key.clone(), batch.clone())]);
    }
    rows_by_key
        .into_iter()
        .map(|(key, rows)| Ok((key, take_record_batch(batch, &UInt32Array::from(rows))?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::AsArray;

    #[test]
    fn objects_are_read_ahead_within_a_count_and_a_byte_bound() {
        let size = |bytes: &u64| *bytes;
        let small = vec![1_000_u64; 100];
        // The first object goes to a decoder: the next READ_AHEAD_OBJECTS are read ahead.
        assert_eq!(
            read_ahead_range(&small, size, 0, 0),
            1..1 + READ_AHEAD_OBJECTS
        );
        // Each later one adds one more, whichever decoder takes it.
        let advised = 1 + READ_AHEAD_OBJECTS;
        assert_eq!(
            read_ahead_range(&small, size, advised, 1),
            advised..advised + 1
        );
        assert_eq!(
            read_ahead_range(&small, size, advised + 1, 3),
            advised + 1..advised + 3
        );
        // Nothing past the last object, nothing again.
        assert_eq!(read_ahead_range(&small, size, 100, 98), 100..100);
        assert_eq!(read_ahead_range(&small, size, 100, 99), 100..100);
        // Large objects: the bytes bound stops it first, past the bound by one object at most.
        let large = vec![READ_AHEAD_BYTES / 2 + 1; 10];
        assert_eq!(read_ahead_range(&large, size, 0, 0), 1..3);
        assert_eq!(read_ahead_range(&large, size, 3, 1), 3..4);
        assert_eq!(read_ahead_range(&large, size, 4, 1), 4..4);
        assert_eq!(read_ahead_range(&large, size, 4, 2), 4..5);
        // One object alone is larger than the bound: still read ahead, one at a time.
        let huge = vec![2 * READ_AHEAD_BYTES; 4];
        assert_eq!(read_ahead_range(&huge, size, 0, 0), 1..2);
        assert_eq!(read_ahead_range(&huge, size, 2, 1), 2..3);
    }

    fn record(id: usize, day: &str, account: &str) -> String {
        format!(
            r#"{{"eventTime":"{day}T10:00:00Z","eventSource":"s3.amazonaws.com","eventName":"ListBuckets","eventID":"e{id}","recipientAccountId":"{account}"}}"#
        )
    }

    fn split(records: &[String], layout_account: Option<&str>) -> Vec<(DayKey, Vec<String>)> {
        let text = format!("{{\"Records\":[{}]}}", records.join(","));
        let batch =
            decode::decode_json(text.as_bytes(), decode::Limits::default()).expect("decodes");
        split_by_partition(&batch, layout_account)
            .expect("splits")
            .into_iter()
            .map(|(key, part)| {
                let ids = part
                    .column_by_name("eventid")
                    .expect("column")
                    .as_string::<i32>();
                (key, ids.iter().flatten().map(str::to_string).collect())
            })
            .collect()
    }

    fn key(account: &str, day: &str) -> DayKey {
        DayKey {
            account: account.into(),
            day: day.into(),
        }
    }

    #[test]
    fn rows_are_grouped_by_account_and_day_in_key_order() {
        let records = [
            record(0, "2024-03-02", "222"),
            record(1, "2024-03-01", "111"),
            record(2, "2024-03-02", "222"),
            record(3, "2024-03-02", "111"),
            record(4, "2024-03-01", "111"),
        ];
        assert_eq!(
            split(&records, None),
            vec![
                (key("111", "2024-03-01"), vec!["e1".into(), "e4".into()]),
                (key("111", "2024-03-02"), vec!["e3".into()]),
                (key("222", "2024-03-02"), vec!["e0".into(), "e2".into()]),
            ]
        );
        // The account in the object's key wins over the record's.
        let parts = split(&records, Some("999"));
        assert_eq!(parts.len(), 2);
        assert!(parts.iter().all(|(k, _)| k.account == "999"));
    }

    #[test]
    fn an_object_spanning_thousands_of_days_is_split_exactly() {
        let start = chrono::NaiveDate::from_ymd_opt(2010, 1, 1).expect("valid date");
        let days: Vec<String> = (0..4000)
            .map(|i| {
                (start + chrono::Days::new(i))
                    .format("%Y-%m-%d")
                    .to_string()
            })
            .collect();
        // Each day twice, far apart, so that no two neighbouring rows share a partition.
        let records: Vec<String> = (0..2)
            .flat_map(|_| days.iter())
            .enumerate()
            .map(|(id, day)| record(id, day, "111"))
            .collect();
        let parts = split(&records, None);
        assert_eq!(parts.len(), days.len());
        for (i, (key, ids)) in parts.iter().enumerate() {
            assert_eq!(key.day, days[i]);
            assert_eq!(ids, &[format!("e{i}"), format!("e{}", i + days.len())]);
        }
    }
}
