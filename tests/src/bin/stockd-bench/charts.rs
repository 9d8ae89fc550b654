//! PNG charts beside the report, drawn with plotters' bitmap backend. Text
//! is rendered with ab_glyph from a TrueType font found at run time (DejaVu
//! Sans from Debian's fonts-dejavu-core, or `$STOCKD_BENCH_FONT`), so no
//! fontconfig or freetype library is needed; without a font no chart is
//! written and the report says why.

use std::path::Path;

use anyhow::{anyhow, Context, Result};
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::ops::Op;
use crate::report::{Results, ScaleResult};

const FONT_PATHS: [&str; 4] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
];

const STOCKD: RGBColor = RGBColor(31, 119, 180);
const POSTGRES: RGBColor = RGBColor(44, 160, 44);
const REDIS: RGBColor = RGBColor(214, 39, 40);
const EXTRA: RGBColor = RGBColor(148, 103, 189);

fn load_font() -> Result<String> {
    let candidates: Vec<String> = std::env::var("STOCKD_BENCH_FONT")
        .ok()
        .into_iter()
        .chain(FONT_PATHS.iter().map(|s| s.to_string()))
        .collect();
    let path = candidates
        .iter()
        .find(|p| Path::new(p).exists())
        .ok_or_else(|| {
            anyhow!(
                "no TrueType font found (looked for {}); install Debian's fonts-dejavu-core or set \
                 STOCKD_BENCH_FONT to a .ttf file",
                candidates.join(", ")
            )
        })?;
    let bytes = std::fs::read(path).with_context(|| format!("reading {path}"))?;
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
        .map_err(|_| anyhow!("{path} is not a font ab_glyph can read"))?;
    Ok(path.clone())
}

type Series = (&'static str, RGBColor, Vec<(f64, f64)>);

/// `1.2k`, `35k`, `2.1M`.
fn si(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if a >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else if a >= 10.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn bounds(series: &[Series], axis: fn(&(f64, f64)) -> f64) -> Option<(f64, f64)> {
    let vals: Vec<f64> = series
        .iter()
        .flat_map(|s| s.2.iter().map(axis))
        .filter(|v| v.is_finite() && *v > 0.0)
        .collect();
    let min = vals.iter().copied().fold(f64::MAX, f64::min);
    let max = vals.iter().copied().fold(f64::MIN, f64::max);
    (!vals.is_empty()).then_some((min, max))
}

/// One log-log panel: series of (x, y) points, lines with dots.
fn panel(
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    title: &str,
    x_desc: &str,
    y_desc: &str,
    series: &[Series],
    log_x: bool,
) -> Result<()> {
    let Some((x0, x1)) = bounds(series, |p| p.0) else {
        return Ok(());
    };
    let Some((y0, y1)) = bounds(series, |p| p.1) else {
        return Ok(());
    };
    let (y0, y1) = (y0 / 1.6, y1 * 1.6);
    let mut b = ChartBuilder::on(area);
    b.caption(title, ("sans-serif", 20))
        .margin(10)
        .x_label_area_size(36)
        .y_label_area_size(58);
    let e = |e: &dyn std::fmt::Display| anyhow!("drawing {title}: {e}");
    macro_rules! draw {
        ($chart:expr, $series:expr) => {{
            let chart = &mut $chart;
            for (name, color, pts) in $series {
                let color = *color;
                chart
                    .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
                    .map_err(|x| e(&x))?
                    .label(*name)
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(3))
                    });
                chart
                    .draw_series(pts.iter().map(|p| Circle::new(*p, 4, color.filled())))
                    .map_err(|x| e(&x))?;
            }
            chart
                .configure_series_labels()
                .label_font(("sans-serif", 14))
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .position(SeriesLabelPosition::UpperLeft)
                .draw()
                .map_err(|x| e(&x))?;
        }};
    }
    if log_x {
        // x = log2(clients): evenly spaced levels, labelled with the counts.
        let (x0, x1) = (x0.log2() - 0.4, x1.log2() + 0.4);
        let levels: Vec<f64> = series
            .iter()
            .flat_map(|s| s.2.iter().map(|p| p.0))
            .collect();
        let label = move |v: &f64| {
            let c = v.exp2();
            if (v - v.round()).abs() < 1e-6 && levels.iter().any(|l| (l - c).abs() < 1e-6) {
                format!("{c:.0}")
            } else {
                String::new()
            }
        };
        let series: Vec<Series> = series
            .iter()
            .map(|(n, c, p)| (*n, *c, p.iter().map(|(x, y)| (x.log2(), *y)).collect()))
            .collect();
        let mut chart = b
            .build_cartesian_2d(x0..x1, (y0..y1).log_scale())
            .map_err(|x| e(&x))?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            .x_labels(((x1 - x0).ceil() as usize + 1) * 2)
            .x_label_formatter(&label)
            .y_label_formatter(&|v| si(*v))
            .light_line_style(WHITE)
            .label_style(("sans-serif", 14))
            .draw()
            .map_err(|x| e(&x))?;
        draw!(chart, &series);
    } else {
        let pad = ((x1 - x0) * 0.08).max(x1 * 0.05);
        let mut chart = b
            .build_cartesian_2d((x0 - pad).max(0.0)..x1 + pad, (y0..y1).log_scale())
            .map_err(|x| e(&x))?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            .x_label_formatter(&|v| si(*v))
            .y_label_formatter(&|v| si(*v))
            .light_line_style(WHITE)
            .label_style(("sans-serif", 14))
            .draw()
            .map_err(|x| e(&x))?;
        draw!(chart, series);
    }
    Ok(())
}

fn by_concurrency(
    x: &ScaleResult,
    op: Op,
    metric: fn(&crate::runner::OpStats) -> f64,
) -> Vec<Series> {
    let mut out = Vec::new();
    for (t, name, color) in [
        ("stockd", "stockd", STOCKD),
        ("postgres", "PostgreSQL", POSTGRES),
        ("redis", "Redis", REDIS),
    ] {
        let pts: Vec<(f64, f64)> = x
            .ops
            .iter()
            .filter(|s| s.op == op && s.target == t)
            .map(|s| (s.clients as f64, metric(s)))
            .filter(|p| p.1.is_finite() && p.1 > 0.0)
            .collect();
        if !pts.is_empty() {
            out.push((name, color, pts));
        }
    }
    out
}

/// Throughput and p99 by concurrency, one panel per operation, for one scale.
fn per_op_chart(
    x: &ScaleResult,
    path: &Path,
    title: &str,
    y_desc: &str,
    metric: fn(&crate::runner::OpStats) -> f64,
) -> Result<()> {
    let mut ops: Vec<Op> = Vec::new();
    for s in &x.ops {
        if !ops.contains(&s.op) {
            ops.push(s.op);
        }
    }
    let cols = ops.len().clamp(1, 4);
    let rows = ops.len().div_ceil(cols).max(1);
    let root =
        BitMapBackend::new(path, (380 * cols as u32, 330 * rows as u32 + 50)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
    let (top, rest) = root.split_vertically(50);
    top.titled(title, ("sans-serif", 24))
        .map_err(|e| anyhow!("{e}"))?;
    let areas = rest.split_evenly((rows, cols));
    for (op, area) in ops.iter().zip(areas.iter()) {
        let series = by_concurrency(x, *op, metric);
        panel(area, op.name(), "clients", y_desc, &series, true)?;
    }
    root.present().map_err(|e| anyhow!("{e}"))?;
    Ok(())
}

fn memory_chart(r: &Results, path: &Path) -> Result<()> {
    let mib = |b: f64| b / 1_048_576.0;
    // The demo data sets as lines; the vendor-style ones (same rows as
    // seed and year, other values) are in the report's tables.
    let pts = |f: &dyn Fn(&ScaleResult) -> Option<f64>| -> Vec<(f64, f64)> {
        r.scales
            .iter()
            .filter(|s| !s.scale.memory_only())
            .filter_map(|s| f(s).map(|y| (s.data.rows as f64 / 1000.0, mib(y))))
            .collect()
    };
    let mut series: Vec<Series> = vec![
        (
            "stockd RSS after load",
            STOCKD,
            pts(&|s| s.memory.after_load.map(|m| m.rss_bytes as f64)),
        ),
        (
            "stockd store bytes",
            EXTRA,
            pts(&|s| s.memory.store_bytes.map(|b| b as f64)),
        ),
        (
            "PostgreSQL table + indexes",
            POSTGRES,
            pts(&|s| Some(s.memory.pg_total_bytes as f64)),
        ),
        (
            "Redis used_memory (rows)",
            REDIS,
            pts(&|s| s.memory.redis_used_memory_delta.map(|b| b as f64)),
        ),
    ];
    series.retain(|s| !s.2.is_empty());
    let root = BitMapBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
    panel(
        &root,
        "Memory by scale (MiB, log scale)",
        "rows (thousands)",
        "MiB",
        &series,
        false,
    )?;
    root.present().map_err(|e| anyhow!("{e}"))?;
    Ok(())
}

/// Writes the charts into `out`; returns their file names.
pub fn write_all(r: &Results, out: &Path) -> Result<Vec<String>> {
    load_font()?;
    let mut files = Vec::new();
    for x in r.scales.iter().filter(|x| !x.ops.is_empty()) {
        let name = format!("throughput-{}.png", x.scale);
        per_op_chart(
            x,
            &out.join(&name),
            &format!(
                "Throughput (requests/s) by concurrent clients — {} scale, {} rows",
                x.scale, x.data.rows
            ),
            "req/s",
            |s| s.throughput,
        )?;
        files.push(name);
        let name = format!("p99-{}.png", x.scale);
        per_op_chart(
            x,
            &out.join(&name),
            &format!(
                "p99 latency (µs) by concurrent clients — {} scale, {} rows",
                x.scale, x.data.rows
            ),
            "p99 µs",
            |s| s.p99_us,
        )?;
        files.push(name);
    }
    let name = "memory.png".to_string();
    memory_chart(r, &out.join(&name))?;
    files.push(name);
    Ok(files)
}
