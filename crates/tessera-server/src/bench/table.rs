//! The Markdown table, shaped like the articles' table: criteria as rows, modes as columns.

use super::report::{MachineDuringRounds, Report};
use super::rows::Row;

fn escape(cell: &str) -> String {
    cell.replace('|', "\\|").replace('\n', " ")
}

/// Above this share of the machine's time taken by its hypervisor, a run's rates say as much
/// about the neighbours as about Tessera.
const STEAL_WARNING_PERCENT: f64 = 5.0;

/// What the machine did during the rounds: the hypervisor's share, with a warning when it
/// took much, and the reference check that tells whether two runs saw the same machine.
fn machine_note(during: &MachineDuringRounds) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(stolen) = during.stolen_percent {
        parts.push(format!(
            "the hypervisor took {stolen:.1} % of this machine's CPU time (steal)"
        ));
    }
    if let Some(r) = during.reference_check_us {
        parts.push(format!(
            "a reference Ed25519 check took {:.1} µs of CPU ({:.1}–{:.1} over the rounds): two runs' requests/s compare only where it agrees",
            r.median, r.min, r.max
        ));
    }
    if parts.is_empty() {
        return None;
    }
    let mut note = format!("During the rounds {}.", parts.join("; "));
    if during
        .stolen_percent
        .is_some_and(|s| s > STEAL_WARNING_PERCENT)
    {
        note.push_str(
            " **Warning**: other tenants were busy, so the requests/s move from run to run; \
             compare ratios within this run, or run again on a quiet machine.",
        );
    }
    note.push_str("\n\n");
    Some(note)
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
    if let Some(note) = machine_note(&run.during_rounds) {
        out.push_str(&note);
    }
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
    use super::super::report::Spread;
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

    #[test]
    fn much_steal_gets_a_warning_and_little_only_its_figure() {
        let mut report = sample_report();
        report.run.during_rounds = MachineDuringRounds {
            stolen_percent: Some(12.34),
            reference_check_us: Some(Spread {
                min: 40.0,
                median: 41.25,
                max: 52.5,
            }),
        };
        let md = markdown(&report, &rows(&report));
        assert!(
            md.contains("took 12.3 % of this machine's CPU time"),
            "{md}"
        );
        assert!(
            md.contains("check took 41.2 µs of CPU (40.0–52.5 over the rounds)"),
            "{md}"
        );
        assert!(md.contains("**Warning**"), "{md}");
        report.run.during_rounds.stolen_percent = Some(0.4);
        let md = markdown(&report, &rows(&report));
        assert!(md.contains("took 0.4 %"), "{md}");
        assert!(!md.contains("**Warning**"), "{md}");
        report.run.during_rounds = MachineDuringRounds::default();
        assert!(!markdown(&report, &rows(&report)).contains("During the rounds"));
    }
}
