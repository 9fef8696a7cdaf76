//! Plain-text tables for the terminal: left-aligned columns, cells escaped and shortened.

use crate::output::escape;

/// The widest a cell may be before it is shortened with `…`.
const MAX_CELL: usize = 48;

/// A table under construction.
pub struct Table {
    header: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column titles.
    pub fn new(header: &[&'static str]) -> Self {
        Table {
            header: header.to_vec(),
            rows: Vec::new(),
        }
    }

    /// Adds a row (missing cells are blank).
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Renders the table, or `empty` when it has no rows.
    pub fn render(&self, empty: &str) -> String {
        if self.rows.is_empty() {
            return format!("{empty}\n");
        }
        let cells: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| {
                (0..self.header.len())
                    .map(|i| shorten(r.get(i).map_or("", String::as_str)))
                    .collect()
            })
            .collect();
        let widths: Vec<usize> = (0..self.header.len())
            .map(|i| {
                cells
                    .iter()
                    .map(|r| r[i].chars().count())
                    .chain([self.header[i].len()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        let mut line = |cols: Vec<&str>| {
            let last = cols.len() - 1;
            for (i, c) in cols.into_iter().enumerate() {
                out.push_str(c);
                if i < last {
                    let pad = widths[i] - c.chars().count() + 2;
                    out.extend(std::iter::repeat_n(' ', pad));
                }
            }
            let kept = out.trim_end_matches(' ').len();
            out.truncate(kept);
            out.push('\n');
        };
        line(self.header.clone());
        for r in &cells {
            line(r.iter().map(String::as_str).collect());
        }
        out
    }
}

/// One line, escaped (see [`escape`]), at most [`MAX_CELL`] characters.
pub fn shorten(s: &str) -> String {
    let flat = escape(s);
    if flat.chars().count() <= MAX_CELL {
        flat.into_owned()
    } else {
        let mut cut: String = flat.chars().take(MAX_CELL - 1).collect();
        cut.push('…');
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_and_long_cells_are_shortened() {
        let mut t = Table::new(&["A", "LONGER"]);
        t.row(vec!["xyz".into(), "1".into()]);
        t.row(vec!["x".repeat(100), "2\n3".into()]);
        let text = t.render("none");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0].find("LONGER"), lines[1].find('1'));
        assert!(lines[2].contains('…') && lines[2].ends_with(r"2\n3"));
        assert_eq!(Table::new(&["A"]).render("nothing here"), "nothing here\n");
    }
}
