//! Renderings of findings. Each only reads what [`crate::findings`] computed: CloudTracker's text
//! diff ([`diff`], [`text`]), one JSON document ([`json`]), and one row per principal and action as
//! NDJSON or CSV ([`rows`]). Every rendering applies the same [`Filters`].

use std::io::Write;

use rayon::prelude::*;

use crate::findings::Filters;
use crate::findings::organization::{PrincipalFindings, Sink, Survey};
use crate::iam::catalogue::Catalogue;
use crate::time::Window;

pub mod diff;
pub mod json;
pub mod policy;
pub mod report;
pub mod rows;
pub mod text;

/// Principals rendered side by side before their output is written: enough to keep both cores
/// busy, few enough that the output of principals granted `*` (megabytes each) does not pile up.
const RENDERED_AT_ONCE: usize = 8;

/// Renders principals on every core into buffers kept from one batch to the next (a principal
/// granted `*` fills megabytes; fresh buffers each time cost page faults and memory the allocator
/// holds on to), then hands each principal's bytes on, in order.
#[derive(Default)]
struct SideBySide {
    buffers: Vec<Vec<u8>>,
}

impl SideBySide {
    fn render(
        &mut self,
        principals: &[PrincipalFindings],
        render: impl Fn(&PrincipalFindings, &mut Vec<u8>) -> anyhow::Result<()> + Sync,
        mut emit: impl FnMut(&[u8]) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        self.buffers.resize_with(RENDERED_AT_ONCE, Vec::new);
        for chunk in principals.chunks(RENDERED_AT_ONCE) {
            let results: Vec<anyhow::Result<()>> = chunk
                .par_iter()
                .zip(self.buffers.par_iter_mut())
                .map(|(principal, buffer)| {
                    buffer.clear();
                    render(principal, buffer)
                })
                .collect();
            for (result, buffer) in results.into_iter().zip(&self.buffers) {
                result?;
                emit(buffer)?;
            }
        }
        Ok(())
    }
}

/// How `query` writes its findings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// CloudTracker's diff
    #[default]
    Text,
    /// One JSON document: the window, the accounts, each principal with its findings
    Json,
    /// One JSON object per line, per principal and action
    Ndjson,
    /// One row per principal and action, with a header
    Csv,
}

/// What every rendering needs besides the findings.
#[derive(Clone, Copy)]
pub struct Frame<'a> {
    pub window: &'a Window,
    pub filters: Filters,
    pub catalogue: &'a Catalogue,
}

/// A sink that writes findings as they come, and ends its output once they are all there.
pub trait Renderer: Sink {
    fn finish(self: Box<Self>, survey: &Survey) -> anyhow::Result<()>;
}

pub fn renderer<'a>(
    format: Format,
    out: &'a mut dyn Write,
    frame: Frame<'a>,
    colour: bool,
) -> anyhow::Result<Box<dyn Renderer + 'a>> {
    Ok(match format {
        Format::Text => Box::new(text::TextRenderer::new(out, frame, colour)),
        Format::Json => Box::new(json::JsonRenderer::new(out, frame)?),
        Format::Ndjson => Box::new(rows::RowRenderer::ndjson(out, frame)?),
        Format::Csv => Box::new(rows::RowRenderer::csv(out, frame)?),
    })
}
