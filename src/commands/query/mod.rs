//! `ctidx query`: CloudTracker's questions, answered from the store, for one principal
//! ([`one`]), every principal of several accounts ([`all`]), or a list of them ([`list`]).

use std::io::{IsTerminal, Write};

use chrono::Utc;

use crate::ExitStatus;
use crate::cli::QueryArgs;
use crate::config::Settings;
use crate::findings::Filters;
use crate::iam::recorded::RecordingConfig;
use crate::printer::Printer;
use crate::time::Window;

pub(crate) mod all;
mod list;
pub(crate) mod lookup;
mod one;

pub fn run(settings: &Settings, args: &QueryArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let colour =
        !args.no_color && std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal();
    // Not line by line: `--all` writes millions of lines.
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
    let status = answer(settings, args, &mut out, colour, printer)?;
    out.flush()?;
    Ok(status)
}

/// What every kind of question shares.
struct Question<'a> {
    settings: &'a Settings,
    args: &'a QueryArgs,
    window: Window,
    recording: RecordingConfig,
    filters: Filters,
    colour: bool,
    printer: &'a Printer,
}

pub fn answer(
    settings: &Settings,
    args: &QueryArgs,
    out: &mut dyn Write,
    colour: bool,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    if args.cluster.cluster.is_some() && !args.all {
        anyhow::bail!(
            "--cluster runs `query --all`; the other questions read too little to need one"
        );
    }
    let window = Window::new(args.start, args.end)?.or_last_year(Utc::now().date_naive())?;
    let patterns = if args.data_events.is_empty() {
        &settings.config.data_events
    } else {
        &args.data_events
    };
    let question = Question {
        settings,
        args,
        window,
        recording: RecordingConfig::from_patterns(patterns)?,
        filters: Filters {
            show_used: args.show_used,
            ignore_benign: args.ignore_benign,
            ignore_unknown: args.ignore_unknown,
        },
        colour,
        printer,
    };
    if let Some(kind) = args.list {
        list::answer(&question, kind, out)
    } else if args.all {
        all::answer(&question, out)
    } else {
        one::answer(&question, out)?;
        Ok(ExitStatus::Success)
    }
}
