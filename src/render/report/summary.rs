//! The summary view, worked out from the principals' parts of the page.

use std::collections::BTreeSet;

use serde::Serialize;

use super::data::{AccountData, PrincipalData};

/// Principals in each list of the summary.
const TOP: usize = 10;

/// The summary view, worked out from the principals' parts.
#[derive(Serialize)]
pub(super) struct Summary {
    pub(super) accounts: usize,
    pub(super) users: usize,
    pub(super) roles: usize,
    pub(super) idle_users: usize,
    pub(super) idle_roles: usize,
    /// Granted (used + unused + unknown), used, unused, unknown, not granted: actions summed over
    /// principals.
    pub(super) granted: usize,
    pub(super) used: usize,
    pub(super) unused: usize,
    pub(super) unknown: usize,
    pub(super) not_granted: usize,
    pub(super) most_unused: Vec<Top>,
    pub(super) most_unused_share: Vec<Top>,
    /// Principals whose unused grants include Permissions management or Write actions.
    pub(super) risky: Vec<Top>,
    pub(super) risky_count: usize,
}

#[derive(Serialize)]
pub(super) struct Top {
    pub(super) index: usize,
    pub(super) account: String,
    pub(super) kind: &'static str,
    pub(super) name: String,
    pub(super) unused: usize,
    pub(super) granted: usize,
    /// Unused share of granted, in percent, rounded down.
    pub(super) share: usize,
    pub(super) permissions_management: usize,
    pub(super) write: usize,
}

impl Summary {
    pub(super) fn of(principals: &[PrincipalData], accounts: &[AccountData]) -> Summary {
        let reported: BTreeSet<usize> = principals.iter().map(|p| p.account).collect();
        let granted = |p: &PrincipalData| p.counts[0] + p.counts[1] + p.counts[2];
        let top = |index: usize| {
            let p = &principals[index];
            let granted = granted(p);
            Top {
                index,
                account: accounts
                    .get(p.account)
                    .map(|a| a.name.clone())
                    .unwrap_or_default(),
                kind: p.kind,
                name: p.name.clone(),
                unused: p.counts[1],
                granted,
                share: (p.counts[1] * 100).checked_div(granted).unwrap_or(0),
                permissions_management: p.unused_by_level[3],
                write: p.unused_by_level[2],
            }
        };
        let mut by_count: Vec<usize> = (0..principals.len())
            .filter(|&i| principals[i].counts[1] > 0)
            .collect();
        by_count.sort_by(|&a, &b| {
            principals[b].counts[1]
                .cmp(&principals[a].counts[1])
                .then(a.cmp(&b))
        });
        let mut by_share = by_count.clone();
        let share = |i: usize| {
            let p = &principals[i];
            (p.counts[1] as f64) / (granted(p).max(1) as f64)
        };
        by_share.sort_by(|&a, &b| share(b).total_cmp(&share(a)).then(a.cmp(&b)));
        let risky: Vec<usize> = by_count
            .iter()
            .copied()
            .filter(|&i| principals[i].unused_by_level[2] + principals[i].unused_by_level[3] > 0)
            .collect();
        let idle = |kind: &str| {
            principals
                .iter()
                .filter(|p| p.kind == kind && p.last.is_none())
                .count()
        };
        let sum = |at: usize| principals.iter().map(|p| p.counts[at]).sum::<usize>();
        Summary {
            accounts: reported.len(),
            users: principals.iter().filter(|p| p.kind == "user").count(),
            roles: principals.iter().filter(|p| p.kind == "role").count(),
            idle_users: idle("user"),
            idle_roles: idle("role"),
            granted: sum(0) + sum(1) + sum(2),
            used: sum(0),
            unused: sum(1),
            unknown: sum(2),
            not_granted: sum(3),
            most_unused: by_count.iter().take(TOP).map(|&i| top(i)).collect(),
            most_unused_share: by_share.iter().take(TOP).map(|&i| top(i)).collect(),
            risky_count: risky.len(),
            risky: risky.iter().take(TOP).map(|&i| top(i)).collect(),
        }
    }
}
