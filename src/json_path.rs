//! The JSONPath subset Athena documents for its JSON functions (`$.a.b`, `$.a[0]`, `$["a b"]`):
//! what `json_extract_scalar` finds in a document, and what of a document a set of paths reads.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;
use serde_json::value::RawValue;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Key(String),
    Index(usize),
}

/// The steps of `path`, or None when it is not in the subset.
pub fn parse(path: &str) -> Option<Vec<Step>> {
    let mut rest = path.trim().strip_prefix('$')?;
    let mut steps = Vec::new();
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            let end = after.find(['.', '[']).unwrap_or(after.len());
            if end == 0 {
                return None;
            }
            steps.push(Step::Key(after[..end].to_string()));
            rest = &after[end..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let end = after.find(']')?;
            let inner = after[..end].trim();
            let step = match inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
                Some(key) => Step::Key(key.to_string()),
                None => Step::Index(inner.parse().ok()?),
            };
            steps.push(step);
            rest = &after[end + 1..];
        } else {
            return None;
        }
    }
    Some(steps)
}

fn value_at<'a>(root: &'a Value, steps: &[Step]) -> Option<&'a Value> {
    steps.iter().try_fold(root, |current, step| match step {
        Step::Key(key) => current.get(key.as_str()),
        Step::Index(index) => current.get(index),
    })
}

/// Athena's `json_extract_scalar(document, path)`: the scalar at `path` as text; None for objects,
/// arrays, null, a missing path, a path outside the subset or a document that is not JSON.
pub fn scalar_at(document: &str, path: &str) -> Option<String> {
    let root: Value = serde_json::from_str(document).ok()?;
    match value_at(&root, &parse(path)?)? {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

/// `document` with only the values at `paths`, each where it was and in its own text, so that
/// [`scalar_at`] finds the same at each of them. None when the document is to be kept whole: it is
/// not JSON (every path reads nothing from it either way), a path is the document itself (`$`), or
/// a path indexes an array (not rebuilt here).
pub fn keep_only(document: &str, paths: &[Vec<Step>]) -> Option<String> {
    let whole = |steps: &Vec<Step>| {
        steps.is_empty() || steps.iter().any(|step| matches!(step, Step::Index(_)))
    };
    if paths.iter().any(whole) {
        return None;
    }
    // What `scalar_at` reads: a document it cannot read whole (a number out of range, say) is
    // kept as it is, though the values kept of it might read.
    serde_json::from_str::<Value>(document).ok()?;
    let mut kept = Kept::default();
    for steps in paths {
        let Some(value) = raw_at(document, steps) else {
            continue;
        };
        kept.insert(steps, value);
    }
    let mut out = String::new();
    kept.write(&mut out);
    Some(out)
}

/// The text of the value at `steps` (keys only): objects are read as maps of raw values, where a
/// key written twice keeps its last value, as in [`Value`].
fn raw_at<'a>(document: &'a str, steps: &[Step]) -> Option<&'a RawValue> {
    let mut current: &'a RawValue = serde_json::from_str(document).ok()?;
    for step in steps {
        let Step::Key(key) = step else { return None };
        let object: HashMap<String, &'a RawValue> = serde_json::from_str(current.get()).ok()?;
        current = object.get(key).copied()?;
    }
    Some(current)
}

/// The values kept of a document: an object of kept values and of objects leading to them.
#[derive(Default)]
struct Kept<'a> {
    members: BTreeMap<String, KeptMember<'a>>,
}

enum KeptMember<'a> {
    Whole(&'a RawValue),
    Parts(Kept<'a>),
}

impl<'a> Kept<'a> {
    fn insert(&mut self, steps: &[Step], value: &'a RawValue) {
        let Some((Step::Key(key), rest)) = steps.split_first() else {
            return;
        };
        if rest.is_empty() {
            self.members.insert(key.clone(), KeptMember::Whole(value));
            return;
        }
        let member = self
            .members
            .entry(key.clone())
            .or_insert_with(|| KeptMember::Parts(Kept::default()));
        // A member kept whole holds the value already.
        if let KeptMember::Parts(parts) = member {
            parts.insert(rest, value);
        }
    }

    fn write(&self, out: &mut String) {
        out.push('{');
        for (index, (key, member)) in self.members.iter().enumerate() {
            if index > 0 {
                out.push(',');
            }
            out.push_str(&Value::from(key.as_str()).to_string());
            out.push(':');
            match member {
                KeptMember::Whole(value) => out.push_str(value.get()),
                KeptMember::Parts(parts) => parts.write(out),
            }
        }
        out.push('}');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn extracts_scalars_like_athena() {
        let document = r#"{"roleArn":"arn:aws:iam::1:role/a","credentials":{"accessKeyId":"ASIA1","n":3,"ok":true},"list":[{"x":"y"}],"a b":"c","o":{}}"#;
        let cases = [
            ("$.roleArn", Some("arn:aws:iam::1:role/a")),
            ("$.credentials.accessKeyId", Some("ASIA1")),
            ("$.credentials.n", Some("3")),
            ("$.credentials.ok", Some("true")),
            ("$.list[0].x", Some("y")),
            ("$[\"a b\"]", Some("c")),
            ("$.o", None),
            ("$.credentials", None),
            ("$.missing.key", None),
            ("roleArn", None),
            ("$..x", None),
        ];
        for (path, expected) in cases {
            assert_eq!(scalar_at(document, path).as_deref(), expected, "{path}");
        }
        assert_eq!(scalar_at("not json", "$.a"), None);
    }

    fn steps(paths: &[&str]) -> Vec<Vec<Step>> {
        paths
            .iter()
            .map(|path| parse(path).expect("a path"))
            .collect()
    }

    #[test]
    fn keeps_only_the_values_read() {
        let response = r#"{"credentials":{"accessKeyId":"ASIA1","sessionToken":"long","expiration":"soon"},"assumedRoleUser":{"assumedRoleId":"AROA:x","arn":"arn:aws:sts::1:assumed-role/r/x"},"packedPolicySize":7}"#;
        let paths = steps(&[
            "$.credentials.accessKeyId",
            "$.assumedRoleUser.arn",
            "$.SwitchRole",
        ]);
        assert_eq!(
            keep_only(response, &paths).as_deref(),
            Some(
                r#"{"assumedRoleUser":{"arn":"arn:aws:sts::1:assumed-role/r/x"},"credentials":{"accessKeyId":"ASIA1"}}"#
            )
        );
        assert_eq!(
            keep_only(r#"{"SwitchRole":"Success"}"#, &paths).as_deref(),
            Some(r#"{"SwitchRole":"Success"}"#)
        );
        // A value kept whole and one inside it.
        assert_eq!(
            keep_only(r#"{"a":{"b":1,"c":[2]},"d":3}"#, &steps(&["$.a", "$.a.b"])).as_deref(),
            Some(r#"{"a":{"b":1,"c":[2]}}"#)
        );
        assert_eq!(keep_only("not json", &paths), None);
        assert_eq!(keep_only(r#"[1]"#, &paths).as_deref(), Some("{}"));
        assert_eq!(keep_only(r#"{"a":[1]}"#, &steps(&["$.a[0]"])), None);
        // The document itself (found by the json_keep_only fuzz target: `2` was kept as `{}`).
        assert_eq!(keep_only("2", &steps(&["$"])), None);
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let key = prop_oneof![
            Just("a".to_string()),
            Just("b".to_string()),
            Just("c".to_string()),
            "[a-c \"\\\\é]{0,3}",
        ];
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |n| n.is_finite())
                .prop_map(Value::from),
            "[a-z\"\\\\\u{1}é]{0,4}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 4, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
                proptest::collection::btree_map(key.clone(), inner, 0..4)
                    .prop_map(|map| Value::Object(map.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// Every kept path reads the same from the kept document as from the whole one, for any
        /// document, including ones with a key written twice (the last one counts in both).
        #[test]
        fn a_kept_path_reads_the_same(
            value in json_value(),
            duplicate in proptest::option::of(("[abc]", json_value())),
            raw in "[{}\\[\\]\":,abc0-9 ]{0,12}",
        ) {
            let paths = ["$.a", "$.a.b", "$.b.c.a", "$.c", "$[\"a b\"]", "$.é", "$"];
            let parsed = steps(&paths);
            let mut documents = vec![value.to_string(), raw];
            if let (Value::Object(_), Some((key, extra))) = (&value, duplicate) {
                let text = value.to_string();
                let inner = text.trim_end_matches('}');
                let comma = if inner.len() > 1 { "," } else { "" };
                documents.push(format!("{inner}{comma}{}:{extra}}}", Value::from(key)));
            }
            for document in documents {
                let kept = keep_only(&document, &parsed).unwrap_or_else(|| document.clone());
                for path in paths {
                    prop_assert_eq!(scalar_at(&kept, path), scalar_at(&document, path), "{} in {}", path, document);
                }
            }
        }
    }
}
