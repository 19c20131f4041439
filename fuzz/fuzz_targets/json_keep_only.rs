//! What the session openings keep of a JSON document: only the values at the paths the session
//! query reads.

#![no_main]

use ctidx::json_path::{keep_only, parse, scalar_at};
use libfuzzer_sys::fuzz_target;

/// The paths `sql/session_events.sql` reads, for an input without a first line of its own.
const SESSION_PATHS: [&str; 5] = [
    "$.credentials.accessKeyId",
    "$.assumedRoleUser.arn",
    "$.SwitchRole",
    "$.roleArn",
    "$.SwitchFrom",
];

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    // A first line of tab-separated paths, then the document; or the document alone.
    let (paths, document): (Vec<&str>, &str) = match text.split_once('\n') {
        Some((first, rest)) if first.starts_with('$') => (first.split('\t').collect(), rest),
        _ => (SESSION_PATHS.to_vec(), text),
    };
    let Some(steps) = paths.iter().map(|path| parse(path)).collect::<Option<Vec<_>>>() else {
        return;
    };
    let Some(kept) = keep_only(document, &steps) else {
        return;
    };
    // What is kept is JSON, and every path reads the same from it as from the whole document.
    assert!(
        serde_json::from_str::<serde_json::Value>(&kept).is_ok(),
        "{kept:?} is not JSON"
    );
    for path in &paths {
        assert_eq!(
            scalar_at(&kept, path),
            scalar_at(document, path),
            "{path} in {document:?}, kept as {kept:?}"
        );
    }
});
