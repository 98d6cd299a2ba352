//! The operator's charts, drawn on the server as small SVG pictures: visits per hour
//! today, and per hour the median and 95th percentile of the time from the photo to a
//! painting. Plain shapes and text only (no script, no style, no external reference):
//! the operator page parses them into its own DOM, under its strict CSP, so their
//! Korean text gets the page's fonts.

use std::fmt::Write as _;

use articket_store::HourStats;

const W: f64 = 480.0;
const H: f64 = 170.0;
/// The plot area inside the labels.
const LEFT: f64 = 40.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 30.0;
const BOTTOM: f64 = 24.0;
/// The pages' font stack: drawn inside the operator page, the charts use its Hangul
/// font where the machine has none.
const FONTS: &str = "system-ui, 'Apple SD Gothic Neo', 'Malgun Gothic', 'Noto Sans KR', 'Articket Hangul', sans-serif";
const INK: &str = "#2b2f5c";
const MUTED: &str = "#6a6f9a";
const ACCENT: &str = "#5e6cba";
const WARM: &str = "#d9822b";

/// Visits begun in each hour, as bars.
pub fn visits_per_hour(hours: &[HourStats], title: &str) -> String {
    let hours = busy_span(hours);
    let max = hours.iter().map(|h| h.visits).max().unwrap_or(0);
    // Even, so the middle line is a whole number of visits too.
    let top = (nice_ceiling(max as f64).max(2.0) / 2.0).ceil() * 2.0;
    let mut svg = open(title);
    axes(&mut svg, hours, top, "");
    let slot = plot_width() / hours.len().max(1) as f64;
    for (i, h) in hours.iter().enumerate() {
        if h.visits == 0 {
            continue;
        }
        let bar = plot_height() * h.visits as f64 / top;
        let x = LEFT + slot * i as f64 + slot * 0.15;
        let _ = write!(
            svg,
            r#"<rect class="bar" data-hour="{hour}" data-value="{v}" x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{bar:.1}" fill="{ACCENT}"><title>{hour:02}:00 — {v}</title></rect>"#,
            hour = h.hour,
            v = h.visits,
            y = TOP + plot_height() - bar,
            w = slot * 0.7,
        );
    }
    if max == 0 {
        empty(&mut svg, "아직 방문이 없어요 · No visits yet");
    }
    svg.push_str("</svg>");
    svg
}

/// Per hour, the median time to a painting as a bar and the 95th percentile as a tick
/// above it, in seconds.
pub fn time_to_painting(hours: &[HourStats], title: &str) -> String {
    let hours = busy_span(hours);
    let secs = |ms: Option<i64>| ms.map(|v| v as f64 / 1000.0);
    let max = hours
        .iter()
        .filter_map(|h| secs(h.latency_p95_ms.or(h.latency_median_ms)))
        .fold(0.0, f64::max);
    let top = nice_ceiling(max);
    let mut svg = open(title);
    axes(&mut svg, hours, top, " s");
    let slot = plot_width() / hours.len().max(1) as f64;
    let y_of = |v: f64| TOP + plot_height() - plot_height() * v / top;
    for (i, h) in hours.iter().enumerate() {
        let (Some(median), Some(p95)) = (secs(h.latency_median_ms), secs(h.latency_p95_ms)) else {
            continue;
        };
        let x = LEFT + slot * i as f64 + slot * 0.2;
        let w = slot * 0.6;
        let _ = write!(
            svg,
            r#"<rect class="median" data-hour="{hour}" data-value="{median:.2}" x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{bh:.1}" fill="{ACCENT}"><title>{hour:02}:00 — median {median:.1} s, p95 {p95:.1} s</title></rect><line class="p95" data-hour="{hour}" data-value="{p95:.2}" x1="{x0:.1}" x2="{x1:.1}" y1="{py:.1}" y2="{py:.1}" stroke="{WARM}" stroke-width="3"/>"#,
            hour = h.hour,
            y = y_of(median),
            bh = TOP + plot_height() - y_of(median),
            x0 = x - slot * 0.1,
            x1 = x + w + slot * 0.1,
            py = y_of(p95),
        );
    }
    if max == 0.0 {
        empty(&mut svg, "아직 그림이 없어요 · No paintings yet");
    } else {
        let _ = write!(
            svg,
            r#"<g font-size="11" fill="{MUTED}"><rect x="{lx}" y="6" width="10" height="10" fill="{ACCENT}"/><text x="{tx}" y="15">median</text><line x1="{l2}" x2="{l3}" y1="11" y2="11" stroke="{WARM}" stroke-width="3"/><text x="{t2}" y="15">p95</text></g>"#,
            lx = W - 150.0,
            tx = W - 136.0,
            l2 = W - 80.0,
            l3 = W - 66.0,
            t2 = W - 60.0,
        );
    }
    svg.push_str("</svg>");
    svg
}

fn plot_width() -> f64 {
    W - LEFT - RIGHT
}

fn plot_height() -> f64 {
    H - TOP - BOTTOM
}

fn open(title: &str) -> String {
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" aria-label="{t}" font-family="{FONTS}"><title>{t}</title><rect width="{W}" height="{H}" fill="#fff"/><text x="8" y="15" font-size="12" font-weight="700" fill="{INK}">{t}</text>"##,
        t = escape(title)
    )
}

/// A scale value without trailing zeros: 1, 2.5, 0.25.
fn number(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// The hours worth drawing: from an hour before the first visit to an hour after the
/// last, at least eight hours wide; the whole day when there were none.
fn busy_span(hours: &[HourStats]) -> &[HourStats] {
    let busy = |h: &&HourStats| h.visits > 0;
    let (Some(first), Some(last)) = (
        hours.iter().position(|h| busy(&h)),
        hours.iter().rposition(|h| busy(&h)),
    ) else {
        return hours;
    };
    const MIN: usize = 8;
    let mut start = first.saturating_sub(1);
    let mut end = (last + 2).min(hours.len());
    while end - start < MIN.min(hours.len()) {
        if end < hours.len() {
            end += 1;
        } else {
            start -= 1;
        }
    }
    &hours[start..end]
}

/// The frame, the hours along the bottom and three values up the side.
fn axes(svg: &mut String, hours: &[HourStats], top: f64, unit: &str) {
    let base = TOP + plot_height();
    for i in 0..=2 {
        let v = top * i as f64 / 2.0;
        let y = base - plot_height() * i as f64 / 2.0;
        let label = format!("{}{unit}", number(v));
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" x2="{x2}" y1="{y:.1}" y2="{y:.1}" stroke="#e2ddd0"/><text x="{tx}" y="{ty:.1}" font-size="11" text-anchor="end" fill="{MUTED}">{label}</text>"##,
            x2 = W - RIGHT,
            tx = LEFT - 4.0,
            ty = y + 4.0,
        );
    }
    let slot = plot_width() / hours.len().max(1) as f64;
    let every = if hours.len() > 12 { 3 } else { 1 };
    for (i, h) in hours.iter().enumerate().step_by(every) {
        let _ = write!(
            svg,
            r#"<text x="{x:.1}" y="{y}" font-size="11" text-anchor="middle" fill="{MUTED}">{h}</text>"#,
            x = LEFT + slot * (i as f64 + 0.5),
            y = H - 8.0,
            h = h.hour,
        );
    }
    let _ = write!(
        svg,
        r#"<line x1="{LEFT}" x2="{x2}" y1="{base}" y2="{base}" stroke="{INK}"/>"#,
        x2 = W - RIGHT
    );
}

fn empty(svg: &mut String, text: &str) {
    let _ = write!(
        svg,
        r#"<text x="{x}" y="{y}" font-size="14" text-anchor="middle" fill="{MUTED}">{t}</text>"#,
        x = LEFT + plot_width() / 2.0,
        y = TOP + plot_height() / 2.0,
        t = escape(text)
    );
}

/// A round number at or above `v` for the top of the scale (1, 2 or 5 × 10ⁿ).
fn nice_ceiling(v: f64) -> f64 {
    if v <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 5.0, 10.0] {
        if v <= m * magnitude {
            return m * magnitude;
        }
    }
    10.0 * magnitude
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(f: impl Fn(u32) -> (u64, Option<i64>, Option<i64>)) -> Vec<HourStats> {
        (0..24)
            .map(|hour| {
                let (visits, median, p95) = f(hour);
                HourStats {
                    hour,
                    visits,
                    latency_median_ms: median,
                    latency_p95_ms: p95,
                }
            })
            .collect()
    }

    /// The `attr` of every element with `class`, in order.
    fn attrs(svg: &str, class: &str, attr: &str) -> Vec<f64> {
        svg.split(&format!(r#"class="{class}""#))
            .skip(1)
            .map(|rest| {
                let start = rest.find(&format!(r#" {attr}=""#)).unwrap() + attr.len() + 3;
                let end = start + rest[start..].find('"').unwrap();
                rest[start..end].parse().unwrap()
            })
            .collect()
    }

    #[test]
    fn bars_are_one_per_busy_hour_and_as_tall_as_its_visits() {
        let hours = day(|h| match h {
            9 => (4, None, None),
            10 => (8, None, None),
            14 => (2, None, None),
            _ => (0, None, None),
        });
        let svg = visits_per_hour(&hours, "Visits per hour");
        assert_eq!(attrs(&svg, "bar", "data-hour"), vec![9.0, 10.0, 14.0]);
        let heights = attrs(&svg, "bar", "height");
        // The scale tops at 10 for a busiest hour of 8.
        assert!((heights[1] / heights[0] - 2.0).abs() < 0.01, "{heights:?}");
        assert!(
            (heights[1] - plot_height() * 0.8).abs() < 0.1,
            "{heights:?}"
        );
        assert!(svg.contains(">10</text>"), "{svg}");
        assert!(!svg.contains("No visits yet"));
        // Well-formed enough for an XML parser.
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert_eq!(
            svg.matches("<rect").count(),
            svg.matches("</rect>").count() + 1
        );
    }

    #[test]
    fn the_time_chart_shows_median_bars_and_p95_ticks_in_seconds() {
        let hours = day(|h| match h {
            11 => (3, Some(1_500), Some(4_000)),
            12 => (1, Some(800), Some(800)),
            _ => (0, None, None),
        });
        let svg = time_to_painting(&hours, "Time to a painting");
        assert_eq!(attrs(&svg, "median", "data-value"), vec![1.5, 0.8]);
        assert_eq!(attrs(&svg, "p95", "data-value"), vec![4.0, 0.8]);
        // The p95 tick of hour 11 is above its median bar's top.
        let bar_top = attrs(&svg, "median", "y")[0];
        let tick = attrs(&svg, "p95", "y1")[0];
        assert!(tick < bar_top, "{tick} vs {bar_top}");
        assert!(svg.contains(">5 s</text>"), "scale to 5 s: {svg}");
    }

    #[test]
    fn an_empty_day_says_so() {
        let hours = day(|_| (0, None, None));
        assert!(visits_per_hour(&hours, "v").contains("No visits yet"));
        assert!(time_to_painting(&hours, "t").contains("No paintings yet"));
        assert!(!visits_per_hour(&hours, "v").contains(r#"class="bar""#));
    }

    #[test]
    fn titles_are_escaped_and_scales_are_round() {
        let svg = visits_per_hour(&day(|_| (1, None, None)), "<b>&");
        assert!(svg.contains("&lt;b&gt;&amp;") && !svg.contains("<b>"));
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(3.0), 5.0);
        assert_eq!(nice_ceiling(8.0), 10.0);
        assert_eq!(nice_ceiling(12.0), 20.0);
        assert_eq!(nice_ceiling(0.7), 1.0);
        assert_eq!(number(0.25), "0.25");
        assert_eq!(number(2.5), "2.5");
        assert_eq!(number(10.0), "10");
    }

    /// The visits chart counts in whole visits, and spans the hours of the event, not
    /// the whole day.
    #[test]
    fn visit_ticks_are_whole_and_the_axis_spans_the_busy_hours() {
        // Three visits at most: the scale tops at an even number, so its middle is whole.
        let svg = visits_per_hour(&day(|h| (u64::from(h == 12) * 3, None, None)), "v");
        let labels: Vec<&str> = svg
            .split("text-anchor=\"end\" fill=\"#6a6f9a\">")
            .skip(1)
            .map(|t| t.split('<').next().unwrap())
            .collect();
        assert_eq!(labels, ["0", "3", "6"], "{svg}");
        // Visits from 10:00 to 17:00: the hours shown run 9 to 18, one label each.
        let event = day(|h| (u64::from((10..=17).contains(&h)), None, None));
        let svg = visits_per_hour(&event, "v");
        let hours: Vec<&str> = svg
            .split("text-anchor=\"middle\" fill=\"#6a6f9a\">")
            .skip(1)
            .map(|t| t.split('<').next().unwrap())
            .collect();
        let want: Vec<String> = (9..=18).map(|h| h.to_string()).collect();
        assert_eq!(hours, want, "{svg}");
    }
}
