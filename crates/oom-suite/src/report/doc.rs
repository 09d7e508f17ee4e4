//! A small document model: the report's sections as headings, paragraphs, lists, tables, code
//! blocks and charts. [`crate::report::sections`] builds one document; Markdown and HTML render
//! the same document, so both files always have the same sections and numbers.

/// A run of inline text.
#[derive(Debug, Clone, PartialEq)]
pub enum Inline {
    Text(String),
    /// Monospace (shapes, ids, byte counts).
    Code(String),
    Strong(String),
    /// A link to a section of the same document.
    Anchor {
        text: String,
        id: String,
    },
}

pub fn text(s: impl Into<String>) -> Inline {
    Inline::Text(s.into())
}
pub fn code(s: impl Into<String>) -> Inline {
    Inline::Code(s.into())
}
pub fn strong(s: impl Into<String>) -> Inline {
    Inline::Strong(s.into())
}

/// A table cell: inline runs.
pub type Cell = Vec<Inline>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub title: String,
    pub align: Align,
}

pub fn col(title: &str) -> Column {
    Column {
        title: title.to_string(),
        align: Align::Left,
    }
}

pub fn num(title: &str) -> Column {
    Column {
        title: title.to_string(),
        align: Align::Right,
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Cell>>,
}

/// One bar of a horizontal bar chart: a label and stacked segments.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub label: String,
    /// (series index, value)
    pub segments: Vec<(usize, f64)>,
    /// Shown at the end of the bar.
    pub note: String,
}

/// A series: its name and colour (CSS colour).
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub color: String,
}

/// A point of a scatter chart on a log scale.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub value: f64,
    /// Series index (colour).
    pub series: usize,
    /// Shape: false = circle, true = square.
    pub square: bool,
    pub tooltip: String,
}

/// A horizontal reference line of a scatter chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub value: f64,
    pub label: String,
    pub color: String,
}

/// A range bar: min–max whisker with a median mark.
#[derive(Debug, Clone, PartialEq)]
pub struct Range {
    pub label: String,
    pub min: f64,
    pub median: f64,
    pub max: f64,
    pub note: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Chart {
    /// Horizontal stacked bars.
    Bars {
        title: String,
        series: Vec<Series>,
        bars: Vec<Bar>,
        unit: String,
    },
    /// Points sorted along x, log-scale y, with reference lines.
    LogScatter {
        title: String,
        y_label: String,
        series: Vec<Series>,
        points: Vec<Point>,
        lines: Vec<Line>,
    },
    /// Values over a sequence of steps (a model's calls), as percent of a limit per series:
    /// step lines, the limit at 100 %, marks at chosen steps.
    Timeline {
        title: String,
        /// One label per step (x axis).
        steps: Vec<String>,
        /// (series, value per step, the series' limit): drawn as value / limit.
        lines: Vec<(Series, Vec<f64>, f64)>,
        /// (step index, label, colour): a vertical marker (the peak, the failing call).
        marks: Vec<(usize, String, String)>,
        unit: String,
    },
    /// Min / median / max per label, with a reference value.
    Ranges {
        title: String,
        ranges: Vec<Range>,
        reference: Option<(f64, String)>,
        unit: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    Heading {
        level: u8,
        text: String,
        id: String,
    },
    Para(Vec<Inline>),
    List {
        ordered: bool,
        items: Vec<Vec<Inline>>,
    },
    Table(Table),
    /// Preformatted text (raw runtime messages).
    Code(String),
    /// A chart: inline SVG in HTML, a pointer to report.html in Markdown.
    Chart(Chart),
    /// A long part shown collapsed in HTML (`<details>`); Markdown shows it in full.
    Details {
        summary: String,
        blocks: Vec<Block>,
    },
}

/// The document.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Doc {
    pub title: String,
    pub blocks: Vec<Block>,
}

impl Doc {
    pub fn h(&mut self, level: u8, text: &str, id: &str) {
        self.blocks.push(Block::Heading {
            level,
            text: text.to_string(),
            id: id.to_string(),
        });
    }
    pub fn p(&mut self, inlines: Vec<Inline>) {
        self.blocks.push(Block::Para(inlines));
    }
    pub fn push(&mut self, block: Block) {
        self.blocks.push(block);
    }
    /// The headings, in order (for a table of contents).
    pub fn headings(&self) -> Vec<(u8, String, String)> {
        let mut out = Vec::new();
        collect_headings(&self.blocks, &mut out);
        out
    }
}

fn collect_headings(blocks: &[Block], out: &mut Vec<(u8, String, String)>) {
    for b in blocks {
        match b {
            Block::Heading { level, text, id } => out.push((*level, text.clone(), id.clone())),
            Block::Details { blocks, .. } => collect_headings(blocks, out),
            _ => {}
        }
    }
}
