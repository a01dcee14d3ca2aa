//! Prometheus' text exposition format (version 0.0.4): metric families
//! with `# HELP` and `# TYPE`, samples with escaped label values.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// A metric family's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up (resets when the kernel's counter does).
    Counter,
    /// Goes up and down.
    Gauge,
}

impl Kind {
    fn word(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        }
    }
}

/// One metric family: its help, type and its samples, already written out.
#[derive(Debug, Clone)]
struct Family {
    help: String,
    kind: Kind,
    samples: usize,
    lines: String,
}

/// Metric families being gathered, written out in name order.
#[derive(Debug, Clone, Default)]
pub struct Exposition {
    families: BTreeMap<String, Family>,
}

/// The content type a scrape answers with.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

impl Exposition {
    /// An empty exposition.
    pub fn new() -> Self {
        Exposition::default()
    }

    /// Adds a sample of family `name` (declared with `help` and `kind` the
    /// first time) with `labels`. The sample is written out at once, so a
    /// scrape of many rules costs no allocation per label.
    pub fn sample(
        &mut self,
        name: &str,
        help: &str,
        kind: Kind,
        labels: &[(&str, &str)],
        value: f64,
    ) {
        let family = match self.families.get_mut(name) {
            Some(f) => f,
            None => self
                .families
                .entry(name.to_string())
                .or_insert_with(|| Family {
                    help: help.to_string(),
                    kind,
                    samples: 0,
                    lines: String::new(),
                }),
        };
        let out = &mut family.lines;
        out.push_str(name);
        if !labels.is_empty() {
            out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(k);
                out.push_str("=\"");
                push_escaped_label(out, v);
                out.push('"');
            }
            out.push('}');
        }
        out.push(' ');
        push_number(out, value);
        out.push('\n');
        family.samples += 1;
    }

    /// The number of samples gathered.
    pub fn len(&self) -> usize {
        self.families.values().map(|f| f.samples).sum()
    }

    /// Whether nothing was gathered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The text a scrape gets.
    pub fn render(&self) -> String {
        let size: usize = self.families.values().map(|f| f.lines.len() + 128).sum();
        let mut out = String::with_capacity(size);
        for (name, family) in &self.families {
            let _ = writeln!(out, "# HELP {name} {}", escape_help(&family.help));
            let _ = writeln!(out, "# TYPE {name} {}", family.kind.word());
            out.push_str(&family.lines);
        }
        out
    }
}

/// A sample value: integers without a fraction, as exporters write them.
fn push_number(out: &mut String, v: f64) {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 {
        let _ = write!(out, "{}", v as i64);
    } else {
        let _ = write!(out, "{v}");
    }
}

/// A label value with `\\`, `"` and newlines escaped.
fn push_escaped_label(out: &mut String, v: &str) {
    if !v.contains(['\\', '"', '\n']) {
        out.push_str(v);
        return;
    }
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_families_in_order_with_escaped_labels() {
        let mut e = Exposition::new();
        e.sample("moat_b", "B things.", Kind::Gauge, &[], 2.0);
        e.sample(
            "moat_a_total",
            "A things.",
            Kind::Counter,
            &[("text", "-m comment --comment \"a\\b\"")],
            7.0,
        );
        e.sample(
            "moat_a_total",
            "A things.",
            Kind::Counter,
            &[("text", "x\ny")],
            0.5,
        );
        assert_eq!(
            e.render(),
            "# HELP moat_a_total A things.\n# TYPE moat_a_total counter\n\
             moat_a_total{text=\"-m comment --comment \\\"a\\\\b\\\"\"} 7\n\
             moat_a_total{text=\"x\\ny\"} 0.5\n\
             # HELP moat_b B things.\n# TYPE moat_b gauge\nmoat_b 2\n"
        );
        assert_eq!(e.len(), 3);
    }
}
