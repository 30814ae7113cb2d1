//! The Markdown table, shaped like the articles' table: criteria as rows, modes as columns.

use super::report::Report;
use super::rows::Row;

fn escape(cell: &str) -> String {
    cell.replace('|', "\\|").replace('\n', " ")
}

/// The whole Markdown: how the run was made, the table, then a verdict per row.
pub fn markdown(report: &Report, rows: &[Row]) -> String {
    let run = &report.run;
    let mut out = String::new();
    out.push_str(&format!(
        "`{}`: {} on {}, {}; {} connections; per column {:.1} s of each of GET /healthz and GET /v1/me in {} rounds taken by every column in turn{}; {}.\n\n",
        run.command,
        run.target,
        run.machine,
        run.date,
        run.concurrency,
        run.duration_s,
        run.rounds,
        if run.fresh_tokens {
            ", a fresh token per JWT request"
        } else {
            ", tokens reused as clients do"
        },
        run.load,
    ));
    out.push_str("| criterion | measure |");
    for c in &report.columns {
        out.push_str(&format!(" {} |", c.mode.map_or("?", |m| m.title())));
    }
    out.push_str("\n|---|---|");
    for _ in &report.columns {
        out.push_str("---|");
    }
    out.push('\n');
    let mut last = "";
    for row in rows {
        let criterion = if row.criterion == last {
            ""
        } else {
            row.criterion
        };
        last = row.criterion;
        out.push_str(&format!("| {} | {} |", criterion, escape(&row.metric)));
        for cell in &row.cells {
            out.push_str(&format!(" {} |", escape(cell)));
        }
        out.push('\n');
    }
    out.push_str("\nVerdicts:\n\n");
    for row in rows {
        out.push_str(&format!(
            "- **{}, {}**: {}\n",
            row.criterion, row.metric, row.verdict
        ));
    }
    let skipped: Vec<String> = report
        .columns
        .iter()
        .filter_map(|c| Some(format!("{}: {}", c.mode?.title(), c.skipped.as_ref()?)))
        .collect();
    if !skipped.is_empty() {
        out.push_str(&format!("\nNot measured (—): {}.\n", skipped.join("; ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::rows::{rows, sample_report};
    use super::*;

    #[test]
    fn one_line_per_row_with_a_cell_per_mode() {
        let report = sample_report();
        let rows = rows(&report);
        let md = markdown(&report, &rows);
        let lines: Vec<&str> = md.lines().filter(|l| l.starts_with('|')).collect();
        assert_eq!(lines.len(), rows.len() + 2);
        assert!(
            lines[0].starts_with(
                "| criterion | measure | session cookie | session bearer | JWT HS256 |"
            )
        );
        assert!(
            lines
                .iter()
                .filter(|l| !l.starts_with("|---"))
                .all(|l| l.matches(" |").count() == 9),
            "{md}"
        );
        assert!(md.contains("| Bandwidth | credential header per request (B) | 60 | 160 |"));
        assert!(md.contains("Not measured (—): JWT RS256: the server signs EdDSA."));
        assert_eq!(escape("a|b"), "a\\|b");
    }
}
