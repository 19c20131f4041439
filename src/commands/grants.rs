use crate::ExitStatus;
use crate::cli::GrantsArgs;
use crate::iam::catalogue::Catalogue;
use crate::iam::eval::{granted_report, granted_report_detailed};
use crate::printer::Printer;

pub fn run(args: &GrantsArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let details = crate::iam::load_snapshot(&args.iam)?;
    for warning in &details.warnings {
        printer.warn(warning);
    }
    let catalogue = Catalogue::embedded();
    let report = if args.detailed {
        granted_report_detailed(&details, catalogue)?
    } else {
        granted_report(&details, catalogue)?
    };
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(ExitStatus::Success)
}
