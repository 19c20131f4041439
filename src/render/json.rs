//! One JSON document (`data/findings.schema.json`): the window, the filters, every principal with
//! its findings, the accounts and the problems. Principals are written as they come; the accounts
//! and problems, known once all are in, follow them.

use std::collections::BTreeMap;
use std::io::Write;

use serde::Serialize;

use super::{Frame, Renderer};
use crate::findings::organization::{AccountCoverage, Principal, PrincipalFindings, Sink, Survey};
use crate::findings::{ActionFinding, Filters, Grant, Status, UnmappedCall};

pub struct JsonRenderer<'a> {
    out: &'a mut dyn Write,
    frame: Frame<'a>,
    principals: usize,
    side_by_side: super::SideBySide,
}

impl<'a> JsonRenderer<'a> {
    pub fn new(out: &'a mut dyn Write, frame: Frame<'a>) -> anyhow::Result<JsonRenderer<'a>> {
        let filters = &frame.filters;
        write!(
            out,
            "{{\"window\":{},\"filters\":{},\"principals\":[",
            serde_json::json!({"start": frame.window.start_text(), "end": frame.window.end_text()}),
            serde_json::json!({
                "show_used": filters.show_used,
                "ignore_benign": filters.ignore_benign,
                "ignore_unknown": filters.ignore_unknown,
            }),
        )?;
        Ok(JsonRenderer {
            out,
            frame,
            principals: 0,
            side_by_side: Default::default(),
        })
    }
}

/// A principal as the JSON document and the rows show it.
#[derive(Serialize)]
pub struct PrincipalView<'a> {
    #[serde(flatten)]
    pub principal: &'a Principal,
    /// The last successful call in the window; `None` when idle.
    pub last_activity: Option<&'a str>,
    pub idle: bool,
    /// Calls refused for lack of permission, of any kind.
    pub denied_calls: u64,
    /// Actions of each status, before filters.
    pub counts: BTreeMap<&'static str, usize>,
}

impl<'a> PrincipalView<'a> {
    pub fn of(principal: &'a PrincipalFindings) -> PrincipalView<'a> {
        let findings = &principal.findings;
        PrincipalView {
            principal: &principal.principal,
            last_activity: findings.last_activity.as_deref(),
            idle: findings.last_activity.is_none(),
            denied_calls: findings.denied_calls,
            counts: findings
                .counts()
                .into_iter()
                .map(|(status, count)| (status.as_str(), count))
                .collect(),
        }
    }
}

/// One action of one principal.
#[derive(Serialize)]
pub struct ActionView<'a> {
    /// `service:Action` as IAM spells it.
    pub action: &'a str,
    pub status: Status,
    pub access_level: &'static str,
    pub grant: Option<&'a Grant>,
    pub calls: u64,
    pub first_call: Option<&'a str>,
    pub last_call: Option<&'a str>,
    pub denied_calls: u64,
    pub resources: &'a [String],
    pub other_resources: u64,
}

impl<'a> ActionView<'a> {
    pub fn of(frame: &Frame<'a>, action: &'a ActionFinding) -> ActionView<'a> {
        ActionView {
            action: &frame.catalogue.get(action.id).full_name,
            status: action.status,
            access_level: action.access_level,
            grant: action.grant.as_deref(),
            calls: action.calls,
            first_call: action.first_call.as_deref(),
            last_call: action.last_call.as_deref(),
            denied_calls: action.denied_calls,
            resources: &action.resources,
            other_resources: action.other_resources,
        }
    }
}

#[derive(Serialize)]
struct PrincipalDocument<'a> {
    #[serde(flatten)]
    view: PrincipalView<'a>,
    unmapped_calls: &'a [UnmappedCall],
    warnings: &'a [String],
    actions: Vec<ActionView<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    people: Option<Vec<PersonView<'a>>>,
}

/// One person behind a role's sessions, and the actions it used in them.
#[derive(Serialize)]
struct PersonView<'a> {
    person: &'a str,
    actions: Vec<ActionView<'a>>,
}

impl Sink for JsonRenderer<'_> {
    fn account(&mut self, _account: &AccountCoverage) -> anyhow::Result<()> {
        Ok(())
    }

    fn principal(&mut self, principal: &PrincipalFindings) -> anyhow::Result<()> {
        let mut buffer = Vec::new();
        document(&self.frame, principal, &mut buffer)?;
        self.write(&buffer)
    }

    /// Serialized on every core, written in order.
    fn principals(&mut self, principals: &[PrincipalFindings]) -> anyhow::Result<()> {
        let frame = self.frame;
        let mut side_by_side = std::mem::take(&mut self.side_by_side);
        let written = side_by_side.render(
            principals,
            |principal, buffer| Ok(document(&frame, principal, buffer)?),
            |document| self.write(document),
        );
        self.side_by_side = side_by_side;
        written
    }
}

impl JsonRenderer<'_> {
    fn write(&mut self, document: &[u8]) -> anyhow::Result<()> {
        if self.principals > 0 {
            self.out.write_all(b",")?;
        }
        self.out.write_all(b"\n")?;
        self.out.write_all(document)?;
        self.principals += 1;
        Ok(())
    }
}

/// One principal's part of the document.
fn document(
    frame: &Frame<'_>,
    principal: &PrincipalFindings,
    out: &mut Vec<u8>,
) -> serde_json::Result<()> {
    let document = PrincipalDocument {
        view: PrincipalView::of(principal),
        unmapped_calls: &principal.findings.unmapped,
        warnings: &principal.warnings,
        actions: principal
            .findings
            .filtered(frame.filters, frame.catalogue)
            .map(|action| ActionView::of(frame, action))
            .collect(),
        people: principal.people.as_ref().map(|people| {
            let used = Filters {
                show_used: true,
                ..frame.filters
            };
            people
                .iter()
                .map(|(person, findings)| PersonView {
                    person,
                    actions: findings
                        .filtered(used, frame.catalogue)
                        .map(|action| ActionView::of(frame, action))
                        .collect(),
                })
                .collect()
        }),
    };
    serde_json::to_writer(out, &document)
}

impl Renderer for JsonRenderer<'_> {
    fn finish(self: Box<Self>, survey: &Survey) -> anyhow::Result<()> {
        write!(
            self.out,
            "\n],\"accounts\":{},\"problems\":{}}}\n",
            serde_json::to_string(&survey.accounts)?,
            serde_json::to_string(&survey.problems)?
        )?;
        self.out.flush()?;
        Ok(())
    }
}
