//! End-to-end tests: the real `ctidx` binary on real files.

mod engines;
mod findings;
mod fuzz_regressions;
mod ingest;
mod page_selection;
mod policy;
mod query;
mod realdata;
mod reliability;
mod report;
mod s3;
mod sessions;
mod settled_ranges;
mod support;
mod unmapped;
