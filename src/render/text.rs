//! CloudTracker's output for many principals: for each, the line `query --user` or `query --role`
//! begins with, then its diff, so that one principal's part reads exactly as its own query prints it.
//! Each account's part begins with a line naming it: `== account NAME (ID)`. A role asked by
//! session reads as `query --role NAME --by-session` prints it.

use std::io::Write;

use super::{Frame, Renderer, diff};
use crate::findings::organization::{
    AccountCoverage, Principal, PrincipalFindings, PrincipalType, Sink, Survey,
};
use crate::findings::{Filters, Findings};
use crate::iam::catalogue::Catalogue;

pub struct TextRenderer<'a> {
    out: &'a mut dyn Write,
    frame: Frame<'a>,
    colour: bool,
}

impl<'a> TextRenderer<'a> {
    pub fn new(out: &'a mut dyn Write, frame: Frame<'a>, colour: bool) -> TextRenderer<'a> {
        TextRenderer { out, frame, colour }
    }
}

/// The line `query` prints before a principal's diff.
pub fn header(principal: &Principal) -> String {
    match principal.kind {
        PrincipalType::User => format!(
            "Getting info on {}, user created {}",
            principal.name,
            principal.created.as_deref().unwrap_or("unknown")
        ),
        PrincipalType::Role => format!("Getting info for role {}", principal.name),
    }
}

/// The people behind a role's sessions, each followed by the diff of what it used there, as
/// `query --role NAME --by-session` prints them.
pub fn write_people(
    out: &mut dyn Write,
    people: &[(String, Findings)],
    filters: Filters,
    catalogue: &Catalogue,
    colour: bool,
) -> anyhow::Result<()> {
    let used = Filters {
        show_used: true,
        ..filters
    };
    for (person, findings) in people {
        writeln!(out, "{person}")?;
        for line in diff::lines(findings, used, catalogue) {
            writeln!(out, "  {}", line.render(colour))?;
        }
    }
    Ok(())
}

impl Sink for TextRenderer<'_> {
    fn account(&mut self, account: &AccountCoverage) -> anyhow::Result<()> {
        writeln!(self.out, "== account {} ({})", account.name, account.id)?;
        Ok(())
    }

    fn principal(&mut self, principal: &PrincipalFindings) -> anyhow::Result<()> {
        if let Some(people) = &principal.people {
            // As `query --role NAME --by-session` prints it.
            writeln!(
                self.out,
                "Getting info for role {}, by person",
                principal.principal.name
            )?;
            return write_people(
                self.out,
                people,
                self.frame.filters,
                self.frame.catalogue,
                self.colour,
            );
        }
        writeln!(self.out, "{}", header(&principal.principal))?;
        for line in diff::lines(
            &principal.findings,
            self.frame.filters,
            self.frame.catalogue,
        ) {
            writeln!(self.out, "{}", line.render(self.colour))?;
        }
        Ok(())
    }
}

impl Renderer for TextRenderer<'_> {
    fn finish(self: Box<Self>, _survey: &Survey) -> anyhow::Result<()> {
        self.out.flush()?;
        Ok(())
    }
}
