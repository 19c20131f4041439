//! IAM wildcard patterns: `*` matches any run of characters (including none), `?` matches exactly one
//! character, everything else matches itself. No other character is special, so `.`, `+`, `(`, `[`
//! and the like in a policy can never change what a pattern means.
//!
//! Action names are compared case-insensitively (IAM treats `s3:getobject` and `s3:GetObject` as the
//! same action); resource ARNs are compared case-sensitively.

/// A compiled wildcard pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WildcardPattern {
    /// The pattern text, lower-cased when the pattern is case-insensitive.
    text: String,
    case_insensitive: bool,
}

impl WildcardPattern {
    /// A case-sensitive pattern (resource ARNs).
    pub fn case_sensitive(pattern: &str) -> WildcardPattern {
        WildcardPattern {
            text: pattern.to_string(),
            case_insensitive: false,
        }
    }

    /// A case-insensitive pattern (action names such as `s3:Get*`).
    pub fn case_insensitive(pattern: &str) -> WildcardPattern {
        WildcardPattern {
            text: pattern.to_lowercase(),
            case_insensitive: true,
        }
    }

    /// The pattern as it is matched (lower-cased if case-insensitive).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// True if the pattern matches every string, i.e. it consists only of `*`.
    pub fn matches_everything(&self) -> bool {
        !self.text.is_empty() && self.text.bytes().all(|b| b == b'*')
    }

    /// True if the pattern contains `*` or `?`.
    pub fn has_wildcards(&self) -> bool {
        self.text.bytes().any(|b| b == b'*' || b == b'?')
    }

    /// Whether `candidate` matches the pattern.
    pub fn matches(&self, candidate: &str) -> bool {
        if self.case_insensitive {
            wildcard_match(&self.text, &candidate.to_lowercase())
        } else {
            wildcard_match(&self.text, candidate)
        }
    }

    /// Like [`WildcardPattern::matches`], for a candidate the caller has already lower-cased. Saves
    /// an allocation per candidate when matching one pattern against a whole catalogue.
    pub fn matches_lowercased(&self, lowercased_candidate: &str) -> bool {
        wildcard_match(&self.text, lowercased_candidate)
    }
}

/// Matches `text` against `pattern` where `*` and `?` are wildcards; exact byte comparison otherwise.
///
/// Iterative with single-star backtracking: linear in practice, `O(pattern × text)` worst case, no
/// recursion (so no stack exhaustion on hostile patterns like `*a*a*a*…`).
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let pattern = pattern.as_bytes();
    let text = text.as_bytes();
    let mut p = 0;
    let mut t = 0;
    // Position of the last `*` seen in the pattern, and the text position it is currently absorbing up to.
    let mut backtrack: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() {
            match pattern[p] {
                b'*' => {
                    backtrack = Some((p, t));
                    p += 1;
                    continue;
                }
                b'?' => {
                    p += 1;
                    t += utf8_char_len(text[t]);
                    continue;
                }
                literal if literal == text[t] => {
                    p += 1;
                    t += 1;
                    continue;
                }
                _ => {}
            }
        }
        match backtrack {
            Some((star, absorbed)) => {
                let next = absorbed + utf8_char_len(text[absorbed]);
                backtrack = Some((star, next));
                p = star + 1;
                t = next;
            }
            None => return false,
        }
    }
    pattern[p..].iter().all(|&b| b == b'*')
}

/// Length of the UTF-8 sequence starting with `first_byte`, so `?` and `*` step over whole characters.
fn utf8_char_len(first_byte: u8) -> usize {
    match first_byte {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_patterns_match_case_insensitively() {
        // (pattern, candidate, expected)
        let cases: &[(&str, &str, bool)] = &[
            ("s3:Get*", "s3:GetObject", true),
            ("s3:Get*", "s3:getobject", true),
            ("S3:GET*", "s3:GetObject", true),
            ("s3:Get*", "s3:Get", true),
            ("s3:Get*", "s3:PutObject", false),
            ("s3:Get*", "s3x:GetObject", false),
            ("s3:Get*", "ec2:GetConsoleOutput", false),
            ("s3:*Object", "s3:GetObject", true),
            ("s3:*Object", "s3:PutObject", true),
            ("s3:*Object", "s3:GetObjectAcl", false),
            ("s3:*Object", "s3:Object", true),
            ("*", "s3:GetObject", true),
            ("*", "", true),
            ("*:*", "iam:PassRole", true),
            ("iam:?assRole", "iam:PassRole", true),
            ("iam:?assRole", "iam:assRole", false),
            ("iam:?assRole", "iam:PPassRole", false),
            ("s3:get*object*", "s3:GetObjectAcl", true),
            (
                "s3:get*object*",
                "s3:GetBucketObjectLockConfiguration",
                true,
            ),
            ("s3:get*object*", "s3:GetBucketPolicy", false),
            ("s3:get*object*", "s3:PutObject", false),
            ("s3:GetObject", "s3:GetObject", true),
            ("s3:GetObject", "s3:GetObjectAcl", false),
            ("s3:GetObject", "s3:GetObjec", false),
            ("s3:", "s3:GetObject", false),
            ("", "", true),
            ("", "s3:GetObject", false),
            ("**", "anything", true),
            ("a*b*c", "abc", true),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "aXbY", false),
            ("*a", "ba", true),
            ("*a", "ab", false),
            (
                "a*a*a*a*a*b",
                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                false,
            ),
            ("?", "", false),
            ("??", "ab", true),
            ("*?", "", false),
            ("*?", "x", true),
            // Regex metacharacters are literals.
            ("s3:Get.bject", "s3:GetObject", false),
            ("s3:Get.bject", "s3:Get.bject", true),
            ("s3:Get+", "s3:GetGet", false),
            ("s3:(Get)", "s3:Get", false),
            ("s3:[GP]etObject", "s3:GetObject", false),
            ("s3:Get|Put", "s3:Get", false),
            ("s3:^Get$", "s3:Get", false),
            ("s3:Get\\*", "s3:Get\\Object", true),
        ];
        for &(pattern, candidate, expected) in cases {
            assert_eq!(
                WildcardPattern::case_insensitive(pattern).matches(candidate),
                expected,
                "pattern {pattern:?} against {candidate:?}"
            );
        }
    }

    #[test]
    fn resource_patterns_match_case_sensitively() {
        let cases: &[(&str, &str, bool)] = &[
            ("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket/key", true),
            ("arn:aws:s3:::bucket/*", "arn:aws:s3:::Bucket/key", false),
            ("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket", false),
            ("arn:aws:s3:::bucket*", "arn:aws:s3:::bucket", true),
            (
                "arn:aws:iam::*:role/?dmin",
                "arn:aws:iam::123456789012:role/Admin",
                true,
            ),
            (
                "arn:aws:iam::*:role/?dmin",
                "arn:aws:iam::123456789012:role/admin",
                true,
            ),
            (
                "arn:aws:iam::*:role/Admin",
                "arn:aws:iam::123456789012:role/admin",
                false,
            ),
            ("arn:aws:s3:::caf?", "arn:aws:s3:::café", true),
            ("arn:aws:s3:::caf?x", "arn:aws:s3:::caféx", true),
            ("arn:aws:s3:::*é", "arn:aws:s3:::xyzé", true),
        ];
        for &(pattern, candidate, expected) in cases {
            assert_eq!(
                WildcardPattern::case_sensitive(pattern).matches(candidate),
                expected,
                "pattern {pattern:?} against {candidate:?}"
            );
        }
    }

    #[test]
    fn matches_everything_only_for_star_runs() {
        let cases: &[(&str, bool)] = &[
            ("*", true),
            ("**", true),
            ("", false),
            ("*?", false),
            ("arn:*", false),
            ("arn:aws:*:*:*:*", false),
            ("s3:*", false),
        ];
        for &(pattern, expected) in cases {
            assert_eq!(
                WildcardPattern::case_sensitive(pattern).matches_everything(),
                expected,
                "{pattern:?}"
            );
        }
    }
}
