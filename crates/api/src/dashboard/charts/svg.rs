//! Charts drawn as SVG on the server: a line chart (with an optional
//! forecast band and marked anomalies) and a horizontal bar chart. Pure
//! functions from numbers to markup: no script, no external resource.
//! Each chart is an `img` with a title and a description for screen
//! readers; the pages also show the numbers as a table.

use std::fmt::Write;

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 260.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 40.0;
/// Colours with at least 3:1 contrast against white (WCAG 1.4.11).
pub const PALETTE: [&str; 4] = ["#1d4ed8", "#b45309", "#047857", "#6d28d9"];
const BAND_FILL: &str = "#93c5fd";
const ANOMALY: &str = "#b91c1c";

pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// One line: its name and one value per x position (`None`: no point).
pub struct Series {
    pub name: String,
    pub values: Vec<Option<f64>>,
}

pub struct LineChart<'a> {
    /// The element id (unique on the page) and the accessible title.
    pub id: &'a str,
    pub title: &'a str,
    pub description: &'a str,
    pub x_labels: &'a [String],
    pub series: &'a [Series],
    /// A shaded band (lower, upper) per x position.
    pub band: Option<(&'a [Option<f64>], &'a [Option<f64>])>,
    /// Points of the first series to mark.
    pub anomalies: &'a [usize],
}

struct Frame {
    min: f64,
    max: f64,
    count: usize,
}

impl Frame {
    fn x(&self, i: usize) -> f64 {
        let span = (self.count.max(2) - 1) as f64;
        LEFT + (WIDTH - LEFT - RIGHT) * i as f64 / span
    }

    fn y(&self, v: f64) -> f64 {
        let span = if self.max > self.min {
            self.max - self.min
        } else {
            1.0
        };
        TOP + (HEIGHT - TOP - BOTTOM) * (1.0 - (v - self.min) / span)
    }
}

fn open(out: &mut String, id: &str, title: &str, description: &str, height: f64) {
    let _ = write!(
        out,
        r#"<svg id="{id}" class="chart" role="img" aria-labelledby="{id}-title {id}-desc" viewBox="0 0 {WIDTH} {height}" xmlns="http://www.w3.org/2000/svg"><title id="{id}-title">{}</title><desc id="{id}-desc">{}</desc>"#,
        escape(title),
        escape(description)
    );
}

/// A compact axis label: 1234567 → "1.2M".
pub fn compact(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if a >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

pub fn line_chart(chart: &LineChart<'_>) -> String {
    let count = chart.x_labels.len();
    let mut values: Vec<f64> = chart
        .series
        .iter()
        .flat_map(|s| s.values.iter().flatten().copied())
        .collect();
    if let Some((lower, upper)) = chart.band {
        values.extend(lower.iter().flatten().copied());
        values.extend(upper.iter().flatten().copied());
    }
    let min = values
        .iter()
        .copied()
        .fold(f64::INFINITY, f64::min)
        .min(0.0);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let frame = Frame {
        min: if min.is_finite() { min } else { 0.0 },
        max: if max.is_finite() && max > 0.0 {
            max
        } else {
            1.0
        },
        count,
    };
    let mut out = String::new();
    open(&mut out, chart.id, chart.title, chart.description, HEIGHT);
    axes(&mut out, &frame, chart.x_labels);
    if let Some((lower, upper)) = chart.band {
        band(&mut out, &frame, lower, upper);
    }
    for (n, series) in chart.series.iter().enumerate() {
        let colour = PALETTE[n % PALETTE.len()];
        let dash = if n == 0 {
            ""
        } else {
            r#" stroke-dasharray="6 4""#
        };
        let _ = write!(
            out,
            r#"<polyline class="series" data-series="{}" fill="none" stroke="{colour}" stroke-width="2"{dash} points="{}"/>"#,
            escape(&series.name),
            points(&frame, &series.values)
        );
    }
    // A dot on each actual point, so a lone day still shows.
    if let Some(first) = chart.series.first() {
        for (i, v) in first.values.iter().enumerate() {
            if let Some(v) = v {
                let _ = write!(
                    out,
                    r#"<circle class="point" cx="{:.1}" cy="{:.1}" r="2.5" fill="{}"/>"#,
                    frame.x(i),
                    frame.y(*v),
                    PALETTE[0]
                );
            }
        }
    }
    if let Some(first) = chart.series.first() {
        for &i in chart.anomalies {
            if let Some(Some(v)) = first.values.get(i) {
                let _ = write!(
                    out,
                    r#"<circle class="anomaly" cx="{:.1}" cy="{:.1}" r="5" fill="none" stroke="{ANOMALY}" stroke-width="2"><title>{}</title></circle>"#,
                    frame.x(i),
                    frame.y(*v),
                    escape(chart.x_labels.get(i).map_or("", String::as_str))
                );
            }
        }
    }
    legend(&mut out, chart.series.iter().map(|s| s.name.as_str()));
    out.push_str("</svg>");
    out
}

fn points(frame: &Frame, values: &[Option<f64>]) -> String {
    values
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.map(|v| format!("{:.1},{:.1}", frame.x(i), frame.y(v))))
        .collect::<Vec<_>>()
        .join(" ")
}

fn band(out: &mut String, frame: &Frame, lower: &[Option<f64>], upper: &[Option<f64>]) {
    let top: Vec<String> = upper
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.map(|v| format!("{:.1},{:.1}", frame.x(i), frame.y(v))))
        .collect();
    let bottom: Vec<String> = lower
        .iter()
        .enumerate()
        .rev()
        .filter_map(|(i, v)| v.map(|v| format!("{:.1},{:.1}", frame.x(i), frame.y(v))))
        .collect();
    if top.is_empty() {
        return;
    }
    let _ = write!(
        out,
        r#"<polygon class="forecast-band" fill="{BAND_FILL}" fill-opacity="0.45" stroke="none" points="{} {}"/>"#,
        top.join(" "),
        bottom.join(" ")
    );
}

fn axes(out: &mut String, frame: &Frame, x_labels: &[String]) {
    let bottom = HEIGHT - BOTTOM;
    let _ = write!(
        out,
        r##"<g class="axes" stroke="#6b7280" stroke-width="1"><line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{bottom}"/><line x1="{LEFT}" y1="{bottom}" x2="{}" y2="{bottom}"/></g>"##,
        WIDTH - RIGHT
    );
    for k in 0..=4 {
        let v = frame.min + (frame.max - frame.min) * k as f64 / 4.0;
        let _ = write!(
            out,
            r##"<text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end" fill="#374151">{}</text>"##,
            LEFT - 6.0,
            frame.y(v) + 4.0,
            compact(v)
        );
    }
    let step = (x_labels.len() / 7).max(1);
    for (i, label) in x_labels.iter().enumerate().step_by(step) {
        let _ = write!(
            out,
            r##"<text x="{:.1}" y="{:.1}" font-size="11" text-anchor="middle" fill="#374151">{}</text>"##,
            frame.x(i),
            bottom + 16.0,
            escape(label)
        );
    }
}

fn legend<'a>(out: &mut String, names: impl Iterator<Item = &'a str>) {
    for (n, name) in names.enumerate() {
        let x = LEFT + 8.0 + 170.0 * n as f64;
        let _ = write!(
            out,
            r##"<rect x="{x}" y="{:.1}" width="12" height="12" fill="{}"/><text x="{:.1}" y="{:.1}" font-size="12" fill="#111827">{}</text>"##,
            HEIGHT - 16.0,
            PALETTE[n % PALETTE.len()],
            x + 16.0,
            HEIGHT - 6.0,
            escape(name)
        );
    }
}

/// Horizontal bars, one per (label, value), longest first as given.
pub fn bar_chart(id: &str, title: &str, description: &str, bars: &[(String, f64)]) -> String {
    let row = 26.0;
    let height = TOP * 2.0 + row * bars.len().max(1) as f64;
    let label_width = 340.0;
    let max = bars.iter().map(|(_, v)| *v).fold(0.0, f64::max).max(1.0);
    let mut out = String::new();
    open(&mut out, id, title, description, height);
    for (i, (label, value)) in bars.iter().enumerate() {
        let y = TOP + row * i as f64;
        let width = (WIDTH - label_width - 80.0) * value / max;
        let _ = write!(
            out,
            r##"<g class="bar"><text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end" fill="#111827">{}</text><rect x="{label_width}" y="{y:.1}" width="{width:.1}" height="18" fill="{}"/><text x="{:.1}" y="{:.1}" font-size="12" fill="#111827">{}</text></g>"##,
            label_width - 8.0,
            y + 13.0,
            escape(label),
            PALETTE[0],
            label_width + width + 6.0,
            y + 13.0,
            compact(*value)
        );
    }
    if bars.is_empty() {
        let _ = write!(
            out,
            r##"<text x="{LEFT}" y="{:.1}" font-size="12" fill="#374151">—</text>"##,
            TOP + 13.0
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_chart_draws_its_points_band_and_anomalies() {
        let labels: Vec<String> = (1..=3).map(|d| format!("12-0{d}")).collect();
        let series = [Series {
            name: "Volume <USD>".into(),
            values: vec![Some(0.0), Some(50.0), Some(100.0)],
        }];
        let lower = [None, Some(40.0), Some(90.0)];
        let upper = [None, Some(60.0), Some(110.0)];
        let svg = line_chart(&LineChart {
            id: "volume",
            title: "Volume",
            description: "Per day",
            x_labels: &labels,
            series: &series,
            band: Some((&lower, &upper)),
            anomalies: &[2],
        });
        assert!(svg.starts_with("<svg id=\"volume\""));
        assert!(
            svg.contains("role=\"img\"")
                && svg.contains("<title id=\"volume-title\">Volume</title>")
        );
        // x from 64 to 704, y from 220 (0) to 16 (110, the band's top).
        assert!(
            svg.contains("points=\"64.0,220.0 384.0,127.3 704.0,34.5\""),
            "{svg}"
        );
        assert!(svg.contains("class=\"forecast-band\""));
        assert_eq!(svg.matches("class=\"anomaly\"").count(), 1);
        assert!(svg.contains("Volume &lt;USD&gt;") && !svg.contains("<USD>"));
    }

    #[test]
    fn bars_scale_to_the_longest() {
        let svg = bar_chart(
            "d",
            "Declines",
            "",
            &[("card_declined".into(), 4.0), ("expired_card".into(), 2.0)],
        );
        assert!(
            svg.contains("width=\"300.0\"") && svg.contains("width=\"150.0\""),
            "{svg}"
        );
    }

    #[test]
    fn axis_labels_are_compact() {
        assert_eq!(compact(1_250_000.0), "1.2M");
        assert_eq!(compact(25_000.0), "25k");
        assert_eq!(compact(0.5), "0.50");
        assert_eq!(compact(7.0), "7");
    }
}
