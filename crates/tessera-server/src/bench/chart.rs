//! The SVG chart: requests/s and p99 of `GET /v1/me` per mode, side by side.

use plotters::prelude::*;

use super::report::Report;

/// Draws the chart as SVG text.
///
/// # Errors
/// When drawing fails.
pub fn svg(report: &Report) -> anyhow::Result<String> {
    let bars: Vec<(&str, f64, f64)> = report
        .columns
        .iter()
        .filter_map(|c| Some((c.mode?.title(), c.rps?, c.p99_ms?)))
        .collect();
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (960, 420)).into_drawing_area();
        root.fill(&WHITE).map_err(draw)?;
        let (left, right) = root.split_horizontally(480);
        panel(
            &left,
            "GET /v1/me requests/s (higher is better)",
            &bars,
            |b| b.1,
            &BLUE,
        )?;
        panel(
            &right,
            "GET /v1/me p99 latency, ms (lower is better)",
            &bars,
            |b| b.2,
            &RED,
        )?;
        root.present().map_err(draw)?;
    }
    Ok(out)
}

fn draw<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow::anyhow!("cannot draw the chart: {e:?}")
}

fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    bars: &[(&str, f64, f64)],
    value: impl Fn(&(&str, f64, f64)) -> f64,
    colour: &RGBColor,
) -> anyhow::Result<()> {
    let top = bars.iter().map(&value).fold(0.0_f64, f64::max).max(1e-9) * 1.15;
    let n = bars.len().max(1);
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 16))
        .margin(10)
        .x_label_area_size(70)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..n as f64, 0.0..top)
        .map_err(draw)?;
    let names: Vec<String> = bars.iter().map(|b| b.0.to_owned()).collect();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n * 2 + 1)
        .x_label_formatter(&|x| {
            let i = x.floor() as usize;
            if (x - x.floor() - 0.5).abs() < 0.01 {
                names.get(i).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .y_label_formatter(&|y| {
            if top > 1000.0 {
                format!("{:.0}k", y / 1000.0)
            } else {
                format!("{y:.2}")
            }
        })
        .draw()
        .map_err(draw)?;
    chart
        .draw_series(bars.iter().enumerate().map(|(i, b)| {
            Rectangle::new(
                [(i as f64 + 0.15, 0.0), (i as f64 + 0.85, value(b))],
                colour.filled(),
            )
        }))
        .map_err(draw)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::rows::sample_report;

    #[test]
    fn an_svg_with_a_bar_per_measured_mode() {
        let svg = super::svg(&sample_report()).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..80]);
        assert!(svg.contains("session cookie"));
        assert!(svg.contains("requests/s"));
    }
}
