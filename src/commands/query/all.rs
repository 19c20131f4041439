//! `query --all`: every user and role of the selected accounts, in one pass.

use crate::store::SummaryKind;
use std::io::Write;

use super::Question;
use crate::ExitStatus;
use crate::findings::organization::{
    self, AccountCoverage, PrincipalFindings, Scope, Sink, Survey,
};
use crate::iam::catalogue::Catalogue;
use crate::printer::Printer;
use crate::render::{self, Frame};

pub(super) fn answer(question: &Question<'_>, out: &mut dyn Write) -> anyhow::Result<ExitStatus> {
    let settings = question.settings;
    let accounts = settings.accounts(&question.args.account)?;
    let store = settings.open_store()?;
    let session = crate::commands::Session::open(&store, &question.args.cluster)?;
    let kinds: &[SummaryKind] = if question.args.by_session {
        &SummaryKind::ALL
    } else {
        &[SummaryKind::Activity]
    };
    session.read_summaries(&store, question.printer, kinds)?;
    let days_with_logs =
        organization::days_with_logs(&session.ctx, &store, &accounts, &question.window)?;
    let catalogue = Catalogue::embedded();
    let scope = Scope {
        settings,
        accounts,
        window: question.window,
        recording: &question.recording,
        catalogue,
        days_with_logs: &days_with_logs,
        by_session: question.args.by_session.then_some(question.args.max_depth),
        needs_and_days: false,
    };
    let frame = Frame {
        window: &question.window,
        filters: question.filters,
        catalogue,
    };
    let mut renderer = render::renderer(question.args.format, out, frame, question.colour)?;
    let mut sink = Warnings {
        inner: renderer.as_mut(),
        printer: question.printer,
    };
    let survey = session.finish(
        organization::survey(&scope, &session.ctx, &mut sink),
        question.printer,
    )?;
    renderer.finish(&survey)?;
    Ok(report_problems(&survey, question.printer))
}

/// Problems go to stderr too; any account or principal left out fails the run.
pub(crate) fn report_problems(survey: &Survey, printer: &Printer) -> ExitStatus {
    let mut status = ExitStatus::Success;
    for problem in &survey.problems {
        if problem.left_out {
            printer.error(&problem.message);
            status = ExitStatus::Failure;
        } else {
            printer.warn(&problem.message);
        }
    }
    status
}

/// Passes findings on, printing on stderr what each principal's evaluation could not take into
/// account.
pub(crate) struct Warnings<'a> {
    pub inner: &'a mut dyn Sink,
    pub printer: &'a Printer,
}

impl Warnings<'_> {
    fn warn(&self, principal: &PrincipalFindings) {
        for warning in &principal.warnings {
            self.printer
                .warn(format!("{}: {warning}", principal.principal.arn));
        }
    }
}

impl Sink for Warnings<'_> {
    fn account(&mut self, account: &AccountCoverage) -> anyhow::Result<()> {
        self.inner.account(account)
    }

    fn principal(&mut self, principal: &PrincipalFindings) -> anyhow::Result<()> {
        self.warn(principal);
        self.inner.principal(principal)
    }

    fn principals(&mut self, principals: &[PrincipalFindings]) -> anyhow::Result<()> {
        principals.iter().for_each(|principal| self.warn(principal));
        self.inner.principals(principals)
    }
}
