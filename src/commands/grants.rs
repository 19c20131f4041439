use anyhow::Context;

use crate::ExitStatus;
use crate::cli::GrantsArgs;
use crate::iam::authz::AuthorizationDetails;
use crate::iam::catalogue::Catalogue;
use crate::iam::eval::{granted_report, granted_report_detailed};
use crate::printer::Printer;

pub fn run(args: &GrantsArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let mut pages = Vec::new();
    for path in &args.iam {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        pages.push(
            AuthorizationDetails::from_json_str(&text)
                .with_context(|| format!("IAM snapshot {} is not valid", path.display()))?,
        );
    }
    let details = AuthorizationDetails::merge(pages);
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
