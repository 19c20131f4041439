//! One row per principal and action, the principal's fields repeated on each: NDJSON
//! (`data/findings-row.schema.json`) or CSV with the same columns, in the same order. In CSV, the
//! granting statements are written `ATTACHMENT:POLICY#INDEX` and joined with `; `, and the
//! resources are joined with spaces. With `--by-session`, a role's own rows are followed by one row
//! per person behind its sessions and action that person used, with `person` set.

use std::io::Write;

use serde::Serialize;

use super::json::{ActionView, PrincipalView};
use super::{Frame, Renderer};
use crate::findings::organization::{AccountCoverage, PrincipalFindings, Sink, Survey};
use crate::findings::{Filters, GrantingStatement};

/// The columns, in order.
pub const COLUMNS: [&str; 29] = [
    "account",
    "account_name",
    "principal_type",
    "principal_name",
    "principal_arn",
    "principal_created",
    "last_activity",
    "idle",
    "used",
    "unused",
    "unknown",
    "not_granted",
    "unmapped_calls",
    "action",
    "status",
    "access_level",
    "granted_on_all_resources",
    "conditional",
    "conditional_deny",
    "denied_on_some_resources",
    "granted_by",
    "calls",
    "first_call",
    "last_call",
    "denied_calls",
    "resources",
    "other_resources",
    "principal_denied_calls",
    "person",
];

#[derive(Serialize)]
struct Row<'a> {
    account: &'a str,
    account_name: &'a str,
    principal_type: &'static str,
    principal_name: &'a str,
    principal_arn: &'a str,
    principal_created: Option<&'a str>,
    last_activity: Option<&'a str>,
    idle: bool,
    used: usize,
    unused: usize,
    unknown: usize,
    not_granted: usize,
    unmapped_calls: u64,
    action: String,
    status: &'static str,
    access_level: &'static str,
    granted_on_all_resources: Option<bool>,
    conditional: Option<bool>,
    conditional_deny: Option<bool>,
    denied_on_some_resources: Option<bool>,
    granted_by: &'a [GrantingStatement],
    calls: u64,
    first_call: Option<&'a str>,
    last_call: Option<&'a str>,
    denied_calls: u64,
    resources: &'a [String],
    other_resources: u64,
    principal_denied_calls: u64,
    /// With `--by-session`, on a role's rows: the person whose sessions used the action.
    person: Option<&'a str>,
}

impl Row<'_> {
    /// The row as CSV fields, in the order of [`COLUMNS`].
    fn fields(&self) -> [String; 29] {
        let optional = |value: Option<&str>| value.unwrap_or_default().to_string();
        let flag = |value: Option<bool>| value.map(|v| v.to_string()).unwrap_or_default();
        let statements = self
            .granted_by
            .iter()
            .map(statement_text)
            .collect::<Vec<_>>()
            .join("; ");
        [
            self.account.to_string(),
            self.account_name.to_string(),
            self.principal_type.to_string(),
            self.principal_name.to_string(),
            self.principal_arn.to_string(),
            optional(self.principal_created),
            optional(self.last_activity),
            self.idle.to_string(),
            self.used.to_string(),
            self.unused.to_string(),
            self.unknown.to_string(),
            self.not_granted.to_string(),
            self.unmapped_calls.to_string(),
            self.action.clone(),
            self.status.to_string(),
            self.access_level.to_string(),
            flag(self.granted_on_all_resources),
            flag(self.conditional),
            flag(self.conditional_deny),
            flag(self.denied_on_some_resources),
            statements,
            self.calls.to_string(),
            optional(self.first_call),
            optional(self.last_call),
            self.denied_calls.to_string(),
            self.resources.join(" "),
            self.other_resources.to_string(),
            self.principal_denied_calls.to_string(),
            optional(self.person),
        ]
    }
}

/// `managed:arn:aws:iam::aws:policy/ReadOnlyAccess#0`, `group_inline:admins/full#2`.
fn statement_text(statement: &GrantingStatement) -> String {
    let policy = match (&statement.policy_arn, &statement.group) {
        (Some(arn), _) => arn.clone(),
        (None, Some(group)) => format!("{group}/{}", statement.policy),
        (None, None) => statement.policy.clone(),
    };
    format!("{}:{policy}#{}", statement.attachment, statement.statement)
}

enum Output<'a> {
    Ndjson(&'a mut dyn Write),
    Csv(Box<csv::Writer<&'a mut dyn Write>>),
}

pub struct RowRenderer<'a> {
    output: Output<'a>,
    frame: Frame<'a>,
}

impl<'a> RowRenderer<'a> {
    pub fn ndjson(out: &'a mut dyn Write, frame: Frame<'a>) -> RowRenderer<'a> {
        RowRenderer {
            output: Output::Ndjson(out),
            frame,
        }
    }

    pub fn csv(out: &'a mut dyn Write, frame: Frame<'a>) -> anyhow::Result<RowRenderer<'a>> {
        let mut writer = csv::Writer::from_writer(out);
        writer.write_record(COLUMNS)?;
        Ok(RowRenderer {
            output: Output::Csv(Box::new(writer)),
            frame,
        })
    }
}

impl Sink for RowRenderer<'_> {
    fn account(&mut self, _account: &AccountCoverage) -> anyhow::Result<()> {
        Ok(())
    }

    fn principal(&mut self, principal: &PrincipalFindings) -> anyhow::Result<()> {
        let frame = self.frame;
        let view = PrincipalView::of(principal);
        let count = |status: &str| view.counts.get(status).copied().unwrap_or_default();
        let unmapped_calls = principal.findings.unmapped.iter().map(|c| c.calls).sum();
        let used = Filters {
            show_used: true,
            ..frame.filters
        };
        let own = principal
            .findings
            .filtered(frame.filters, frame.catalogue)
            .map(|finding| (None, finding));
        let people = principal
            .people
            .iter()
            .flatten()
            .flat_map(|(person, findings)| {
                findings
                    .filtered(used, frame.catalogue)
                    .map(move |finding| (Some(person.as_str()), finding))
            });
        for (person, finding) in own.chain(people) {
            let action = ActionView::of(&frame, finding);
            let grant = action.grant;
            let row = Row {
                account: &view.principal.account,
                account_name: &view.principal.account_name,
                principal_type: view.principal.kind.as_str(),
                principal_name: &view.principal.name,
                principal_arn: &view.principal.arn,
                principal_created: view.principal.created.as_deref(),
                last_activity: view.last_activity,
                idle: view.idle,
                used: count("used"),
                unused: count("unused"),
                unknown: count("unknown"),
                not_granted: count("not_granted"),
                unmapped_calls,
                action: action.action,
                status: action.status.as_str(),
                access_level: action.access_level,
                granted_on_all_resources: grant.map(|g| g.all_resources),
                conditional: grant.map(|g| g.conditional),
                conditional_deny: grant.map(|g| g.conditional_deny),
                denied_on_some_resources: grant.map(|g| g.denied_on_some_resources),
                granted_by: grant.map_or(&[], |g| g.statements.as_slice()),
                calls: action.calls,
                first_call: action.first_call,
                last_call: action.last_call,
                denied_calls: action.denied_calls,
                resources: action.resources,
                other_resources: action.other_resources,
                principal_denied_calls: view.denied_calls,
                person,
            };
            match &mut self.output {
                Output::Ndjson(out) => {
                    serde_json::to_writer(&mut *out, &row)?;
                    out.write_all(b"\n")?;
                }
                Output::Csv(writer) => writer.write_record(row.fields())?,
            }
        }
        Ok(())
    }
}

impl Renderer for RowRenderer<'_> {
    fn finish(self: Box<Self>, _survey: &Survey) -> anyhow::Result<()> {
        match self.output {
            Output::Ndjson(out) => out.flush()?,
            Output::Csv(mut writer) => writer.flush()?,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_columns_are_the_ndjson_keys_in_order() {
        let statements = [GrantingStatement {
            policy: "ReadOnlyAccess".into(),
            policy_arn: Some("arn:aws:iam::aws:policy/ReadOnlyAccess".into()),
            attachment: "managed",
            group: None,
            statement: 0,
            sid: None,
        }];
        let resources = ["arn:aws:s3:::a".to_string(), "arn:aws:s3:::b".to_string()];
        let row = Row {
            account: "111111111111",
            account_name: "demo",
            principal_type: "user",
            principal_name: "alice",
            principal_arn: "arn:aws:iam::111111111111:user/alice",
            principal_created: None,
            last_activity: Some("2024-03-01T00:00:00Z"),
            idle: false,
            used: 1,
            unused: 2,
            unknown: 3,
            not_granted: 4,
            unmapped_calls: 5,
            action: "s3:GetObject".into(),
            status: "used",
            access_level: "Read",
            granted_on_all_resources: Some(true),
            conditional: Some(false),
            conditional_deny: Some(false),
            denied_on_some_resources: Some(false),
            granted_by: &statements,
            calls: 6,
            first_call: None,
            last_call: None,
            denied_calls: 7,
            resources: &resources,
            other_resources: 8,
            principal_denied_calls: 9,
            person: None,
        };
        let value = serde_json::to_value(&row).expect("serializes");
        let object = value.as_object().expect("an object");
        let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
        let mut columns = COLUMNS.to_vec();
        keys.sort_unstable();
        columns.sort_unstable();
        assert_eq!(keys, columns);
        let fields = row.fields();
        let at = |name: &str| &fields[COLUMNS.iter().position(|c| *c == name).expect("a column")];
        assert_eq!(
            at("granted_by"),
            "managed:arn:aws:iam::aws:policy/ReadOnlyAccess#0"
        );
        assert_eq!(at("resources"), "arn:aws:s3:::a arn:aws:s3:::b");
        assert_eq!(at("principal_created"), "");
        assert_eq!(at("denied_calls"), "7");
        assert_eq!(at("principal_denied_calls"), "9");
    }
}
