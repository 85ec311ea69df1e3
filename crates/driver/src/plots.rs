//! Line charts rendered with plotters as SVG and PNG; PNG text uses the bundled DejaVu Sans
//! (assets/), so no system font library is needed.

use std::path::{Path, PathBuf};
use std::sync::Once;

use ab_glyph::{point, Font, FontRef, ScaleFont};
use anyhow::{anyhow, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters_backend::text_anchor::{HPos, VPos};
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

/// matplotlib's first colours, for a chart's fixed series.
pub const PALETTE: [RGBColor; 4] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
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
    pub color: RGBColor,
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
    pub series: Vec<Series>,
}

impl Chart {
    /// The drawable points of each series, y as log10 y on a log axis.
    fn points(&self) -> Vec<Vec<(f64, f64)>> {
        let keep =
            |&(x, y): &(f64, f64)| x.is_finite() && y.is_finite() && (!self.log_y || y > 0.0);
        let map = |(x, y): (f64, f64)| (x, if self.log_y { y.log10() } else { y });
        self.series
            .iter()
            .map(|s| s.points.iter().copied().filter(keep).map(map).collect())
            .collect()
    }
}

/// Renders `chart` as `dir/<name>.svg` and `dir/<name>.png`; `None` when it has no point to draw.
pub fn render(chart: &Chart, dir: &Path) -> Result<Option<[PathBuf; 2]>> {
    register_font();
    let points = chart.points();
    if points.iter().all(Vec::is_empty) {
        return Ok(None);
    }
    let size = (900, 560);
    let svg = dir.join(format!("{}.svg", chart.name));
    let png = dir.join(format!("{}.png", chart.name));
    draw(
        SVGBackend::new(&svg, size).into_drawing_area(),
        chart,
        &points,
    )?;
    draw(
        GlyphText(BitMapBackend::new(&png, size)).into_drawing_area(),
        chart,
        &points,
    )?;
    Ok(Some([svg, png]))
}

/// Axis range covering `values` with a 5% margin (±1 around a single value).
fn range(values: impl Iterator<Item = f64>) -> std::ops::Range<f64> {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    let pad = if hi > lo {
        0.05 * (hi - lo)
    } else {
        lo.abs().max(1.0) * 0.1
    };
    lo - pad..hi + pad
}

/// A tick label: three significant digits, scientific beyond [1e-3, 1e5).
fn tick(v: f64) -> String {
    if v == 0.0 || !(1e-3..1e5).contains(&v.abs()) {
        return if v == 0.0 {
            "0".into()
        } else {
            format!("{v:.1e}")
        };
    }
    let decimals = (2 - v.abs().log10().floor() as i32).max(0) as usize;
    let text = format!("{v:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

fn draw<DB>(root: DrawingArea<DB, Shift>, chart: &Chart, points: &[Vec<(f64, f64)>]) -> Result<()>
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow!("drawing {}: {e}", chart.name);
    root.fill(&WHITE).map_err(err)?;
    let all = || points.iter().flatten();
    let (xs, ys) = (range(all().map(|p| p.0)), range(all().map(|p| p.1)));
    // The legend goes in the right-hand corner the lines leave free.
    let right_third = xs.start + (xs.end - xs.start) * 2.0 / 3.0;
    let y_mid = (ys.start + ys.end) / 2.0;
    let (high, low) = all()
        .filter(|p| p.0 >= right_third)
        .fold(
            (0, 0),
            |(h, l), p| if p.1 > y_mid { (h + 1, l) } else { (h, l + 1) },
        );
    let legend = if high > low {
        SeriesLabelPosition::LowerRight
    } else {
        SeriesLabelPosition::UpperRight
    };
    let mut ctx = ChartBuilder::on(&root)
        .caption(&chart.title, ("sans-serif", 24))
        .margin(16)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d(xs, ys)
        .map_err(err)?;
    let log = chart.log_y;
    let y_tick = |v: &f64| if log { tick(10f64.powf(*v)) } else { tick(*v) };
    ctx.configure_mesh()
        .x_desc(chart.x_label.as_str())
        .y_desc(chart.y_label.as_str())
        .label_style(("sans-serif", 15))
        .axis_desc_style(("sans-serif", 17))
        .x_label_formatter(&|v| tick(*v))
        .y_label_formatter(&y_tick)
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(err)?;
    for (series, pts) in chart.series.iter().zip(points) {
        let color = series.color;
        let line = ctx
            .draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))
            .map_err(err)?;
        if let Some(label) = &series.label {
            line.label(label.as_str()).legend(move |(x, y)| {
                PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2))
            });
        }
        if pts.len() <= 60 {
            ctx.draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled())))
                .map_err(err)?;
        }
    }
    if chart.series.iter().any(|s| s.label.is_some()) {
        ctx.configure_series_labels()
            .label_font(("sans-serif", 15))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(legend)
            .draw()
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
