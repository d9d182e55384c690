//! SVG bar charts (plotters, SVG backend only, no font files needed).

use std::path::Path;

use plotters::prelude::*;

use crate::error::{BenchError, Result};

const WIDTH_PX: u32 = 560;
const HEIGHT_PX: u32 = 320;

/// Engine colours, by bar position.
const PALETTE: [RGBColor; 4] = [
    RGBColor(0x2b, 0x6c, 0xb0),
    RGBColor(0xd9, 0x5f, 0x02),
    RGBColor(0x1b, 0x9e, 0x77),
    RGBColor(0x75, 0x70, 0xb3),
];

/// Draws one vertical bar per `(label, value)` into an SVG file at `path`.
pub fn bar_chart_svg(path: &Path, title: &str, bars: &[(String, f64)]) -> Result<()> {
    draw(path, title, bars).map_err(|message| BenchError::Chart {
        path: path.to_path_buf(),
        message,
    })
}

fn draw(path: &Path, title: &str, bars: &[(String, f64)]) -> std::result::Result<(), String> {
    let root = SVGBackend::new(path, (WIDTH_PX, HEIGHT_PX)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let max_value = bars.iter().map(|(_, value)| *value).fold(0.0, f64::max);
    let top = if max_value > 0.0 {
        max_value * 1.2
    } else {
        1.0
    };
    let count = bars.len().max(1) as i32;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(28)
        .y_label_area_size(70)
        .build_cartesian_2d((0..count).into_segmented(), 0.0..top)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(TRANSPARENT)
        .x_label_formatter(&|segment| match segment {
            SegmentValue::CenterOf(index) | SegmentValue::Exact(index) => bars
                .get(*index as usize)
                .map_or(String::new(), |(label, _)| label.clone()),
            SegmentValue::Last => String::new(),
        })
        .y_label_formatter(&|value| short_number(*value))
        .draw()
        .map_err(|e| e.to_string())?;
    chart
        .draw_series(bars.iter().enumerate().map(|(index, (_, value))| {
            let index = index as i32;
            let colour = PALETTE[index as usize % PALETTE.len()];
            let mut bar = Rectangle::new(
                [
                    (SegmentValue::Exact(index), 0.0),
                    (SegmentValue::Exact(index + 1), *value),
                ],
                colour.filled(),
            );
            bar.set_margin(0, 0, 12, 12);
            bar
        }))
        .map_err(|e| e.to_string())?;
    chart
        .draw_series(bars.iter().enumerate().map(|(index, (_, value))| {
            Text::new(
                short_number(*value),
                (SegmentValue::CenterOf(index as i32), *value + top * 0.02),
                ("sans-serif", 13),
            )
        }))
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())
}

/// `1234567.0` as `1.23M`, `45600.0` as `45.6k`.
pub fn short_number(value: f64) -> String {
    match value.abs() {
        v if v >= 1e6 => format!("{:.2}M", value / 1e6),
        v if v >= 1e3 => format!("{:.1}k", value / 1e3),
        _ => format!("{value:.0}"),
    }
}
