//! The IAM layer: what each principal is *granted*.
//!
//! `catalogue` is every IAM action with its access level; `authz` parses
//! `aws iam get-account-authorization-details`; `policy` and `pattern` model policy documents and their
//! wildcards; `eval` computes each principal's granted set over the catalogue; `recorded` says whether
//! CloudTrail records an action at all (the `?` lines of the diff); `resource_types` the resource types
//! each action accepts and their ARN formats.

pub mod authz;
pub mod catalogue;
pub mod eval;
pub mod pattern;
pub mod policy;
pub mod recorded;
pub mod resource_types;

use std::path::{Path, PathBuf};

use authz::{AuthorizationDetails, AuthzError};

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("cannot read the IAM snapshot {path}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("IAM snapshot {path} is not valid")]
    Invalid {
        path: String,
        source: Box<AuthzError>,
    },
}

/// One account's IAM snapshot, merged from its files (the pages of
/// `aws iam get-account-authorization-details`).
pub fn load_snapshot(paths: &[PathBuf]) -> Result<AuthorizationDetails, SnapshotError> {
    let path_text = |path: &Path| path.display().to_string();
    let mut pages = Vec::with_capacity(paths.len());
    for path in paths {
        let text = std::fs::read_to_string(path).map_err(|source| SnapshotError::Read {
            path: path_text(path),
            source,
        })?;
        let page = AuthorizationDetails::from_json_str(&text).map_err(|source| {
            SnapshotError::Invalid {
                path: path_text(path),
                source: Box::new(source),
            }
        })?;
        pages.push(page);
    }
    Ok(AuthorizationDetails::merge(pages))
}
