//! The same data as JSON: how the run was made, the raw measurements per column, and the rows
//! as the table shows them.

use serde_json::{Value, json};

use super::report::Report;
use super::rows::Row;

/// The JSON document of a run.
pub fn document(report: &Report, rows: &[Row]) -> Value {
    let modes: Vec<Value> = report
        .columns
        .iter()
        .map(|c| json!(c.mode.map(|m| m.title())))
        .collect();
    json!({
        "run": report.run,
        "modes": modes,
        "columns": report.columns,
        "rows": rows,
    })
}

#[cfg(test)]
mod tests {
    use super::super::rows::{rows, sample_report};
    use super::*;

    #[test]
    fn shape() {
        let report = sample_report();
        let doc = document(&report, &rows(&report));
        assert_eq!(doc["modes"].as_array().unwrap().len(), 7);
        assert_eq!(doc["modes"][0], "session cookie");
        assert_eq!(doc["columns"][0]["mode"], "session_cookie");
        assert_eq!(doc["columns"][0]["credential_bytes"], 60);
        assert_eq!(doc["columns"][5]["skipped"], "the server signs EdDSA");
        let row = &doc["rows"][0];
        assert_eq!(row["id"], "bandwidth.credential");
        assert_eq!(row["values"][1], 160.0);
        assert_eq!(row["cells"].as_array().unwrap().len(), 7);
        assert!(row["verdict"].is_string());
        assert_eq!(doc["run"]["load"], "closed loop");
    }
}
