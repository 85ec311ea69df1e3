//! Line charts rendered with plotters as SVG and PNG; PNG text uses the bundled DejaVu Sans
//! (assets/), so no system font library is needed.

use std::path::{Path, PathBuf};
use std::sync::Once;

use ab_glyph::{point, Font, FontRef, ScaleFont};
use anyhow::{anyhow, Result};
use curvscope_model::files::write_atomic;
use image::codecs::png::PngEncoder;
use image::{ColorType, ImageEncoder};
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters_backend::text_anchor::{HPos, Pos, VPos};
use plotters_backend::{BackendColor, BackendCoord, BackendTextStyle, DrawingErrorKind};

/// The font every chart's text is set in, registered once under plotters' "sans-serif".
static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// plotters measures text (for layout) with the registered font; [`GlyphText`] draws it.
pub(crate) fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if plotters::style::register_font("sans-serif", FontStyle::Normal, FONT).is_err() {
            panic!("the bundled DejaVuSans.ttf is a valid font");
        }
    });
}

/// matplotlib's ten `tab10` colours, for a chart's fixed series.
pub const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// Colour of the i-th of n checkpoints: viridis from purple (early) through teal to yellow (late).
pub fn trajectory_color(i: usize, n: usize) -> RGBColor {
    const STOPS: [(f64, f64, f64); 3] = [
        (68.0, 1.0, 84.0),
        (33.0, 145.0, 140.0),
        (253.0, 231.0, 37.0),
    ];
    let t = if n > 1 {
        i as f64 / (n - 1) as f64
    } else {
        0.0
    } * 2.0;
    let (a, b, f) = if t <= 1.0 {
        (STOPS[0], STOPS[1], t)
    } else {
        (STOPS[1], STOPS[2], t - 1.0)
    };
    let mix = |x: f64, y: f64| (x + (y - x) * f).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// One line of a chart.
pub struct Series {
    /// Legend entry; `None` keeps it out of the legend.
    pub label: Option<String>,
    /// (x, y) points; non-finite ones (and, on a log axis, non-positive ones) are left out.
    pub points: Vec<(f64, f64)>,
    /// The interval (low, high) of each point's y, in the order of `points` — a standard error
    /// or a confidence interval — drawn as error bars, or as a band when the points are too
    /// many for bars. Empty (or an interval of zero width): the value is exact.
    pub intervals: Vec<(f64, f64)>,
    pub color: RGBColor,
}

impl Series {
    /// A series of exact values.
    pub fn exact(label: Option<String>, points: Vec<(f64, f64)>, color: RGBColor) -> Self {
        Self {
            label,
            points,
            intervals: Vec::new(),
            color,
        }
    }
}

/// A line chart.
pub struct Chart {
    /// File name without extension.
    pub name: String,
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    /// Logarithmic y axis.
    pub log_y: bool,
    /// The x axis counts (ranks, indices): ticks on whole numbers only.
    pub integer_x: bool,
    pub series: Vec<Series>,
}

/// A drawable point: (x, y) and the y interval, y as log10 y on a log axis.
#[derive(Clone, Copy)]
struct Mark {
    x: f64,
    y: f64,
    interval: Option<(f64, f64)>,
}

/// More points than this are drawn without markers, and their intervals as a band.
const MANY_POINTS: usize = 60;

/// Fewer points than this are drawn as markers alone: a line through two snapshots would
/// claim a path between them that nobody measured.
const JOINED_POINTS: usize = 3;

impl Chart {
    /// The drawable marks of each series, y as log10 y on a log axis; on a log axis an
    /// interval reaching zero or below is cut at a hundredth of its point.
    fn marks(&self) -> Vec<Vec<Mark>> {
        let log = self.log_y;
        let drawable = |&(x, y): &(f64, f64)| x.is_finite() && y.is_finite() && (!log || y > 0.0);
        let scale = |y: f64| if log { y.log10() } else { y };
        self.series
            .iter()
            .map(|s| {
                let intervals = s
                    .intervals
                    .iter()
                    .copied()
                    .map(Some)
                    .chain(std::iter::repeat(None));
                s.points
                    .iter()
                    .zip(intervals)
                    .filter(|(p, _)| drawable(p))
                    .map(|(&(x, y), interval)| Mark {
                        x,
                        y: scale(y),
                        interval: interval
                            .filter(|(lo, hi)| lo.is_finite() && hi.is_finite() && hi > lo)
                            .map(|(lo, hi)| {
                                let lo = if log { lo.max(y / 100.0) } else { lo };
                                (scale(lo), scale(hi))
                            }),
                    })
                    .collect()
            })
            .collect()
    }
}

/// Renders `chart` as `dir/<name>.svg` and `dir/<name>.png`, each written whole
/// ([`write_atomic`]); `None` when it has no point to draw.
pub fn render(chart: &Chart, dir: &Path) -> Result<Option<[PathBuf; 2]>> {
    let Some(marks) = drawable_marks(chart) else {
        return Ok(None);
    };
    let (svg, png) = (
        dir.join(format!("{}.svg", chart.name)),
        dir.join(format!("{}.png", chart.name)),
    );
    write_atomic(&svg, svg_document(chart, &marks)?.as_bytes())?;
    write_atomic(&png, &png_bytes(SIZE, |area| draw(area, chart, &marks))?)?;
    Ok(Some([svg, png]))
}

/// The PNG of a `size` bitmap that `draw` draws on, to be written whole with [`write_atomic`]:
/// plotters' file backend writes in place, so a kill, or a second export into the same folder,
/// left an empty or torn figure (which the next export then took for the user's edit).
pub(crate) fn png_bytes(
    (width, height): (u32, u32),
    draw: impl FnOnce(DrawingArea<GlyphText<'_>, Shift>) -> Result<()>,
) -> Result<Vec<u8>> {
    let mut pixels = vec![0; width as usize * height as usize * 3];
    draw(GlyphText(BitMapBackend::with_buffer(&mut pixels, (width, height))).into_drawing_area())?;
    let mut encoded = Vec::new();
    PngEncoder::new(&mut encoded).write_image(&pixels, width, height, ColorType::Rgb8)?;
    Ok(encoded)
}

/// `chart` as an SVG document (for inlining in HTML); `None` when it has no point to draw.
pub fn svg(chart: &Chart) -> Result<Option<String>> {
    drawable_marks(chart)
        .map(|marks| svg_document(chart, &marks))
        .transpose()
}

/// `chart`'s marks, the font registered for drawing them; `None` when there is no point.
fn drawable_marks(chart: &Chart) -> Option<Vec<Vec<Mark>>> {
    register_font();
    let marks = chart.marks();
    (!marks.iter().all(Vec::is_empty)).then_some(marks)
}

/// `chart` drawn from its `marks` as an SVG document.
fn svg_document(chart: &Chart, marks: &[Vec<Mark>]) -> Result<String> {
    let mut text = String::new();
    draw(
        SVGBackend::with_string(&mut text, SIZE).into_drawing_area(),
        chart,
        marks,
    )?;
    Ok(text)
}

/// Pixel size of every figure.
const SIZE: (u32, u32) = (900, 560);

/// Axis range covering `values` with a 5% margin; ±10% around a single value, or around values
/// that differ only by rounding (within 1e-9 of their size: Tr(HΣ) = 619.07 along a run,
/// recomputed, spread over 1e-12 and drawn as a zigzag over the whole axis).
fn range(values: impl Iterator<Item = f64>) -> std::ops::Range<f64> {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if hi - lo > 1e-9 * lo.abs().max(hi.abs()) {
        let pad = 0.05 * (hi - lo);
        return lo - pad..hi + pad;
    }
    let middle = lo + (hi - lo) / 2.0;
    let pad = middle.abs().max(1.0) * 0.1;
    middle - pad..middle + pad
}

/// About this many ticks on an axis.
const TICKS: usize = 8;

/// Ticks of a linear axis over `lo..=hi`: the multiples of a step of 1, 2 or 5 × 10^k giving
/// at most `max` ticks (at least two when the range allows); with `integer`, a step of at
/// least 1, so a rank axis never reads 1.2, 1.4, …
pub fn linear_ticks(lo: f64, hi: f64, max: usize, integer: bool) -> Vec<f64> {
    if !(lo.is_finite() && hi.is_finite() && hi > lo) || max < 2 {
        return Vec::new();
    }
    let raw = (hi - lo) / (max - 1) as f64;
    let mut step = nice_step(raw);
    if integer {
        step = step.max(1.0);
    }
    let multiples = |step: f64| {
        let first = (lo / step).ceil() as i64;
        let last = (hi / step).floor() as i64;
        (first..=last).map(move |i| i as f64 * step)
    };
    while multiples(step).count() > max {
        step = nice_step(step * 1.01);
    }
    multiples(step).collect()
}

/// The smallest 1, 2 or 5 × 10^k that is at least `raw` (> 0).
fn nice_step(raw: f64) -> f64 {
    let decade = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * decade)
        .find(|&s| s >= raw * (1.0 - 1e-12))
        .unwrap_or(10.0 * decade)
}

/// Ticks of a log axis over `lo..=hi` (0 < lo < hi): 1-2-5 × 10^k; only the powers of ten
/// (every n-th) when those are more than `max`; the ticks of a linear axis when the range is
/// too narrow to hold two of them.
pub fn log_ticks(lo: f64, hi: f64, max: usize) -> Vec<f64> {
    if !(lo > 0.0 && hi > lo && hi.is_finite()) {
        return Vec::new();
    }
    let (first, last) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
    let within = |v: &f64| *v >= lo * (1.0 - 1e-12) && *v <= hi * (1.0 + 1e-12);
    let decades = |mantissas: &'static [f64], every: i32| {
        (first..=last)
            .filter(move |e| e.rem_euclid(every) == 0)
            .flat_map(move |e| mantissas.iter().map(move |m| m * 10f64.powi(e)))
            .filter(within)
            .collect::<Vec<f64>>()
    };
    let one_two_five = decades(&[1.0, 2.0, 5.0], 1);
    if one_two_five.len() < 2 {
        return linear_ticks(lo, hi, max, false);
    }
    if one_two_five.len() <= max {
        return one_two_five;
    }
    (1..)
        .map(|every| decades(&[1.0], every))
        .find(|t| t.len() <= max)
        .expect("a coarse enough spacing leaves at most one power of ten")
}

/// A number in three significant digits (tick labels, report tables), scientific beyond
/// [1e-3, 1e5); NaN and ±inf as Rust writes them (a CSV edited by hand, or an overflow).
pub fn short_number(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    if v == 0.0 || !(1e-3..1e5).contains(&v.abs()) {
        if v == 0.0 {
            return "0".into();
        }
        let text = format!("{v:.2e}");
        let (mantissa, exponent) = text.split_once('e').expect("{:e} writes an exponent");
        let mantissa = mantissa.trim_end_matches('0').trim_end_matches('.');
        return format!("{mantissa}e{exponent}");
    }
    let decimals = (2 - v.abs().log10().floor() as i32).max(0) as usize;
    let text = format!("{v:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// A linear f64 axis ticked exactly at `ticks` (plotters' own `with_key_points` leaves the
/// axis without a label formatter).
struct Ticked {
    inner: RangedCoordf64,
    ticks: Vec<f64>,
}

impl Ticked {
    fn new(range: std::ops::Range<f64>, ticks: Vec<f64>) -> Self {
        Self {
            inner: range.into(),
            ticks,
        }
    }
}

impl Ranged for Ticked {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.inner.map(value, limit)
    }
    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }
    fn range(&self) -> std::ops::Range<f64> {
        self.inner.range()
    }
}

/// One legend entry as laid out below the plot: its series, text and top-left corner.
struct Entry<'a> {
    series: &'a Series,
    joined: bool,
    text: &'a str,
    at: (i32, i32),
}

/// Legend geometry (pixels).
const LEGEND_FONT: u32 = 15;
const LEGEND_ROW: i32 = 22;
const LEGEND_SAMPLE: i32 = 24;

/// Lays the labelled series out in rows below the plot, each as wide as its text; returns the
/// entries and the height of the strip they need. Below the plot, a legend can never cover data.
fn legend_layout<'a, DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart: &'a Chart,
    marks: &[Vec<Mark>],
) -> (Vec<Entry<'a>>, i32) {
    let style = TextStyle::from(("sans-serif", LEGEND_FONT).into_font());
    let width = root.dim_in_pixel().0 as i32;
    let (margin, gap) = (80, 24);
    let (mut x, mut row, mut entries) = (margin, 0, Vec::new());
    for (series, marks) in chart.series.iter().zip(marks) {
        let Some(text) = series.label.as_deref() else {
            continue;
        };
        let text_width = root
            .estimate_text_size(text, &style)
            .map_or(text.len() as i32 * 8, |(w, _)| w as i32);
        let entry_width = LEGEND_SAMPLE + 6 + text_width;
        if x > margin && x + entry_width > width - 16 {
            (x, row) = (margin, row + 1);
        }
        entries.push(Entry {
            series,
            joined: marks.len() >= JOINED_POINTS,
            text,
            at: (x, row * LEGEND_ROW),
        });
        x += entry_width + gap;
    }
    let height = if entries.is_empty() {
        0
    } else {
        (row + 1) * LEGEND_ROW + 8
    };
    (entries, height)
}

fn draw<DB>(root: DrawingArea<DB, Shift>, chart: &Chart, marks: &[Vec<Mark>]) -> Result<()>
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow!("drawing {}: {e}", chart.name);
    root.fill(&WHITE).map_err(err)?;
    let (entries, legend_height) = legend_layout(&root, chart, marks);
    let height = root.dim_in_pixel().1 as i32;
    let (plot, legend) = root.split_vertically(height - legend_height);
    let all = || marks.iter().flatten();
    let xs = range(all().map(|m| m.x));
    let ys = range(all().flat_map(|m| {
        let (lo, hi) = m.interval.unwrap_or((m.y, m.y));
        [m.y, lo, hi]
    }));
    let x_ticks = linear_ticks(xs.start, xs.end, TICKS, chart.integer_x);
    let y_ticks = if chart.log_y {
        let ticks = log_ticks(10f64.powf(ys.start), 10f64.powf(ys.end), TICKS);
        ticks.into_iter().map(f64::log10).collect()
    } else {
        linear_ticks(ys.start, ys.end, TICKS, false)
    };
    let y_bottom = ys.start;
    let mut ctx = ChartBuilder::on(&plot)
        .caption(&chart.title, ("sans-serif", 24))
        .margin(16)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d(Ticked::new(xs, x_ticks), Ticked::new(ys, y_ticks))
        .map_err(err)?;
    let log = chart.log_y;
    let y_tick = |v: &f64| {
        if log {
            short_number(10f64.powf(*v))
        } else {
            short_number(*v)
        }
    };
    ctx.configure_mesh()
        .x_desc(chart.x_label.as_str())
        .y_desc(chart.y_label.as_str())
        .label_style(("sans-serif", 15))
        .axis_desc_style(("sans-serif", 17))
        .x_label_formatter(&|v| short_number(*v))
        .y_label_formatter(&y_tick)
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(err)?;
    for (series, marks) in chart.series.iter().zip(marks) {
        let color = series.color;
        let points = || marks.iter().map(|m| (m.x, m.y));
        let intervals = || {
            marks
                .iter()
                .filter_map(|m| m.interval.map(|(lo, hi)| (m.x, lo.max(y_bottom), hi)))
        };
        if marks.len() > MANY_POINTS {
            let band: Vec<(f64, f64)> = intervals()
                .map(|(x, _, hi)| (x, hi))
                .chain(
                    intervals()
                        .map(|(x, lo, _)| (x, lo))
                        .collect::<Vec<_>>()
                        .into_iter()
                        .rev(),
                )
                .collect();
            if !band.is_empty() {
                ctx.draw_series([Polygon::new(band, color.mix(0.2).filled())])
                    .map_err(err)?;
            }
        } else {
            // Error bars: a vertical segment, capped at both ends.
            let thin = color.stroke_width(1);
            ctx.draw_series(
                intervals().map(|(x, lo, hi)| PathElement::new([(x, lo), (x, hi)], thin)),
            )
            .map_err(err)?;
            let caps = intervals().flat_map(|(x, lo, hi)| {
                [lo, hi]
                    .map(|y| EmptyElement::at((x, y)) + PathElement::new([(-4, 0), (4, 0)], thin))
            });
            ctx.draw_series(caps).map_err(err)?;
            ctx.draw_series(points().map(|p| Circle::new(p, 3, color.filled())))
                .map_err(err)?;
        }
        if marks.len() >= JOINED_POINTS {
            ctx.draw_series(LineSeries::new(points(), color.stroke_width(2)))
                .map_err(err)?;
        }
    }
    for entry in &entries {
        let (x, y) = (entry.at.0, entry.at.1 + LEGEND_ROW / 2);
        let color = entry.series.color;
        if entry.joined {
            legend
                .draw(&PathElement::new(
                    [(x, y), (x + LEGEND_SAMPLE, y)],
                    color.stroke_width(2),
                ))
                .map_err(err)?;
        } else {
            legend
                .draw(&Circle::new((x + LEGEND_SAMPLE / 2, y), 4, color.filled()))
                .map_err(err)?;
        }
        let style = TextStyle::from(("sans-serif", LEGEND_FONT).into_font())
            .pos(Pos::new(HPos::Left, VPos::Center));
        legend
            .draw(&Text::new(entry.text, (x + LEGEND_SAMPLE + 6, y), style))
            .map_err(err)?;
    }
    root.present().map_err(err)?;
    Ok(())
}

/// A bitmap backend that sets text itself. plotters 0.3.7's ab_glyph text drops each glyph's
/// left side bearing (it draws the outline at the pen position, not at `px_bounds().min.x`),
/// so letters overlap or gap ("Tr", "1 00"); everything else is the bitmap backend's.
pub(crate) struct GlyphText<'a>(pub(crate) BitMapBackend<'a>);

type Drawn = Result<(), DrawingErrorKind<<BitMapBackend<'static> as DrawingBackend>::ErrorType>>;

impl DrawingBackend for GlyphText<'_> {
    type ErrorType = <BitMapBackend<'static> as DrawingBackend>::ErrorType;

    fn get_size(&self) -> (u32, u32) {
        self.0.get_size()
    }
    fn ensure_prepared(&mut self) -> Drawn {
        self.0.ensure_prepared()
    }
    fn present(&mut self) -> Drawn {
        self.0.present()
    }
    fn draw_pixel(&mut self, point: BackendCoord, color: BackendColor) -> Drawn {
        self.0.draw_pixel(point, color)
    }
    fn draw_line<S: plotters_backend::BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> Drawn {
        self.0.draw_line(from, to, style)
    }
    fn draw_rect<S: plotters_backend::BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> Drawn {
        self.0.draw_rect(upper_left, bottom_right, style, fill)
    }
    fn blit_bitmap(&mut self, pos: BackendCoord, size: (u32, u32), src: &[u8]) -> Drawn {
        self.0.blit_bitmap(pos, size, src)
    }

    /// A thick path segment by segment: the bitmap backend's joins at a thick polyline's sharp
    /// turns run far off the data (a zig-zag trajectory drew lines across the whole chart).
    fn draw_path<S: plotters_backend::BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> Drawn {
        let points: Vec<BackendCoord> = path.into_iter().collect();
        if style.stroke_width() <= 1 {
            return self.0.draw_path(points, style);
        }
        for segment in points.windows(2) {
            self.0.draw_path(segment.iter().copied(), style)?;
        }
        Ok(())
    }

    /// plotters' default `draw_text` (anchor, rotation, clipping) around a correct glyph loop.
    fn draw_text<S: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &S,
        pos: BackendCoord,
    ) -> Drawn {
        let color = style.color();
        if color.alpha == 0.0 {
            return Ok(());
        }
        let ((min_x, min_y), (max_x, max_y)) = style
            .layout_box(text)
            .map_err(|e| DrawingErrorKind::FontError(Box::new(e)))?;
        let (width, height) = (max_x - min_x, max_y - min_y);
        let dx = match style.anchor().h_pos {
            HPos::Left => 0,
            HPos::Right => -width,
            HPos::Center => -width / 2,
        };
        let dy = match style.anchor().v_pos {
            VPos::Top => 0,
            VPos::Center => -height / 2,
            VPos::Bottom => -height,
        };
        let transform = style.transform();
        let (w, h) = self.get_size();
        for (x, y, coverage) in glyph_pixels(text, style.size() as f32) {
            let (x, y) = transform.transform(x + dx - min_x, y + dy - min_y);
            let (x, y) = (pos.0 + x, pos.1 + y);
            if x >= 0 && x < w as i32 && y >= 0 && y < h as i32 {
                self.draw_pixel(
                    (x, y),
                    BackendColor {
                        alpha: color.alpha * coverage as f64,
                        rgb: color.rgb,
                    },
                )?;
            }
        }
        Ok(())
    }
}

/// The pixels (x, y, coverage) of `text` in the bundled font at `size`, laid out like plotters
/// lays it out (advances and kerning; the vertical middle of the em box at y = 0).
fn glyph_pixels(text: &str, size: f32) -> Vec<(i32, i32, f32)> {
    let font = FontRef::try_from_slice(FONT).expect("the bundled DejaVuSans.ttf is a valid font");
    let font = font.as_scaled(size);
    let (mut caret, mut previous, mut pixels) = (0.0, None, Vec::new());
    for c in text.chars() {
        let id = font.glyph_id(c);
        if let Some(p) = previous {
            caret += font.kern(p, id);
        }
        previous = Some(id);
        if let Some(outline) =
            font.outline_glyph(id.with_scale_and_position(size, point(caret, 0.0)))
        {
            let bounds = outline.px_bounds();
            let (left, top) = (bounds.min.x as i32, (size / 2.0 + bounds.min.y) as i32);
            outline.draw(|x, y, coverage| pixels.push((left + x as i32, top + y as i32, coverage)));
        }
        caret += font.h_advance(id);
    }
    pixels
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values that differ only by rounding span a flat ±10% axis, as one value does.
    #[test]
    fn a_spread_of_rounding_is_drawn_flat() {
        let flat = range([619.07, 619.07 + 1e-12, 619.07 - 1e-12].into_iter());
        assert!((flat.start - 557.163).abs() < 1e-9 && (flat.end - 680.977).abs() < 1e-9);
        assert_eq!(range([1.0, 3.0].into_iter()), 0.9..3.1);
        assert_eq!(range([0.0].into_iter()), -0.1..0.1);
    }

    /// A thick zig-zag with turns of nearly 180° drawn into a PNG stays near its points: the
    /// bitmap backend's own joins drew a spike 40 pixels beyond them.
    #[test]
    fn thick_zigzags_stay_near_their_points() {
        let (w, h) = (200u32, 200u32);
        let mut pixels = vec![255u8; (w * h * 3) as usize];
        {
            let mut backend = GlyphText(BitMapBackend::with_buffer(&mut pixels, (w, h)));
            let zigzag = [
                (90, 100),
                (110, 101),
                (90, 101),
                (110, 102),
                (100, 102),
                (101, 108),
                (100, 100),
                (90, 108),
            ];
            let style = BLACK.stroke_width(2);
            backend.draw_path(zigzag, &style).unwrap();
            backend.present().unwrap();
        }
        let drawn: Vec<(u32, u32)> = (0..w * h)
            .filter(|i| pixels[(*i * 3) as usize] < 128)
            .map(|i| (i % w, i / w))
            .collect();
        assert!(!drawn.is_empty());
        // The points span x 90–110, y 100–108; allow the stroke's width around them.
        assert!(
            drawn
                .iter()
                .all(|&(x, y)| (87..=113).contains(&x) && (97..=111).contains(&y)),
            "{:?}",
            drawn
                .iter()
                .filter(|&&(x, y)| !(87..=113).contains(&x) || !(97..=111).contains(&y))
                .take(5)
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn rank_axes_are_ticked_on_whole_numbers() {
        // plotters' own ticks on 0.8..5.2 were 1.0, 1.2, 1.4, …
        assert_eq!(linear_ticks(0.8, 5.2, 8, true), [1.0, 2.0, 3.0, 4.0, 5.0]);
        // A single rank: one tick, never 0.9, 1.0, 1.1.
        assert_eq!(linear_ticks(0.9, 1.1, 8, true), [1.0]);
        // Many ranks: steps of 1-2-5 × 10^k, at most 8 ticks.
        assert_eq!(
            linear_ticks(0.0, 100.0, 8, true),
            [0.0, 20.0, 40.0, 60.0, 80.0, 100.0]
        );
        assert_eq!(
            linear_ticks(-5.0, 1005.0, 8, true),
            [0.0, 200.0, 400.0, 600.0, 800.0, 1000.0]
        );
    }

    #[test]
    fn linear_ticks_step_by_one_two_or_five() {
        let ticks = linear_ticks(-0.27, 0.93, 8, false);
        assert_eq!(ticks.len(), 6);
        for (t, want) in ticks.iter().zip([-0.2, 0.0, 0.2, 0.4, 0.6, 0.8]) {
            assert!((t - want).abs() < 1e-12, "{ticks:?}");
        }
        for (lo, hi) in [(0.0, 1.0), (3.3, 3.31), (-1e-7, 4e-7), (2.0, 9999.0)] {
            let ticks = linear_ticks(lo, hi, 8, false);
            assert!((2..=8).contains(&ticks.len()), "{lo}..{hi}: {ticks:?}");
            assert!(ticks.iter().all(|t| (lo..=hi).contains(t)), "{ticks:?}");
            let step = ticks[1] - ticks[0];
            let mantissa = step / 10f64.powf(step.log10().floor());
            assert!(
                [1.0, 2.0, 5.0].iter().any(|m| (mantissa - m).abs() < 1e-9),
                "{lo}..{hi}: step {step}"
            );
        }
        assert!(linear_ticks(1.0, 1.0, 8, false).is_empty());
        assert!(linear_ticks(f64::NAN, 1.0, 8, false).is_empty());
    }

    #[test]
    fn log_axes_are_ticked_one_two_five() {
        // plotters' own ticks on a log10 axis over 1..10 were 1.58, 2.51, 3.98, …
        assert_eq!(log_ticks(1.0, 10.0, 8), [1.0, 2.0, 5.0, 10.0]);
        let ticks = log_ticks(0.03, 700.0, 20);
        let want = [
            0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0,
        ];
        assert_eq!(ticks.len(), want.len(), "{ticks:?}");
        for (t, w) in ticks.iter().zip(want) {
            assert!((t / w - 1.0).abs() < 1e-12, "{ticks:?}");
        }
        // Too many for 1-2-5: powers of ten only, then every other one.
        assert_eq!(log_ticks(1.0, 1e5, 8), [1.0, 10.0, 100.0, 1e3, 1e4, 1e5]);
        let wide = log_ticks(1e-12, 1e3, 8);
        assert_eq!(wide.len(), 8, "{wide:?}");
        assert!(
            wide.windows(2).all(|w| (w[1] / w[0] - 100.0).abs() < 1e-9),
            "{wide:?}"
        );
        // Narrower than 1-2-5 can tick: the linear ticks within it.
        let narrow = log_ticks(3.1, 3.9, 8);
        assert_eq!(narrow.len(), 4, "{narrow:?}");
        for (t, w) in narrow.iter().zip([3.2, 3.4, 3.6, 3.8]) {
            assert!((t - w).abs() < 1e-12, "{narrow:?}");
        }
        assert!(log_ticks(0.0, 1.0, 8).is_empty());
    }

    #[test]
    fn tick_labels_are_short() {
        assert_eq!(short_number(2.0000000000000004), "2");
        assert_eq!(short_number(0.30000000000000004), "0.3");
        assert_eq!(short_number(2e-6), "2e-6");
        assert_eq!(short_number(2.5e-6), "2.5e-6");
        assert_eq!(short_number(-5.04e-4), "-5.04e-4");
        assert_eq!(short_number(125_000.0), "1.25e5");
        assert_eq!(short_number(f64::NAN), "NaN");
        assert_eq!(short_number(f64::NEG_INFINITY), "-inf");
        assert_eq!(short_number(0.0), "0");
    }
}
