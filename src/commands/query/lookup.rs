//! Principals named on the command line, found in an account's IAM snapshot, with the closest names
//! when they are not there.

use crate::config::{AccountConfig, close_matches};
use crate::iam::authz::{AuthorizationDetails, Role, User, account_of_arn};

pub fn find_user<'a>(
    details: &'a AuthorizationDetails,
    name: &str,
    account: &AccountConfig,
) -> anyhow::Result<&'a User> {
    details
        .users
        .iter()
        .find(|u| u.name.eq_ignore_ascii_case(name) && in_account(&u.arn, account))
        .ok_or_else(|| {
            not_found(
                "user",
                name,
                details
                    .users
                    .iter()
                    .map(|u| (u.name.as_str(), u.arn.as_str())),
                account,
            )
        })
}

pub fn find_role<'a>(
    details: &'a AuthorizationDetails,
    name: &str,
    account: &AccountConfig,
) -> anyhow::Result<&'a Role> {
    details
        .roles
        .iter()
        .find(|r| r.name.eq_ignore_ascii_case(name) && in_account(&r.arn, account))
        .ok_or_else(|| {
            not_found(
                "role",
                name,
                details
                    .roles
                    .iter()
                    .map(|r| (r.name.as_str(), r.arn.as_str())),
                account,
            )
        })
}

pub fn in_account(arn: &str, account: &AccountConfig) -> bool {
    account_of_arn(arn).is_none_or(|id| id == account.id)
}

/// An error for a name that is not in the account's snapshot, with the closest names of that account,
/// or the account the snapshot puts that name in.
fn not_found<'a>(
    kind: &str,
    name: &str,
    candidates: impl Iterator<Item = (&'a str, &'a str)>,
    account: &AccountConfig,
) -> anyhow::Error {
    let candidates: Vec<(&str, &str)> = candidates.collect();
    if let Some((_, arn)) = candidates
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
    {
        return anyhow::anyhow!(
            "{kind} {name:?} ({arn}) is not in account {} ({}); choose its account with --account",
            account.name,
            account.id
        );
    }
    let in_this_account = candidates
        .iter()
        .filter(|(_, arn)| in_account(arn, account))
        .map(|(n, _)| *n);
    let close = close_matches(name, in_this_account);
    let hint = if close.is_empty() {
        String::new()
    } else {
        format!("\n  close matches: {}", close.join(", "))
    };
    anyhow::anyhow!(
        "no {kind} named {name:?} in the IAM snapshot of account {} ({}){hint}",
        account.name,
        account.id
    )
}

/// `arn:aws:iam::123456789012:role/path/name` → `arn:aws:sts::123456789012:assumed-role/name/`
/// (session ARNs leave out the role's path).
pub fn role_session_prefix(role_arn: &str, role_name: &str) -> String {
    let mut parts = role_arn.splitn(6, ':');
    let partition = parts.nth(1).unwrap_or("aws");
    let account = parts.nth(2).unwrap_or_default();
    format!("arn:{partition}:sts::{account}:assumed-role/{role_name}/")
}
