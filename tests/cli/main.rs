//! End-to-end tests: the real `ctidx` binary on real files.

mod ingest;
mod realdata;
mod support;
