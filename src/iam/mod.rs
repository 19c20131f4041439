//! The IAM layer: what each principal is *granted*.
//!
//! `catalogue` is every IAM action with its access level; `authz` parses
//! `aws iam get-account-authorization-details`; `policy` and `pattern` model policy documents and their
//! wildcards; `eval` computes each principal's granted set over the catalogue; `recorded` says whether
//! CloudTrail records an action at all (the `?` lines of the diff).

pub mod authz;
pub mod catalogue;
pub mod eval;
pub mod pattern;
pub mod policy;
pub mod recorded;
