//! One row per principal and action, the principal's fields repeated on each: NDJSON
//! (`data/findings-row.schema.json`) or CSV with the same columns, in the same order. In CSV, the
//! granting statements are written `ATTACHMENT:POLICY#INDEX` and joined with `; `, and the
//! resources are joined with spaces. With `--by-session`, a role's own rows are followed by one row
//! per person behind its sessions and action that person used, with `person` set.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::io::Write;

use serde::Serialize;

use super::json::{ActionView, PrincipalView};
use super::{Frame, Renderer};
use crate::findings::organization::{AccountCoverage, PrincipalFindings, Sink, Survey};
use crate::findings::{ActionFinding, Filters, Grant, GrantingStatement, Status};
use crate::iam::catalogue::Catalogue;

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

/// One row: the principal's columns, the action's, how it is granted, what was done with it, and
/// the last two. The parts are serialized apart so that a principal's own columns and each way of
/// granting are written once and copied into every row they belong to.
#[derive(Serialize)]
struct Row<'a> {
    #[serde(flatten)]
    principal: PrincipalColumns<'a>,
    #[serde(flatten)]
    action: ActionColumns<'a>,
    #[serde(flatten)]
    grant: GrantColumns<'a>,
    #[serde(flatten)]
    activity: ActivityColumns<'a>,
    #[serde(flatten)]
    closing: ClosingColumns<'a>,
}

#[derive(Clone, Copy, Serialize)]
struct PrincipalColumns<'a> {
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
}

#[derive(Serialize)]
struct ActionColumns<'a> {
    action: &'a str,
    status: &'static str,
    access_level: &'static str,
}

#[derive(Serialize)]
struct GrantColumns<'a> {
    granted_on_all_resources: Option<bool>,
    conditional: Option<bool>,
    conditional_deny: Option<bool>,
    denied_on_some_resources: Option<bool>,
    granted_by: &'a [GrantingStatement],
}

#[derive(Serialize)]
struct ActivityColumns<'a> {
    calls: u64,
    first_call: Option<&'a str>,
    last_call: Option<&'a str>,
    denied_calls: u64,
    resources: &'a [String],
    other_resources: u64,
}

#[derive(Serialize)]
struct ClosingColumns<'a> {
    principal_denied_calls: u64,
    /// With `--by-session`, on a role's rows: the person whose sessions used the action.
    person: Option<&'a str>,
}

impl<'a> PrincipalColumns<'a> {
    fn of(view: &PrincipalView<'a>, findings: &PrincipalFindings) -> PrincipalColumns<'a> {
        let count = |status: &str| view.counts.get(status).copied().unwrap_or_default();
        PrincipalColumns {
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
            unmapped_calls: findings.findings.unmapped.iter().map(|c| c.calls).sum(),
        }
    }
}

impl<'a> GrantColumns<'a> {
    fn of(grant: Option<&'a Grant>) -> GrantColumns<'a> {
        GrantColumns {
            granted_on_all_resources: grant.map(|g| g.all_resources),
            conditional: grant.map(|g| g.conditional),
            conditional_deny: grant.map(|g| g.conditional_deny),
            denied_on_some_resources: grant.map(|g| g.denied_on_some_resources),
            granted_by: grant.map_or(&[], |g| g.statements.as_slice()),
        }
    }
}

impl<'a> ActivityColumns<'a> {
    fn of(action: &ActionView<'a>) -> ActivityColumns<'a> {
        ActivityColumns {
            calls: action.calls,
            first_call: action.first_call,
            last_call: action.last_call,
            denied_calls: action.denied_calls,
            resources: action.resources,
            other_resources: action.other_resources,
        }
    }
}

impl<'a> Row<'a> {
    fn of(
        principal: PrincipalColumns<'a>,
        principal_denied_calls: u64,
        person: Option<&'a str>,
        action: &ActionView<'a>,
    ) -> Row<'a> {
        Row {
            principal,
            action: ActionColumns {
                action: action.action,
                status: action.status.as_str(),
                access_level: action.access_level,
            },
            grant: GrantColumns::of(action.grant),
            activity: ActivityColumns::of(action),
            closing: ClosingColumns {
                principal_denied_calls,
                person,
            },
        }
    }

    /// The row as CSV fields, in the order of [`COLUMNS`].
    fn fields(&self) -> [String; 29] {
        let optional = |value: Option<&str>| value.unwrap_or_default().to_string();
        let flag = |value: Option<bool>| value.map(|v| v.to_string()).unwrap_or_default();
        let (principal, action, grant, activity, closing) = (
            &self.principal,
            &self.action,
            &self.grant,
            &self.activity,
            &self.closing,
        );
        let statements = grant
            .granted_by
            .iter()
            .map(statement_text)
            .collect::<Vec<_>>()
            .join("; ");
        [
            principal.account.to_string(),
            principal.account_name.to_string(),
            principal.principal_type.to_string(),
            principal.principal_name.to_string(),
            principal.principal_arn.to_string(),
            optional(principal.principal_created),
            optional(principal.last_activity),
            principal.idle.to_string(),
            principal.used.to_string(),
            principal.unused.to_string(),
            principal.unknown.to_string(),
            principal.not_granted.to_string(),
            principal.unmapped_calls.to_string(),
            action.action.to_string(),
            action.status.to_string(),
            action.access_level.to_string(),
            flag(grant.granted_on_all_resources),
            flag(grant.conditional),
            flag(grant.conditional_deny),
            flag(grant.denied_on_some_resources),
            statements,
            activity.calls.to_string(),
            optional(activity.first_call),
            optional(activity.last_call),
            activity.denied_calls.to_string(),
            activity.resources.join(" "),
            activity.other_resources.to_string(),
            closing.principal_denied_calls.to_string(),
            optional(closing.person),
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

/// Appends the members of `value`, a JSON object, without its braces.
fn members(buffer: &mut Vec<u8>, value: &impl Serialize) -> serde_json::Result<()> {
    let start = buffer.len();
    serde_json::to_writer(&mut *buffer, value)?;
    buffer.pop();
    buffer.remove(start);
    Ok(())
}

/// Each row's finding, for one principal: its own, then those of the people behind its sessions.
fn findings_of_rows<'a>(
    frame: &'a Frame<'_>,
    principal: &'a PrincipalFindings,
) -> impl Iterator<Item = (Option<&'a str>, &'a ActionFinding)> + 'a {
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
        .flat_map(move |(person, findings)| {
            findings
                .filtered(used, frame.catalogue)
                .map(move |finding| (Some(person.as_str()), finding))
        });
    own.chain(people)
}

/// Each catalogue action's name as a format writes it (a JSON string, a CSV field), encoded once
/// for every row that names it.
struct ActionNames(Vec<Box<[u8]>>);

impl ActionNames {
    fn of<E>(
        catalogue: &Catalogue,
        encode: impl Fn(&str, &mut Vec<u8>) -> Result<(), E>,
    ) -> Result<ActionNames, E> {
        catalogue
            .actions()
            .iter()
            .map(|info| {
                let mut name = Vec::new();
                encode(&info.full_name, &mut name)?;
                Ok(name.into_boxed_slice())
            })
            .collect::<Result<_, E>>()
            .map(ActionNames)
    }

    /// The JSON strings.
    fn json(catalogue: &Catalogue) -> serde_json::Result<ActionNames> {
        ActionNames::of(catalogue, |name, out| serde_json::to_writer(out, name))
    }

    /// The CSV fields.
    fn csv(catalogue: &Catalogue) -> csv::Result<ActionNames> {
        ActionNames::of(catalogue, |name, out| append_csv(out, [name], false))
    }
}

/// One principal's NDJSON lines. Equal, byte for byte, to serializing each [`Row`] whole: the parts
/// that repeat are serialized once and copied. Those are the principal's columns, each way of
/// granting, and, for an action of the principal's own that was never called, everything after its
/// name.
fn ndjson(
    frame: &Frame<'_>,
    names: &ActionNames,
    principal: &PrincipalFindings,
    output: &mut Output<'_>,
) -> std::io::Result<()> {
    let view = PrincipalView::of(principal);
    let mut head = b"{".to_vec();
    members(&mut head, &PrincipalColumns::of(&view, principal))?;
    head.extend_from_slice(b",\"action\":");
    let mut own_closing = Vec::new();
    members(
        &mut own_closing,
        &ClosingColumns {
            principal_denied_calls: view.denied_calls,
            person: None,
        },
    )?;
    let mut grant_columns: HashMap<*const Grant, Vec<u8>> = HashMap::new();
    let mut idle_tails = IdleTails::default();
    for (person, finding) in findings_of_rows(frame, principal) {
        output.row_written()?;
        let out = &mut output.buffer;
        out.extend_from_slice(&head);
        match names.0.get(finding.id.0 as usize) {
            Some(name) => out.extend_from_slice(name),
            None => serde_json::to_writer(&mut *out, &frame.catalogue.get(finding.id).full_name)?,
        }
        if is_idle(finding) && person.is_none() {
            let tail = idle_tails.get(finding, |tail| {
                action_tail(tail, finding, &mut grant_columns)?;
                members(tail, &idle_columns())?;
                tail.push(b',');
                tail.extend_from_slice(&own_closing);
                tail.extend_from_slice(b"}\n");
                Ok::<(), serde_json::Error>(())
            })?;
            out.extend_from_slice(tail);
            continue;
        }
        action_tail(out, finding, &mut grant_columns)?;
        members(out, &ActivityColumns::of(&ActionView::of(frame, finding)))?;
        out.push(b',');
        match person {
            None => out.extend_from_slice(&own_closing),
            Some(_) => members(
                out,
                &ClosingColumns {
                    principal_denied_calls: view.denied_calls,
                    person,
                },
            )?,
        }
        out.extend_from_slice(b"}\n");
    }
    Ok(())
}

/// Never called, refused or seen on a resource in the window.
fn is_idle(finding: &ActionFinding) -> bool {
    finding.calls == 0
        && finding.denied_calls == 0
        && finding.first_call.is_none()
        && finding.last_call.is_none()
        && finding.resources.is_empty()
        && finding.other_resources == 0
}

/// The columns of an action never called.
fn idle_columns() -> ActivityColumns<'static> {
    ActivityColumns {
        calls: 0,
        first_call: None,
        last_call: None,
        denied_calls: 0,
        resources: &[],
        other_resources: 0,
    }
}

/// A row's columns from the status to the grant's, and the comma after them.
fn action_tail(
    out: &mut Vec<u8>,
    finding: &ActionFinding,
    grant_columns: &mut HashMap<*const Grant, Vec<u8>>,
) -> serde_json::Result<()> {
    // Both are fixed words that need no escaping.
    out.extend_from_slice(b",\"status\":\"");
    out.extend_from_slice(finding.status.as_str().as_bytes());
    out.extend_from_slice(b"\",\"access_level\":\"");
    out.extend_from_slice(finding.access_level.as_bytes());
    out.extend_from_slice(b"\",");
    let grant = finding.grant.as_deref();
    match grant_columns.entry(grant.map_or(std::ptr::null(), |g| g as *const Grant)) {
        Entry::Occupied(entry) => out.extend_from_slice(entry.get()),
        Entry::Vacant(entry) => {
            let mut columns = Vec::new();
            members(&mut columns, &GrantColumns::of(grant))?;
            out.extend_from_slice(&columns);
            entry.insert(columns);
        }
    }
    out.push(b',');
    Ok(())
}

/// Everything after the action's name in the rows of a principal's own actions never called, one
/// per status, access level and grant: a principal granted `*` has thousands of such rows and a
/// few dozen such tails.
#[derive(Default)]
struct IdleTails {
    tails: Vec<(IdleKey, Vec<u8>)>,
    /// The one used last: neighbouring actions mostly share it.
    last: usize,
}

type IdleKey = (Status, &'static str, *const Grant);

impl IdleTails {
    fn get<E>(
        &mut self,
        finding: &ActionFinding,
        make: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
    ) -> Result<&[u8], E> {
        let key: IdleKey = (
            finding.status,
            finding.access_level,
            finding
                .grant
                .as_deref()
                .map_or(std::ptr::null(), |g| g as *const Grant),
        );
        let at = match self.tails.get(self.last) {
            Some((last, _)) if *last == key => self.last,
            _ => match self.tails.iter().position(|(k, _)| *k == key) {
                Some(at) => at,
                None => {
                    let mut tail = Vec::new();
                    make(&mut tail)?;
                    self.tails.push((key, tail));
                    self.tails.len() - 1
                }
            },
        };
        self.last = at;
        Ok(&self.tails[at].1)
    }
}

/// One principal's CSV records, without the header. As in [`ndjson`], the principal's fields and,
/// for its own actions never called, the fields after the action's name are encoded once.
fn csv_records(
    frame: &Frame<'_>,
    names: &ActionNames,
    principal: &PrincipalFindings,
    output: &mut Output<'_>,
) -> anyhow::Result<()> {
    let view = PrincipalView::of(principal);
    let own = PrincipalColumns::of(&view, principal);
    let mut head: Option<Vec<u8>> = None;
    let mut idle_tails = IdleTails::default();
    for (person, finding) in findings_of_rows(frame, principal) {
        output.row_written()?;
        let action = ActionView::of(frame, finding);
        let row = Row::of(own, view.denied_calls, person, &action);
        if !is_idle(finding) || person.is_some() {
            append_csv(&mut output.buffer, row.fields(), true)?;
            continue;
        }
        let head = match &mut head {
            Some(head) => head,
            None => {
                let mut encoded = Vec::new();
                append_csv(&mut encoded, &row.fields()[..ACTION_COLUMN], false)?;
                encoded.push(b',');
                head.insert(encoded)
            }
        };
        output.buffer.extend_from_slice(head);
        match names.0.get(finding.id.0 as usize) {
            Some(name) => output.buffer.extend_from_slice(name),
            None => append_csv(&mut output.buffer, [action.action], false)?,
        }
        output.buffer.push(b',');
        let tail = idle_tails.get(finding, |tail| {
            append_csv(tail, &row.fields()[ACTION_COLUMN + 1..], true)
        })?;
        output.buffer.extend_from_slice(tail);
    }
    Ok(())
}

/// The position of `action` in [`COLUMNS`]: the principal's columns come before it.
const ACTION_COLUMN: usize = 13;

/// Appends `fields` to `out` as CSV, separated by commas, and the line's end when `record_end`.
/// With quotes only where a field needs them, a record is its fields encoded one by one and joined
/// with commas, so parts of a record can be encoded apart and joined. A lone empty field is written
/// `""`, so a part must not be one.
fn append_csv<I, T>(out: &mut Vec<u8>, fields: I, record_end: bool) -> csv::Result<()>
where
    I: IntoIterator<Item = T>,
    T: AsRef<[u8]>,
{
    let mut writer = csv::WriterBuilder::new()
        .buffer_capacity(1024)
        .from_writer(&mut *out);
    writer.write_record(fields)?;
    writer.flush()?;
    drop(writer);
    if !record_end {
        out.pop();
    }
    Ok(())
}

/// Rows are made in a buffer small enough to stay in the core's cache, and written out each time
/// it fills: filling a buffer that holds a whole principal (megabytes for one granted `*`) costs
/// about twice as much.
struct Output<'a> {
    out: &'a mut dyn Write,
    buffer: Vec<u8>,
}

impl<'a> Output<'a> {
    /// At least the output's own buffer, so that a full one is written through it, not copied.
    const WRITTEN_AT: usize = 1 << 20;

    fn new(out: &'a mut dyn Write) -> Output<'a> {
        Output {
            out,
            buffer: Vec::with_capacity(2 * Output::WRITTEN_AT),
        }
    }

    fn row_written(&mut self) -> std::io::Result<()> {
        if self.buffer.len() >= Output::WRITTEN_AT {
            self.flush_buffer()?;
        }
        Ok(())
    }

    fn flush_buffer(&mut self) -> std::io::Result<()> {
        self.out.write_all(&self.buffer)?;
        self.buffer.clear();
        Ok(())
    }
}

enum Shape {
    Ndjson(ActionNames),
    Csv(ActionNames),
}

/// Writes each principal's rows as it comes, on the calling thread: rendering them side by side
/// would take the cores that [`crate::findings::organization::survey`] evaluates the next
/// principals on.
pub struct RowRenderer<'a> {
    output: Output<'a>,
    shape: Shape,
    frame: Frame<'a>,
}

impl<'a> RowRenderer<'a> {
    pub fn ndjson(out: &'a mut dyn Write, frame: Frame<'a>) -> anyhow::Result<RowRenderer<'a>> {
        Ok(RowRenderer {
            output: Output::new(out),
            shape: Shape::Ndjson(ActionNames::json(frame.catalogue)?),
            frame,
        })
    }

    pub fn csv(out: &'a mut dyn Write, frame: Frame<'a>) -> anyhow::Result<RowRenderer<'a>> {
        let mut header = csv::Writer::from_writer(Vec::new());
        header.write_record(COLUMNS)?;
        out.write_all(&header.into_inner()?)?;
        Ok(RowRenderer {
            output: Output::new(out),
            shape: Shape::Csv(ActionNames::csv(frame.catalogue)?),
            frame,
        })
    }
}

impl Sink for RowRenderer<'_> {
    fn account(&mut self, _account: &AccountCoverage) -> anyhow::Result<()> {
        Ok(())
    }

    fn principal(&mut self, principal: &PrincipalFindings) -> anyhow::Result<()> {
        match &self.shape {
            Shape::Ndjson(names) => Ok(ndjson(&self.frame, names, principal, &mut self.output)?),
            Shape::Csv(names) => csv_records(&self.frame, names, principal, &mut self.output),
        }
    }
}

impl Renderer for RowRenderer<'_> {
    fn finish(mut self: Box<Self>, _survey: &Survey) -> anyhow::Result<()> {
        self.output.flush_buffer()?;
        self.output.out.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::findings::organization::{Principal, PrincipalType};
    use crate::findings::{ActionFinding, Findings, Status, UnmappedCall};
    use crate::time::Window;

    const CATALOGUE: &str = "s3\tCreateBucket\tWrite\ns3\tGetObject\tRead\ns3\tListBucket\tList\nsts\tAssumeRole\tWrite\n";

    fn finding(catalogue: &Catalogue, action: &str, status: Status) -> ActionFinding {
        let id = catalogue.lookup_full(action).expect("in the catalogue");
        ActionFinding {
            id,
            status,
            access_level: catalogue.get(id).access_level.as_str(),
            grant: None,
            calls: 0,
            first_call: None,
            last_call: None,
            denied_calls: 0,
            resources: Vec::new(),
            other_resources: 0,
        }
    }

    /// A role with a shared grant, a partial one, a used action not granted, an unmapped call and a
    /// person behind its sessions; names that JSON and CSV must escape.
    fn role(catalogue: &Catalogue) -> PrincipalFindings {
        let everything = Arc::new(Grant {
            all_resources: true,
            conditional: false,
            conditional_deny: false,
            denied_on_some_resources: false,
            statements: vec![GrantingStatement {
                policy: "AdministratorAccess".into(),
                policy_arn: Some("arn:aws:iam::aws:policy/AdministratorAccess".into()),
                attachment: "managed",
                group: None,
                statement: 0,
                sid: None,
            }],
        });
        let partial = Arc::new(Grant {
            all_resources: false,
            conditional: true,
            conditional_deny: true,
            denied_on_some_resources: true,
            statements: vec![GrantingStatement {
                policy: "in\"line, \u{e9}".into(),
                policy_arn: None,
                attachment: "group_inline",
                group: Some("ops".into()),
                statement: 2,
                sid: Some("Sid\\1".into()),
            }],
        });
        let mut get = finding(catalogue, "s3:GetObject", Status::Used);
        get.grant = Some(everything.clone());
        get.calls = 3;
        get.first_call = Some("2024-03-01T00:00:00Z".into());
        get.last_call = Some("2024-03-02T00:00:00Z".into());
        get.denied_calls = 1;
        get.resources = vec!["arn:aws:s3:::a/x".into(), "arn:aws:s3:::b/\"y\"".into()];
        get.other_resources = 4;
        let mut list = finding(catalogue, "s3:ListBucket", Status::Unused);
        list.grant = Some(everything.clone());
        let mut create = finding(catalogue, "s3:CreateBucket", Status::Unknown);
        create.grant = Some(partial);
        let mut assume = finding(catalogue, "sts:AssumeRole", Status::NotGranted);
        assume.calls = 1;
        let mut person_get = get.clone();
        person_get.calls = 2;
        PrincipalFindings {
            principal: Principal {
                account: "111111111111".into(),
                account_name: "de\"mo".into(),
                kind: PrincipalType::Role,
                name: "ad,min".into(),
                arn: "arn:aws:iam::111111111111:role/ad,min".into(),
                created: Some("2020-01-01T00:00:00Z".into()),
            },
            findings: Findings {
                actions: vec![create, get, list, assume],
                unmapped: vec![UnmappedCall {
                    event_source: "x.amazonaws.com".into(),
                    event_name: "Y".into(),
                    calls: 5,
                }],
                last_activity: Some("2024-03-02T00:00:00Z".into()),
                denied_calls: 6,
            },
            warnings: Vec::new(),
            people: Some(vec![(
                "arn:aws:iam::111111111111:user/alice".into(),
                Findings {
                    actions: vec![person_get],
                    ..Findings::default()
                },
            )]),
            needs: None,
            daily: Vec::new(),
        }
    }

    /// Each row of one principal (its own, then those of the people behind its sessions).
    fn rows<'a>(
        frame: &'a Frame<'_>,
        principal: &'a PrincipalFindings,
    ) -> impl Iterator<Item = (Option<&'a str>, ActionView<'a>)> + 'a {
        findings_of_rows(frame, principal)
            .map(|(person, finding)| (person, ActionView::of(frame, finding)))
    }

    /// What `render` writes through an [`Output`].
    fn rendered(render: impl FnOnce(&mut Output<'_>) -> anyhow::Result<()>) -> Vec<u8> {
        let mut bytes = Vec::new();
        let mut output = Output::new(&mut bytes);
        render(&mut output).expect("renders");
        output.flush_buffer().expect("written");
        drop(output);
        bytes
    }

    /// Each row serialized whole, the plain way.
    fn plain_rows(frame: &Frame<'_>, principal: &PrincipalFindings) -> Vec<String> {
        let view = PrincipalView::of(principal);
        rows(frame, principal)
            .map(|(person, action)| {
                let row = Row::of(
                    PrincipalColumns::of(&view, principal),
                    view.denied_calls,
                    person,
                    &action,
                );
                serde_json::to_string(&row).expect("serializes")
            })
            .collect()
    }

    /// Runs `check` on the test role with no filter, with only the used actions, and with the
    /// unknown and benign ones hidden.
    fn for_each_filter_set(check: impl Fn(&Frame<'_>, &PrincipalFindings)) {
        let catalogue = Catalogue::from_tsv(CATALOGUE).expect("catalogue");
        let window = Window::new(None, None).expect("window");
        let principal = role(&catalogue);
        for filters in [
            Filters::default(),
            Filters {
                show_used: true,
                ..Filters::default()
            },
            Filters {
                ignore_unknown: true,
                ignore_benign: true,
                ..Filters::default()
            },
        ] {
            let frame = Frame {
                window: &window,
                filters,
                catalogue: &catalogue,
            };
            check(&frame, &principal);
        }
    }

    #[test]
    fn ndjson_rows_equal_each_row_serialized_whole() {
        for_each_filter_set(|frame, principal| {
            let names = ActionNames::json(frame.catalogue).expect("names");
            let fast = rendered(|output| Ok(ndjson(frame, &names, principal, output)?));
            let fast = String::from_utf8(fast).expect("utf-8");
            let fast: Vec<&str> = fast.lines().collect();
            assert_eq!(fast, plain_rows(frame, principal));
            assert!(!fast.is_empty());
        });
    }

    #[test]
    fn ndjson_keys_are_the_csv_columns_in_order() {
        let catalogue = Catalogue::from_tsv(CATALOGUE).expect("catalogue");
        let window = Window::new(None, None).expect("window");
        let frame = Frame {
            window: &window,
            filters: Filters::default(),
            catalogue: &catalogue,
        };
        let principal = role(&catalogue);
        let names = ActionNames::json(&catalogue).expect("names");
        let text = rendered(|output| Ok(ndjson(&frame, &names, &principal, output)?));
        let text = String::from_utf8(text).expect("utf-8");
        assert_eq!(text.lines().count(), 5, "4 own rows and 1 of the person");
        for line in text.lines() {
            let value: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
            let object = value.as_object().expect("an object");
            assert_eq!(object.len(), COLUMNS.len());
            let mut at = 0;
            for column in COLUMNS {
                let key = format!("\"{column}\":");
                let found = line[at..]
                    .find(&key)
                    .unwrap_or_else(|| panic!("{column} after {at} in {line}"));
                at += found + key.len();
            }
        }
    }

    #[test]
    fn csv_records_equal_each_row_written_whole() {
        assert_eq!(COLUMNS[ACTION_COLUMN], "action");
        for_each_filter_set(|frame, principal| {
            let names = ActionNames::csv(frame.catalogue).expect("names");
            let fast = rendered(|output| csv_records(frame, &names, principal, output));
            let view = PrincipalView::of(principal);
            let mut plain = csv::Writer::from_writer(Vec::new());
            for (person, action) in rows(frame, principal) {
                let own = PrincipalColumns::of(&view, principal);
                let row = Row::of(own, view.denied_calls, person, &action);
                plain.write_record(row.fields()).expect("written");
            }
            let plain = plain.into_inner().expect("flushed");
            assert!(!fast.is_empty());
            assert_eq!(String::from_utf8(fast), String::from_utf8(plain));
        });
    }

    #[test]
    fn csv_fields_follow_the_columns() {
        let catalogue = Catalogue::from_tsv(CATALOGUE).expect("catalogue");
        let window = Window::new(None, None).expect("window");
        let frame = Frame {
            window: &window,
            filters: Filters::default(),
            catalogue: &catalogue,
        };
        let principal = role(&catalogue);
        let names = ActionNames::csv(&catalogue).expect("names");
        let bytes = rendered(|output| csv_records(&frame, &names, &principal, output));
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(bytes.as_slice());
        let records: Vec<csv::StringRecord> = reader
            .records()
            .collect::<Result<_, _>>()
            .expect("valid CSV");
        assert_eq!(records.len(), 5);
        let at = |record: &csv::StringRecord, name: &str| {
            let index = COLUMNS.iter().position(|c| *c == name).expect("a column");
            record.get(index).expect("a field").to_string()
        };
        let create = &records[0];
        assert_eq!(at(create, "action"), "s3:CreateBucket");
        assert_eq!(at(create, "account_name"), "de\"mo");
        assert_eq!(at(create, "principal_name"), "ad,min");
        assert_eq!(
            at(create, "granted_by"),
            "group_inline:ops/in\"line, \u{e9}#2"
        );
        assert_eq!(at(create, "principal_denied_calls"), "6");
        assert_eq!(at(create, "unmapped_calls"), "5");
        let get = &records[1];
        assert_eq!(
            at(get, "granted_by"),
            "managed:arn:aws:iam::aws:policy/AdministratorAccess#0"
        );
        assert_eq!(
            at(get, "resources"),
            "arn:aws:s3:::a/x arn:aws:s3:::b/\"y\""
        );
        assert_eq!(at(get, "denied_calls"), "1");
        assert_eq!(at(get, "person"), "");
        let assume = &records[3];
        assert_eq!(at(assume, "granted_on_all_resources"), "");
        assert_eq!(at(assume, "status"), "not_granted");
        assert_eq!(
            at(&records[4], "person"),
            "arn:aws:iam::111111111111:user/alice"
        );
        assert_eq!(at(&records[4], "calls"), "2");
    }
}
