//! IAM policy documents, in every shape they come in: JSON text, percent-encoded JSON text (the raw
//! API), a JSON string holding either, or a decoded object.

#![no_main]

use ctidx::iam::pattern::WildcardPattern;
use ctidx::iam::policy::{ActionClause, PolicyDocument, ResourceClause, percent_decode};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    let parsed = PolicyDocument::from_text(text);

    // The shapes of one document read alike.
    let as_string = PolicyDocument::from_value(&Value::String(text.to_string()));
    assert_eq!(as_string, parsed, "as a JSON string");
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') {
        let encoded = percent_encode(trimmed);
        assert_eq!(percent_decode(&encoded).as_deref(), Some(trimmed));
        assert_eq!(
            PolicyDocument::from_text(&encoded),
            parsed,
            "percent-encoded"
        );
        if let Ok(value @ Value::Object(_)) = serde_json::from_str::<Value>(text) {
            assert_eq!(
                PolicyDocument::from_value(&value),
                parsed,
                "as a decoded object"
            );
        }
    }

    let Ok(document) = parsed else {
        return;
    };
    // Every pattern matches itself: `*` and `?` match themselves too.
    for statement in &document.statements {
        let actions = match &statement.action {
            Some(ActionClause::Action(actions) | ActionClause::NotAction(actions)) => &actions[..],
            None => &[],
        };
        for action in actions {
            let pattern = WildcardPattern::case_insensitive(action);
            assert!(pattern.matches(action), "action {action:?}");
            // Outside ASCII, changing case back and forth need not give the same text.
            if action.is_ascii() {
                let capitals = action.to_ascii_uppercase();
                assert!(
                    pattern.matches(&capitals),
                    "action {action:?} as {capitals:?}"
                );
            }
        }
        let resources = match &statement.resource {
            Some(ResourceClause::Resource(resources) | ResourceClause::NotResource(resources)) => {
                &resources[..]
            }
            None => &[],
        };
        for resource in resources {
            assert!(
                WildcardPattern::case_sensitive(resource).matches(resource),
                "resource {resource:?}"
            );
        }
    }
});

/// Escapes every byte but the unreserved ones, as IAM's raw API does.
fn percent_encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}
