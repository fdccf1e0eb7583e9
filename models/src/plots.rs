//! ROC and precision-recall curves as PNG.
//!
//! Rendering is pure Rust (plotters' bitmap backend). Text needs a TrueType
//! font: the first of a few common system fonts found is registered once;
//! on a machine with none, the curves are still drawn, with gridlines every
//! 0.1 and no text (the numbers are in `report.md` either way).

use std::path::Path;
use std::sync::OnceLock;

use plotters::prelude::*;
use plotters::style::FontStyle;

const FONT_PATHS: [&str; 4] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
];

fn font_available() -> bool {
    static FONT: OnceLock<bool> = OnceLock::new();
    *FONT.get_or_init(|| {
        FONT_PATHS.iter().any(|path| {
            std::fs::read(path).is_ok_and(|bytes| {
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok()
            })
        })
    })
}

/// A chart builder on `root` with margins, and with a caption and axis
/// label areas (`y_area` pixels wide for the y axis) when there is a font.
fn frame<'a, 'b, DB: DrawingBackend>(
    root: &'a DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    text: bool,
    y_area: u32,
) -> ChartBuilder<'a, 'b, DB> {
    let mut builder = ChartBuilder::on(root);
    builder.margin(20);
    if text {
        builder
            .caption(title, ("sans-serif", 22))
            .x_label_area_size(40)
            .y_label_area_size(y_area);
    } else {
        builder.x_label_area_size(5).y_label_area_size(5);
    }
    builder
}

/// Draws `points` (x, y in [0, 1]) as a curve; `diagonal` adds the chance line.
pub fn plot_curve(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    points: &[(f64, f64)],
    diagonal: bool,
) -> Result<(), String> {
    let text = font_available();
    let root = BitMapBackend::new(path, (640, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let mut chart = frame(&root, title, text, 50)
        .build_cartesian_2d(0f64..1f64, 0f64..1f64)
        .map_err(|e| e.to_string())?;
    let mut mesh = chart.configure_mesh();
    mesh.x_labels(11).y_labels(11);
    if text {
        mesh.x_desc(x_label).y_desc(y_label);
    } else {
        mesh.disable_x_axis().disable_y_axis();
    }
    mesh.draw().map_err(|e| e.to_string())?;
    if diagonal {
        chart
            .draw_series(LineSeries::new([(0.0, 0.0), (1.0, 1.0)], &BLACK.mix(0.3)))
            .map_err(|e| e.to_string())?;
    }
    chart
        .draw_series(LineSeries::new(
            points.iter().copied(),
            BLUE.stroke_width(2),
        ))
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())
}

/// Named series of (x, y) points as lines on a logarithmic y axis (latency
/// against throughput, say); y values are clamped to at least `y_floor`, the
/// axis's bottom. Without a font the lines are drawn with no text.
pub fn plot_log_lines(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    y_floor: f64,
    series: &[(String, Vec<(f64, f64)>)],
) -> Result<(), String> {
    let text = font_available();
    let points = || series.iter().flat_map(|(_, p)| p.iter().copied());
    let x_max = points().map(|p| p.0).fold(1.0, f64::max) * 1.05;
    let y_max = points().map(|p| p.1).fold(y_floor * 10.0, f64::max) * 1.5;
    let root = BitMapBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let mut chart = frame(&root, title, text, 60)
        .build_cartesian_2d(0f64..x_max, (y_floor..y_max).log_scale())
        .map_err(|e| e.to_string())?;
    let mut mesh = chart.configure_mesh();
    if text {
        mesh.x_desc(x_label).y_desc(y_label);
    } else {
        mesh.disable_x_axis().disable_y_axis();
    }
    mesh.draw().map_err(|e| e.to_string())?;
    for (k, (name, line)) in series.iter().enumerate() {
        let color = Palette99::pick(k).to_rgba();
        let clamped = line.iter().map(|&(x, y)| (x, y.max(y_floor)));
        let drawn = chart
            .draw_series(LineSeries::new(clamped, color.stroke_width(2)))
            .map_err(|e| e.to_string())?;
        if text {
            drawn.label(name.as_str()).legend(move |(x, y)| {
                PathElement::new([(x, y), (x + 18, y)], color.stroke_width(2))
            });
        }
    }
    if text {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(|e| e.to_string())?;
    }
    root.present().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_are_written_as_a_png() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sweep.png");
        let series = vec![
            ("p50".to_string(), vec![(1_000.0, 2.0), (20_000.0, 4.0)]),
            ("p99".to_string(), vec![(1_000.0, 0.0), (20_000.0, 90.0)]),
        ];
        plot_log_lines(&path, "latency", "events/s", "ms", 0.5, &series).unwrap();
        let png = std::fs::read(&path).unwrap();
        assert_eq!(&png[1..4], b"PNG");
        assert!(png.len() > 1_000, "an empty image: {} bytes", png.len());
    }
}
