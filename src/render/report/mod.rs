//! `ctidx report`: one self-contained HTML file of every principal's findings, for the people who
//! will never run a CLI. It only reads findings: each principal's diff, its calls per day, the people
//! behind a shared role and the policy written from its needs ([`super::policy`]).
//!
//! The page is a template ([`PAGE`]) with its style, its script and one vendored library inlined,
//! and the data ([`data`]) embedded as compressed JSON. The data stays small for thousands of
//! principals granted `*`: the catalogue is written once, the actions each principal holds are runs
//! over it, and principals that hold the same actions the same way share those runs.

use std::collections::HashMap;
use std::io::Write;

use rayon::prelude::*;
use serde::Serialize;

use super::policy::{Options, Target};
use crate::findings::organization::{AccountCoverage, PrincipalFindings, Sink, Survey};
use crate::findings::{Status, Unrecorded};
use crate::iam::catalogue::Catalogue;
use crate::time::Window;

mod data;
mod summary;

use data::{
    AccountData, Data, GrantData, Holdings, LEVELS, PrincipalData, Rendered, WindowData,
    account_data, level_index, render_principal,
};
use summary::Summary;

const PAGE: &str = include_str!("page.html");
const STYLE: &str = include_str!("page.css");
const SCRIPT: &str = include_str!("page.js");
/// Renders only the rows of a long table that are in view. MIT licence, in the file's header.
const CLUSTERIZE: &str = include_str!("vendor/clusterize-1.0.0.js");

/// How the report writes each principal's policy.
#[derive(Debug, Clone, Copy)]
pub struct ReportOptions {
    pub policy: Options,
}

pub struct ReportRenderer<'a> {
    out: &'a mut dyn Write,
    catalogue: &'a Catalogue,
    unrecorded: &'a Unrecorded,
    window: &'a Window,
    options: ReportOptions,
    /// Each account's days with logs, by ID.
    days_with_logs: crate::findings::organization::LogDays,
    accounts: Vec<AccountData>,
    principals: Vec<PrincipalData>,
    grants: Vec<GrantData>,
    grant_index: HashMap<GrantData, u32>,
    holdings: Holdings,
    generated: String,
}

impl<'a> ReportRenderer<'a> {
    pub fn new(
        out: &'a mut dyn Write,
        catalogue: &'a Catalogue,
        unrecorded: &'a Unrecorded,
        window: &'a Window,
        options: ReportOptions,
        days_with_logs: crate::findings::organization::LogDays,
        generated: String,
    ) -> ReportRenderer<'a> {
        ReportRenderer {
            out,
            catalogue,
            unrecorded,
            window,
            options,
            days_with_logs,
            accounts: Vec::new(),
            principals: Vec::new(),
            grants: Vec::new(),
            grant_index: HashMap::new(),
            holdings: Holdings::default(),
            generated,
        }
    }

    /// Principals rendered so far.
    pub fn principal_count(&self) -> usize {
        self.principals.len()
    }

    fn add(&mut self, rendered: Rendered) {
        let global: Vec<u32> = rendered
            .grants
            .into_iter()
            .map(|grant| {
                let next = self.grants.len() as u32;
                *self.grant_index.entry(grant.clone()).or_insert_with(|| {
                    self.grants.push(grant);
                    next
                })
            })
            .collect();
        let mut data = rendered.data;
        let mut holding = rendered.holding;
        for run in holding.runs.chunks_mut(3) {
            run[2] = global[run[2] as usize];
        }
        for used in &mut data.used {
            if used.2 >= 0 {
                used.2 = i64::from(global[used.2 as usize]);
            }
        }
        data.holding = self.holdings.intern(holding);
        self.principals.push(data);
    }

    pub fn finish(self, survey: &Survey) -> anyhow::Result<()> {
        let catalogue = self.catalogue;
        let services: Vec<&str> = catalogue.services();
        let service_index: HashMap<&str, u32> = services
            .iter()
            .enumerate()
            .map(|(i, s)| (*s, i as u32))
            .collect();
        let actions: Vec<(u32, &str, u8)> = catalogue
            .actions()
            .iter()
            .map(|info| {
                (
                    service_index
                        .get(info.service.as_str())
                        .copied()
                        .unwrap_or(0),
                    info.name.as_str(),
                    level_index(info.access_level),
                )
            })
            .collect();
        let mut accounts = self.accounts;
        for coverage in &survey.accounts {
            if !accounts.iter().any(|a| a.id == coverage.id) {
                accounts.push(account_data(coverage, &self.days_with_logs));
            }
        }
        let summary = Summary::of(&self.principals, &accounts);
        let data = Data {
            generated: self.generated,
            version: env!("CARGO_PKG_VERSION"),
            window: WindowData {
                start: self.window.start_text(),
                end: self.window.end_text(),
            },
            levels: LEVELS.iter().map(|l| l.as_str()).collect(),
            statuses: Status::ALL.iter().map(|s| s.as_str()).collect(),
            services,
            actions,
            grants: self.grants,
            holdings: self.holdings.all,
            unrecorded: catalogue
                .ids()
                .filter(|id| self.unrecorded.contains(*id))
                .map(|id| id.0)
                .collect(),
            accounts,
            principals: self.principals,
            problems: survey.problems.clone(),
            policy_target: target_name(self.options.policy.target),
            policy_limit: self.options.policy.target.limit(),
        };
        let json = embedded_data(&data)?;
        let mut env = minijinja::Environment::new();
        env.add_filter("thousands", thousands);
        env.add_template("page.html", PAGE)?;
        let page = env.get_template("page.html")?.render(minijinja::context! {
            style => STYLE,
            script => SCRIPT,
            clusterize => CLUSTERIZE,
            data => json,
            window => &data.window,
            generated => &data.generated,
            version => data.version,
            accounts => &data.accounts,
            summary => summary,
            problems => &data.problems,
            statuses => &data.statuses,
        })?;
        self.out.write_all(page.as_bytes())?;
        self.out.flush()?;
        Ok(())
    }
}

/// `45019` → `45,019`.
fn thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

fn target_name(target: Target) -> &'static str {
    match target {
        Target::Managed => "managed policy",
        Target::RoleInline => "role inline policy",
        Target::UserInline => "user inline policy",
        Target::GroupInline => "group inline policy",
    }
}

/// The data as the page embeds it: JSON, gzip-compressed, in base64 (the page inflates it with the
/// browser's own `DecompressionStream`). A `*` principal's findings repeat the same words thousands
/// of times; compressed, an organization's report stays a file that can be mailed.
fn embedded_data(data: &impl Serialize) -> anyhow::Result<String> {
    use base64::Engine;
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    serde_json::to_writer(&mut gzip, data)?;
    let compressed = gzip.finish()?;
    Ok(base64::engine::general_purpose::STANDARD.encode(compressed))
}

impl Sink for ReportRenderer<'_> {
    fn account(&mut self, account: &AccountCoverage) -> anyhow::Result<()> {
        self.accounts
            .push(account_data(account, &self.days_with_logs));
        Ok(())
    }

    fn principal(&mut self, principal: &PrincipalFindings) -> anyhow::Result<()> {
        self.principals(std::slice::from_ref(principal))
    }

    fn principals(&mut self, principals: &[PrincipalFindings]) -> anyhow::Result<()> {
        let account = self.accounts.len().saturating_sub(1);
        let (catalogue, unrecorded, options) = (self.catalogue, self.unrecorded, self.options);
        let rendered: Vec<Rendered> = principals
            .par_iter()
            .map(|principal| render_principal(principal, account, catalogue, unrecorded, &options))
            .collect();
        for one in rendered {
            self.add(one);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::data::Holding;
    use super::*;

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(45019), "45,019");
        assert_eq!(thousands(1234567), "1,234,567");
    }

    #[test]
    fn embedded_data_inflates_to_the_json() {
        use base64::Engine;
        use std::io::Read;
        let text = embedded_data(&serde_json::json!({"a": "</script>"})).expect("encodes");
        assert!(
            text.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b))
        );
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .expect("base64");
        let mut json = String::new();
        flate2::read::GzDecoder::new(bytes.as_slice())
            .read_to_string(&mut json)
            .expect("gzip");
        assert_eq!(json, r#"{"a":"</script>"}"#);
    }

    #[test]
    fn equal_holdings_are_shared() {
        let mut holdings = Holdings::default();
        let one = Holding {
            runs: vec![0, 10, 0],
            flip: Vec::new(),
        };
        let other = Holding {
            runs: vec![0, 10, 1],
            flip: Vec::new(),
        };
        assert_eq!(holdings.intern(one.clone()), 0);
        assert_eq!(holdings.intern(other), 1);
        assert_eq!(holdings.intern(one), 0);
        assert_eq!(holdings.all.len(), 2);
    }
}
