//! The report as a document: sections of blocks, built once ([`crate::render::sections`]) and
//! walked by each backend (Markdown, the status page, the chat message).

use crate::contents::JobStatus;
use crate::text::Text;

/// A whole report.
#[derive(Debug, Clone)]
pub struct Document {
    /// `agent-jobs daily report 2026-11-21 — attention`.
    pub title: String,
    /// `healthy` or `attention`.
    pub overall: String,
    /// The headline sentence.
    pub headline: String,
    /// Period, time zone and host.
    pub subtitle: Text,
    /// Banners under the headline (suite paused, maintenance).
    pub banners: Vec<Banner>,
    pub sections: Vec<Section>,
    /// The line after the sections (log counts).
    pub footer: Text,
    /// `report-id: …`, on a line of its own in every copy.
    pub id_line: String,
}

/// A highlighted line.
#[derive(Debug, Clone)]
pub struct Banner {
    /// CSS class on the status page: `paused` or `attention`.
    pub class: &'static str,
    pub text: Text,
}

/// One section.
#[derive(Debug, Clone)]
pub struct Section {
    /// Anchor on the status page.
    pub id: &'static str,
    pub title: &'static str,
    pub blocks: Vec<Block>,
    /// What a chat message shows of it (one line each; none to leave it out).
    pub chat: Vec<Text>,
}

/// A block of a section.
#[derive(Debug, Clone)]
pub enum Block {
    Para(Text),
    /// Untrusted prose (the analysis paragraph): escaped as text, never markup.
    Prose(String),
    /// Small print under a block.
    Note(Text),
    List(Vec<Text>),
    Table(Table),
    /// The status page's run charts, one card per job (left out of Markdown and chat).
    RunCharts,
}

/// A table.
#[derive(Debug, Clone)]
pub struct Table {
    /// Element id on the status page.
    pub id: Option<&'static str>,
    pub head: Vec<&'static str>,
    pub rows: Vec<Vec<Cell>>,
}

/// A table cell.
#[derive(Debug, Clone)]
pub enum Cell {
    Text(Text),
    /// A job name (a link to its card on the status page).
    Job(String),
    Status(JobStatus),
}

impl From<Text> for Cell {
    fn from(t: Text) -> Cell {
        Cell::Text(t)
    }
}

impl From<String> for Cell {
    fn from(s: String) -> Cell {
        Cell::Text(Text::plain(s))
    }
}

impl From<&str> for Cell {
    fn from(s: &str) -> Cell {
        Cell::Text(Text::plain(s))
    }
}

/// The emoji a job status shows as in Markdown and chat.
pub fn badge(s: JobStatus) -> &'static str {
    match s {
        JobStatus::Ok => "✅",
        JobStatus::Paused | JobStatus::Unscheduled => "⏸️",
        JobStatus::Degraded => "🟡",
        _ => "❌",
    }
}
