//! The report's charts as inline SVG, drawn by hand: horizontal stacked bars, a log-scale
//! scatter with reference lines, and min / median / max ranges. Every text is escaped; every
//! mark carries a `<title>` (the browser shows it on hover).

use super::doc::{Chart, Line, Point, Range, Series};
use super::fmt::{escape_xml, size};
use std::fmt::Write as _;

const WIDTH: f64 = 960.0;
const FONT: &str = "font-family=\"system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif\"";

pub fn render(chart: &Chart) -> String {
    match chart {
        Chart::Bars {
            title,
            series,
            bars,
            unit,
        } => bars_svg(title, series, bars, unit),
        Chart::LogScatter {
            title,
            y_label,
            series,
            points,
            lines,
        } => scatter_svg(title, y_label, series, points, lines),
        Chart::Ranges {
            title,
            ranges,
            reference,
            unit,
        } => ranges_svg(title, ranges, reference.as_ref(), unit),
        Chart::Timeline {
            title,
            steps,
            lines,
            marks,
            unit,
        } => timeline_svg(title, steps, lines, marks, unit),
    }
}

fn timeline_svg(
    title: &str,
    steps: &[String],
    lines: &[(Series, Vec<f64>, f64)],
    marks: &[(usize, String, String)],
    unit: &str,
) -> String {
    let (left, right, top, bottom) = (64.0, 40.0, 62.0, 58.0);
    let height = 380.0;
    let plot_w = WIDTH - left - right;
    let plot_h = height - top - bottom;
    let percent = |v: f64, limit: f64| if limit > 0.0 { v / limit * 100.0 } else { 0.0 };
    let highest = lines
        .iter()
        .flat_map(|(_, vs, limit)| vs.iter().map(move |v| percent(*v, *limit)))
        .fold(100.0f64, f64::max);
    let y_max = nice_max(highest.max(100.0));
    let sy = |p: f64| top + plot_h - p.clamp(0.0, y_max) / y_max * plot_h;
    let n = steps.len().max(1) as f64;
    let sx = |i: f64| left + i / n * plot_w;
    let mut out = String::new();
    open(&mut out, height, title);
    let series: Vec<Series> = lines.iter().map(|(s, _, _)| s.clone()).collect();
    legend(&mut out, &series, 44.0);
    for k in 0..=4 {
        let p = y_max * f64::from(k) / 4.0;
        let y = sy(p);
        let _ = write!(
            out,
            "<line x1=\"{left:.1}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#e2e8f0\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#52606d\">{}%</text>",
            left + plot_w,
            left - 6.0,
            y + 4.0,
            num_label(p)
        );
    }
    let y100 = sy(100.0);
    let _ = write!(
        out,
        "<rect x=\"{left:.1}\" y=\"{top:.1}\" width=\"{plot_w:.1}\" height=\"{plot_h:.1}\" fill=\"none\" stroke=\"#94a3b8\"/>\
         <line x1=\"{left:.1}\" y1=\"{y100:.1}\" x2=\"{:.1}\" y2=\"{y100:.1}\" stroke=\"#b91c1c\" stroke-width=\"2\" stroke-dasharray=\"6 4\"/>\
         <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#b91c1c\">bank size</text>\
         <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#52606d\">{} (hover a step for its numbers)</text>",
        left + plot_w,
        left + plot_w - 4.0,
        y100 - 5.0,
        left + plot_w / 2.0,
        height - 14.0,
        escape_xml(unit)
    );
    // Step labels: every one when few, else about twenty.
    let every = (steps.len() / 20).max(1);
    for (i, label) in steps.iter().enumerate().filter(|(i, _)| i % every == 0) {
        let _ = write!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#52606d\" font-size=\"10\">{}</text>",
            sx(i as f64 + 0.5),
            top + plot_h + 14.0,
            escape_xml(label)
        );
    }
    for (s, values, limit) in lines {
        let mut d = String::new();
        // A step per call: level across the call, vertical between calls.
        for (i, v) in values.iter().enumerate() {
            let y = sy(percent(*v, *limit));
            if i == 0 {
                let _ = write!(d, "M{:.1} {y:.1}", sx(0.0));
            } else {
                let _ = write!(d, " V{y:.1}");
            }
            let _ = write!(d, " H{:.1}", sx(i as f64 + 1.0));
        }
        let _ = write!(
            out,
            "<path d=\"{d}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"/>",
            escape_xml(&s.color)
        );
        for (i, v) in values.iter().enumerate() {
            let _ = write!(
                out,
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"6\" fill=\"{}\" opacity=\"0.01\"><title>{} after {}: {} of {} per bank ({:.1}%)</title></rect>",
                sx(i as f64),
                sy(percent(*v, *limit)) - 3.0,
                (plot_w / n).max(1.0),
                escape_xml(&s.color),
                escape_xml(&s.name),
                escape_xml(steps.get(i).map_or("", String::as_str)),
                escape_xml(&size(v.round() as u64)),
                escape_xml(&size(limit.round() as u64)),
                percent(*v, *limit)
            );
        }
    }
    for (i, label, color) in marks {
        let x = sx(*i as f64 + 0.5);
        let _ = write!(
            out,
            "<line x1=\"{x:.1}\" y1=\"{top:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"{c}\" stroke-width=\"1.5\" stroke-dasharray=\"3 3\"><title>{t}</title></line><text x=\"{:.1}\" y=\"{:.1}\" fill=\"{c}\" font-size=\"11\">{t}</text>",
            top + plot_h,
            x + 4.0,
            top + 12.0,
            c = escape_xml(color),
            t = escape_xml(label)
        );
    }
    out.push_str("</svg>");
    out
}

/// The smallest 1, 2 or 5 × 10^k at or above `x` (at least 1).
pub fn nice_max(x: f64) -> f64 {
    if !x.is_finite() || x <= 1.0 {
        return 1.0;
    }
    let mag = 10f64.powf(x.log10().floor());
    for m in [1.0, 2.0, 5.0, 10.0] {
        if m * mag >= x {
            return m * mag;
        }
    }
    10.0 * mag
}

fn num_label(x: f64) -> String {
    if (x - x.round()).abs() < 1e-9 {
        format!("{}", x.round() as i64)
    } else {
        format!("{x:.2}")
    }
}

fn open(out: &mut String, height: f64, title: &str) {
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" viewBox=\"0 0 {WIDTH} {height:.0}\" width=\"{WIDTH}\" height=\"{height:.0}\" role=\"img\" aria-label=\"{t}\" {FONT} font-size=\"12\">\
         <title>{t}</title><rect x=\"0\" y=\"0\" width=\"{WIDTH}\" height=\"{height:.0}\" fill=\"#ffffff\"/>\
         <text x=\"12\" y=\"22\" font-size=\"15\" font-weight=\"600\" fill=\"#1f2933\">{t}</text>",
        t = escape_xml(title)
    );
}

fn legend(out: &mut String, series: &[Series], y: f64) {
    let mut x = 12.0;
    for s in series {
        let _ = write!(
            out,
            "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"12\" height=\"12\" fill=\"{}\"/><text x=\"{:.1}\" y=\"{:.1}\" fill=\"#334155\">{}</text>",
            y - 10.0,
            escape_xml(&s.color),
            x + 16.0,
            y,
            escape_xml(&s.name)
        );
        x += 30.0 + 7.0 * s.name.chars().count() as f64;
    }
}

fn label_width(labels: impl Iterator<Item = usize>) -> f64 {
    (labels.max().unwrap_or(4) as f64 * 7.0 + 16.0).clamp(80.0, 300.0)
}

fn bars_svg(title: &str, series: &[Series], bars: &[super::doc::Bar], unit: &str) -> String {
    let left = label_width(bars.iter().map(|b| b.label.chars().count()));
    let right = 110.0;
    let top = 62.0;
    let row = 18.0;
    let height = top + row * bars.len().max(1) as f64 + 40.0;
    let max_total = bars
        .iter()
        .map(|b| b.segments.iter().map(|s| s.1).sum::<f64>())
        .fold(0.0, f64::max);
    let xmax = nice_max(max_total);
    let plot_w = WIDTH - left - right;
    let sx = |v: f64| left + v / xmax * plot_w;
    let mut out = String::new();
    open(&mut out, height, title);
    legend(&mut out, series, 44.0);
    // grid and axis
    let axis_y = top + row * bars.len().max(1) as f64 + 4.0;
    for i in 0..=5 {
        let v = xmax * f64::from(i) / 5.0;
        let x = sx(v);
        let _ = write!(
            out,
            "<line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{axis_y:.1}\" stroke=\"#e2e8f0\"/><text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#52606d\">{}</text>",
            top - 6.0,
            axis_y + 16.0,
            num_label(v)
        );
    }
    let _ = write!(
        out,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#52606d\">{}</text>",
        left + plot_w / 2.0,
        axis_y + 32.0,
        escape_xml(unit)
    );
    if bars.is_empty() {
        let _ = write!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"#52606d\">no data</text>",
            left + 8.0,
            top + 12.0
        );
    }
    for (i, b) in bars.iter().enumerate() {
        let y = top + row * i as f64;
        let _ = write!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#1f2933\">{}</text>",
            left - 6.0,
            y + 11.0,
            escape_xml(&b.label)
        );
        let mut acc = 0.0;
        for &(si, v) in &b.segments {
            if v <= 0.0 {
                continue;
            }
            let x0 = sx(acc);
            let w = (sx(acc + v) - x0).max(1.0);
            acc += v;
            let s = series.get(si);
            let color = s.map_or("#888888", |s| s.color.as_str());
            let name = s.map_or("", |s| s.name.as_str());
            let _ = write!(
                out,
                "<rect x=\"{x0:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{:.1}\" fill=\"{}\"><title>{}: {} {}</title></rect>",
                row - 4.0,
                escape_xml(color),
                escape_xml(&b.label),
                num_label(v),
                escape_xml(name)
            );
        }
        if !b.note.is_empty() {
            let _ = write!(
                out,
                "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"#334155\">{}</text>",
                sx(acc) + 5.0,
                y + 11.0,
                escape_xml(&b.note)
            );
        }
    }
    out.push_str("</svg>");
    out
}

fn scatter_svg(
    title: &str,
    y_label: &str,
    series: &[Series],
    points: &[Point],
    lines: &[Line],
) -> String {
    let (left, right, top, bottom) = (86.0, 190.0, 62.0, 46.0);
    let height = 420.0;
    let plot_w = WIDTH - left - right;
    let plot_h = height - top - bottom;
    let values = points
        .iter()
        .map(|p| p.value)
        .chain(lines.iter().map(|l| l.value))
        .filter(|v| v.is_finite() && *v > 0.0);
    let (lo, hi) = values.fold((f64::INFINITY, 0.0f64), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    let (lo, hi) = if lo.is_finite() && hi > 0.0 {
        ((lo / 2.0).log2().floor(), (hi * 2.0).log2().ceil())
    } else {
        (10.0, 30.0)
    };
    let span = (hi - lo).max(1.0);
    let sy = |v: f64| top + plot_h - (v.max(1.0).log2() - lo) / span * plot_h;
    let mut out = String::new();
    open(&mut out, height, title);
    legend(&mut out, series, 44.0);
    let step = if span <= 8.0 {
        1.0
    } else if span <= 16.0 {
        2.0
    } else if span <= 40.0 {
        5.0
    } else {
        10.0
    };
    let mut t = (lo / step).ceil() * step;
    while t <= hi {
        let v = 2f64.powf(t);
        let y = sy(v);
        let _ = write!(
            out,
            "<line x1=\"{left:.1}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#e2e8f0\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#52606d\">{}</text>",
            left + plot_w,
            left - 6.0,
            y + 4.0,
            escape_xml(&size(v.round() as u64))
        );
        t += step;
    }
    let _ = write!(
        out,
        "<rect x=\"{left:.1}\" y=\"{top:.1}\" width=\"{plot_w:.1}\" height=\"{plot_h:.1}\" fill=\"none\" stroke=\"#94a3b8\"/>\
         <text transform=\"translate(16 {:.1}) rotate(-90)\" text-anchor=\"middle\" fill=\"#52606d\">{}</text>\
         <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#52606d\">shapes × memory, sorted by bytes needed per bank (hover a point for its shape)</text>",
        top + plot_h / 2.0,
        escape_xml(y_label),
        left + plot_w / 2.0,
        height - 14.0
    );
    for l in lines {
        let y = sy(l.value);
        let _ = write!(
            out,
            "<line x1=\"{left:.1}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"{c}\" stroke-width=\"2\" stroke-dasharray=\"6 4\"/><text x=\"{:.1}\" y=\"{:.1}\" fill=\"{c}\">{}</text>",
            left + plot_w,
            left + plot_w + 6.0,
            y + 4.0,
            escape_xml(&l.label),
            c = escape_xml(&l.color)
        );
    }
    if points.is_empty() {
        let _ = write!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"#52606d\">no data</text>",
            left + 8.0,
            top + 18.0
        );
    }
    let n = points.len().max(1) as f64;
    for (i, p) in points.iter().enumerate() {
        let x = left + (i as f64 + 0.5) / n * plot_w;
        let y = sy(p.value);
        let color = series.get(p.series).map_or("#888888", |s| s.color.as_str());
        if p.square {
            let _ = write!(
                out,
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"7\" height=\"7\" fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\"><title>{}</title></rect>",
                x - 3.5,
                y - 3.5,
                escape_xml(color),
                escape_xml(&p.tooltip)
            );
        } else {
            let _ = write!(
                out,
                "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"3.5\" fill=\"{}\" fill-opacity=\"0.85\"><title>{}</title></circle>",
                escape_xml(color),
                escape_xml(&p.tooltip)
            );
        }
    }
    out.push_str("</svg>");
    out
}

fn ranges_svg(
    title: &str,
    ranges: &[Range],
    reference: Option<&(f64, String)>,
    unit: &str,
) -> String {
    let left = label_width(ranges.iter().map(|r| r.label.chars().count()));
    let right = 150.0;
    let top = 64.0;
    let row = 18.0;
    let height = top + row * ranges.len().max(1) as f64 + 44.0;
    // Ratios span orders of magnitude (a one-element tensor pads 2 B to a 2 KiB tile): log x.
    let values = ranges
        .iter()
        .flat_map(|r| [r.min, r.max])
        .chain(reference.map(|r| r.0))
        .filter(|v| v.is_finite() && *v > 0.0);
    let (lo, hi) = values.fold((f64::INFINITY, 0.0f64), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    let (lo, hi) = if lo.is_finite() && hi > 0.0 {
        (lo.log10().floor(), hi.log10().ceil())
    } else {
        (0.0, 1.0)
    };
    let hi = if hi <= lo { lo + 1.0 } else { hi };
    let plot_w = WIDTH - left - right;
    let sx = |v: f64| left + (v.max(1e-12).log10().clamp(lo, hi) - lo) / (hi - lo) * plot_w;
    let mut out = String::new();
    open(&mut out, height, title);
    let axis_y = top + row * ranges.len().max(1) as f64 + 4.0;
    let mut decade = lo;
    while decade <= hi {
        for m in [1.0, 2.0, 5.0] {
            let v = m * 10f64.powf(decade);
            if v.log10() > hi + 1e-9 || (m > 1.0 && hi - lo > 3.0) {
                continue;
            }
            let x = sx(v);
            let _ = write!(
                out,
                "<line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{axis_y:.1}\" stroke=\"{}\"/><text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#52606d\">{}×</text>",
                top - 6.0,
                if m == 1.0 { "#cbd5e1" } else { "#eef2f6" },
                axis_y + 16.0,
                num_label(v)
            );
        }
        decade += 1.0;
    }
    let _ = write!(
        out,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#52606d\">{}</text>",
        left + plot_w / 2.0,
        axis_y + 34.0,
        escape_xml(unit)
    );
    if let Some((v, label)) = reference {
        let x = sx(*v);
        let _ = write!(
            out,
            "<line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{axis_y:.1}\" stroke=\"#b91c1c\" stroke-dasharray=\"4 3\"/><text x=\"{:.1}\" y=\"{:.1}\" fill=\"#b91c1c\">{}</text>",
            top - 14.0,
            x + 4.0,
            top - 16.0,
            escape_xml(label)
        );
    }
    if ranges.is_empty() {
        let _ = write!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"#52606d\">no data</text>",
            left + 8.0,
            top + 12.0
        );
    }
    for (i, r) in ranges.iter().enumerate() {
        let y = top + row * i as f64 + row / 2.0 - 2.0;
        let (x0, x1, xm) = (sx(r.min), sx(r.max), sx(r.median));
        let _ = write!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#1f2933\">{}</text>\
             <g><title>{}: min {:.2}, median {:.2}, max {:.2}</title>\
             <line x1=\"{x0:.1}\" y1=\"{y:.1}\" x2=\"{x1:.1}\" y2=\"{y:.1}\" stroke=\"#475569\" stroke-width=\"2\"/>\
             <line x1=\"{x0:.1}\" y1=\"{:.1}\" x2=\"{x0:.1}\" y2=\"{:.1}\" stroke=\"#475569\"/>\
             <line x1=\"{x1:.1}\" y1=\"{:.1}\" x2=\"{x1:.1}\" y2=\"{:.1}\" stroke=\"#475569\"/>\
             <rect x=\"{:.1}\" y=\"{:.1}\" width=\"8\" height=\"10\" fill=\"#2563eb\"/></g>\
             <text x=\"{:.1}\" y=\"{:.1}\" fill=\"#334155\">{}</text>",
            left - 6.0,
            y + 4.0,
            escape_xml(&r.label),
            escape_xml(&r.label),
            r.min,
            r.median,
            r.max,
            y - 5.0,
            y + 5.0,
            y - 5.0,
            y + 5.0,
            xm - 4.0,
            y - 5.0,
            x1.max(xm + 4.0) + 8.0,
            y + 4.0,
            escape_xml(&r.note)
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_maxima() {
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(3.0), 5.0);
        assert_eq!(nice_max(41.0), 50.0);
        assert_eq!(nice_max(100.0), 100.0);
        assert_eq!(nice_max(101.0), 200.0);
    }

    #[test]
    fn text_is_escaped() {
        let svg = render(&Chart::Bars {
            title: "a <b> & \"c\"".into(),
            series: vec![Series {
                name: "x<y".into(),
                color: "#123456".into(),
            }],
            bars: vec![super::super::doc::Bar {
                label: "op<script>".into(),
                segments: vec![(0, 3.0)],
                note: "3".into(),
            }],
            unit: "cases".into(),
        });
        assert!(!svg.contains("<script>"));
        assert!(svg.contains("op&lt;script&gt;"));
        assert!(svg.contains("a &lt;b&gt; &amp; &quot;c&quot;"));
    }
}
