//! The four charts of the charts screen as `charming` options, in the theme's colors and
//! laid out to read at 360 px wide (small margins, 11 px labels, legend on top).

use charming::Chart;
use charming::component::{Axis, Grid, Legend, VisualMap};
use charming::element::{
    AxisLabel, AxisType, ItemStyle, LineStyle, Orient, SplitLine, TextStyle, Tooltip, Trigger,
};
use charming::series::{Bar, Heatmap, Line};

use crate::components::Palette;

const LABEL_SIZE: f64 = 11.0;

/// Passes and fails per bucket, with the bucket labels.
pub struct Volume {
    /// The time axis' labels.
    pub labels: Vec<String>,
    /// Passed visits per bucket.
    pub passed: Vec<u64>,
    /// Failed visits per bucket.
    pub failed: Vec<u64>,
}

fn base(palette: &Palette) -> Chart {
    Chart::new()
        .background_color("transparent")
        .tooltip(Tooltip::new().trigger(Trigger::Axis))
        .legend(
            Legend::new()
                .top(0)
                .text_style(TextStyle::new().color(palette.text.as_str()).font_size(12)),
        )
        .grid(
            Grid::new()
                .left(8)
                .right(12)
                .top(36)
                .bottom(8)
                .contain_label(true),
        )
}

fn category(palette: &Palette, labels: Vec<String>) -> Axis {
    Axis::new()
        .type_(AxisType::Category)
        .data(labels)
        .axis_label(
            AxisLabel::new()
                .color(palette.muted.as_str())
                .font_size(LABEL_SIZE),
        )
}

fn counts(palette: &Palette) -> Axis {
    Axis::new()
        .type_(AxisType::Value)
        .min_interval(1)
        .axis_label(
            AxisLabel::new()
                .color(palette.muted.as_str())
                .font_size(LABEL_SIZE),
        )
        .split_line(SplitLine::new().line_style(LineStyle::new().color(palette.border.as_str())))
}

fn bars(name: &str, color: &str, data: Vec<u64>) -> Bar {
    Bar::new()
        .name(name)
        .stack("visits")
        .item_style(ItemStyle::new().color(color))
        .data(data.into_iter().map(|n| n as f64).collect())
}

/// Passes and fails per bucket as stacked bars.
pub fn volume(palette: &Palette, volume: &Volume) -> Chart {
    base(palette)
        .x_axis(category(palette, volume.labels.clone()))
        .y_axis(counts(palette))
        .series(bars("Passed", &palette.pass, volume.passed.clone()))
        .series(bars("Failed", &palette.fail, volume.failed.clone()))
}

/// The pass rate per bucket as a line, in percent; buckets without visits leave a gap.
pub fn pass_rate(palette: &Palette, volume: &Volume) -> Chart {
    let rates: Vec<charming::datatype::DataPoint> = volume
        .passed
        .iter()
        .zip(&volume.failed)
        .map(|(&p, &f)| match crate::format::pass_rate(p, f) {
            Some(rate) => ((rate * 1000.0).round() / 10.0).into(),
            // ECharts' mark for a missing value.
            None => "-".into(),
        })
        .collect();
    base(palette)
        .x_axis(category(palette, volume.labels.clone()))
        .y_axis(
            counts(palette).min(0).max(100).axis_label(
                AxisLabel::new()
                    .color(palette.muted.as_str())
                    .font_size(LABEL_SIZE)
                    .formatter("{value} %"),
            ),
        )
        .series(
            Line::new()
                .name("Pass rate (%)")
                // A bucket between two empty ones has no line to it: its dot must show.
                .show_symbol(true)
                .symbol_size(7)
                .item_style(ItemStyle::new().color(palette.accent.as_str()))
                .line_style(LineStyle::new().color(palette.accent.as_str()).width(2))
                .data(rates),
        )
}

/// Passes and fails per door, one bar per door, stacked, doors top to bottom.
pub fn doors(palette: &Palette, names: &[String], passed: &[u64], failed: &[u64]) -> Chart {
    base(palette)
        .x_axis(counts(palette))
        .y_axis(category(palette, names.to_vec()).inverse(true))
        .series(bars("Passed", &palette.pass, passed.to_vec()))
        .series(bars("Failed", &palette.fail, failed.to_vec()))
}

/// Visits per weekday and hour of the day as a heatmap, darker where busier.
pub fn peaks(palette: &Palette, table: &[[u64; 24]; 7]) -> Chart {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    let max = table.iter().flatten().copied().max().unwrap_or(0).max(1);
    let mut cells = Vec::with_capacity(7 * 24);
    for (day, hours) in table.iter().enumerate() {
        for (hour, &n) in hours.iter().enumerate() {
            cells.push(vec![
                (hour as f64).into(),
                (day as f64).into(),
                (n as f64).into(),
            ]);
        }
    }
    let hours: Vec<String> = (0..24).map(|h| format!("{h:02}")).collect();
    Chart::new()
        .background_color("transparent")
        .tooltip(Tooltip::new().position("top"))
        .grid(
            Grid::new()
                .left(8)
                .right(12)
                .top(8)
                .bottom(56)
                .contain_label(true),
        )
        .x_axis(
            category(palette, hours).split_area(charming::element::SplitArea::new().show(false)),
        )
        .y_axis(category(palette, DAYS.iter().map(|d| (*d).to_owned()).collect()).inverse(true))
        .visual_map(
            VisualMap::new()
                .min(0)
                .max(max as f64)
                .calculable(false)
                .orient(Orient::Horizontal)
                .left("center")
                .bottom(0)
                .item_height(120)
                .text_style(
                    TextStyle::new()
                        .color(palette.muted.as_str())
                        .font_size(LABEL_SIZE),
                )
                .in_range(
                    charming::component::VisualMapChannel::new()
                        .color(vec![palette.surface.as_str(), palette.accent.as_str()]),
                ),
        )
        .series(
            Heatmap::new()
                .name("Visits")
                .item_style(
                    ItemStyle::new()
                        .border_color(palette.border.as_str())
                        .border_width(1),
                )
                .data(cells),
        )
}
