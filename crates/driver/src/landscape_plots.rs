//! Figures of a loss-landscape slice: along a line, the loss with its quadratic model dashed
//! beside it over the accuracy; over a plane, heat maps of the loss, the quadratic model (on the
//! loss's colour scale) and the accuracy, each with its colour bar. Drawn on any plotters
//! backend, so one figure becomes a PNG, an SVG file or an SVG string an HTML report inlines.
//! Legends sit in a strip above the axes and colour bars beside them, never over data; where
//! the quadratic model leaves the loss's axis or colour scale, the figure says so in words.

use std::ops::Range;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, ensure, Result};
use curvscope_model::files::write_atomic;
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::colors::colormaps::ViridisRGB;

use crate::plots::{png_bytes, register_font, short_number, PALETTE};

/// A slice to draw: values at the points of the grid spanned by `axes`, the first axis varying
/// slowest (the order of `curvscope_metrics::grid_points` and of landscape.csv).
pub struct SliceFigure {
    pub title: String,
    /// The title of each axis, one per direction.
    pub axis_labels: Vec<String>,
    /// The coordinates along each direction (one axis: a line; two: a plane).
    pub axes: Vec<Vec<f64>>,
    /// L at each grid point.
    pub loss: Vec<f64>,
    /// The quadratic model L(θ) + gᵀδ + ½δᵀHδ at each grid point.
    pub model: Vec<f64>,
    /// The accuracy at each grid point, for classifiers.
    pub accuracy: Option<Vec<f64>>,
    /// Points to mark: θ at the origin, and the second checkpoint of a line between two.
    pub marks: Vec<Vec<f64>>,
}

const FONT: &str = "sans-serif";
const LOSS_COLOR: RGBColor = PALETTE[0];
const MODEL_COLOR: RGBColor = PALETTE[1];
const ACCURACY_COLOR: RGBColor = PALETTE[2];

impl SliceFigure {
    /// Pixel size: a line is one column of panels, a plane one row of square heat maps.
    pub fn size(&self) -> (u32, u32) {
        match self.axes.len() {
            1 => (900, 620),
            _ => (470 * self.panels().len() as u32, 500),
        }
    }

    /// The heat maps of a plane: (caption, values, colour range).
    fn panels(&self) -> Vec<(&'static str, &[f64], Range<f64>)> {
        let loss_range = finite_range(&self.loss);
        let mut panels = vec![
            ("loss", &self.loss[..], loss_range.clone()),
            ("quadratic model", &self.model[..], loss_range),
        ];
        if let Some(accuracy) = &self.accuracy {
            panels.push(("accuracy", &accuracy[..], finite_range(accuracy)));
        }
        panels
    }

    /// Draws the figure on `root`.
    pub fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        register_font();
        let points: usize = self.axes.iter().map(Vec::len).product();
        ensure!(
            matches!(self.axes.len(), 1 | 2)
                && self.loss.len() == points
                && self.model.len() == points,
            "a slice figure needs one or two axes and one value per grid point"
        );
        root.fill(&WHITE).map_err(drawing)?;
        let body = root.titled(&self.title, (FONT, 22)).map_err(drawing)?;
        match self.axes.len() {
            1 => self.draw_line(&body),
            _ => self.draw_plane(&body),
        }?;
        root.present().map_err(drawing)
    }

    /// The figure as an SVG document.
    pub fn svg(&self) -> Result<String> {
        let mut svg = String::new();
        self.draw(&SVGBackend::with_string(&mut svg, self.size()).into_drawing_area())?;
        Ok(svg)
    }

    /// Writes `dir/<name>.svg` and `dir/<name>.png`.
    pub fn write(&self, dir: &Path, name: &str) -> Result<[PathBuf; 2]> {
        let (svg, png) = (
            dir.join(format!("{name}.svg")),
            dir.join(format!("{name}.png")),
        );
        write_atomic(&svg, self.svg()?.as_bytes())?;
        write_atomic(&png, &png_bytes(self.size(), |area| self.draw(&area))?)?;
        Ok([svg, png])
    }

    /// Loss and model over the coordinate, accuracy below; the legend in a strip on top.
    fn draw_line<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        let (legend, plots) = area.split_vertically(36);
        let y = padded(finite_range(&self.loss));
        let mut model = "quadratic model L + gᵀδ + ½δᵀHδ".to_string();
        if let Some(off) = model_outside(&self.model, &y, "off the axes") {
            model = format!("{model}: {off}");
        }
        draw_legend(
            &legend,
            &[
                ("loss L(θ + cd)", LOSS_COLOR, false),
                (&model, MODEL_COLOR, true),
            ],
        )?;
        let x = &self.axes[0];
        let (top, bottom) = match &self.accuracy {
            Some(_) => {
                let (top, bottom) = plots.split_vertically(plots.dim_in_pixel().1 * 3 / 5);
                (top, Some(bottom))
            }
            None => (plots, None),
        };
        let top_desc = match bottom {
            Some(_) => "",
            None => self.axis_labels[0].as_str(),
        };
        let mut chart = line_chart(&top, x, y.clone(), top_desc, "loss")?;
        self.draw_marks_1d(&mut chart, &y)?;
        for run in runs_within(x, &self.model, &y) {
            chart
                .draw_series(DashedLineSeries::new(
                    run,
                    8,
                    5,
                    MODEL_COLOR.stroke_width(2),
                ))
                .map_err(drawing)?;
        }
        draw_curve(&mut chart, x, &self.loss, LOSS_COLOR)?;
        if let (Some(bottom), Some(accuracy)) = (bottom, &self.accuracy) {
            let y = padded(finite_range(accuracy));
            let mut chart = line_chart(&bottom, x, y.clone(), &self.axis_labels[0], "accuracy")?;
            self.draw_marks_1d(&mut chart, &y)?;
            draw_curve(&mut chart, x, accuracy, ACCURACY_COLOR)?;
        }
        Ok(())
    }

    /// Thin grey vertical lines at the marked coordinates.
    fn draw_marks_1d<DB: DrawingBackend>(
        &self,
        chart: &mut ChartContext<DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
        y: &Range<f64>,
    ) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        for mark in &self.marks {
            chart
                .draw_series(LineSeries::new(
                    [(mark[0], y.start), (mark[0], y.end)],
                    BLACK.mix(0.3).stroke_width(1),
                ))
                .map_err(drawing)?;
        }
        Ok(())
    }

    /// One heat map per panel, side by side; below them, a line saying where the quadratic
    /// model lies beyond the loss's colour scale (its panel shows it at the scale's ends).
    fn draw_plane<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        let panels = self.panels();
        let outside = "beyond the loss's colour scale (drawn in its end colours)";
        let note = model_outside(&self.model, &panels[1].2, outside);
        let area = match note {
            Some(note) => {
                let (panels, footer) = area.split_vertically(area.dim_in_pixel().1 - 24);
                let text = format!("quadratic model: {note}");
                footer
                    .draw(&Text::new(text, (20, 2), (FONT, 14)))
                    .map_err(drawing)?;
                panels
            }
            None => area.clone(),
        };
        for ((caption, values, range), area) in
            panels.iter().zip(area.split_evenly((1, panels.len())))
        {
            let (map, bar) = area.split_horizontally(area.dim_in_pixel().0 - 85);
            self.draw_heat_map(&map, caption, values, range)?;
            draw_color_bar(&bar, range)?;
        }
        Ok(())
    }

    fn draw_heat_map<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        caption: &str,
        values: &[f64],
        range: &Range<f64>,
    ) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        let (a, b) = (&self.axes[0], &self.axes[1]);
        let (half_a, half_b) = (half_step(a), half_step(b));
        let (x, y) = (
            a[0] - half_a..a[a.len() - 1] + half_a,
            b[0] - half_b..b[b.len() - 1] + half_b,
        );
        let mut chart = ChartBuilder::on(area)
            .caption(caption, (FONT, 18))
            .margin(8)
            .x_label_area_size(45)
            .y_label_area_size(55)
            .build_cartesian_2d(x.clone(), y.clone())
            .map_err(drawing)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc(self.axis_labels[0].as_str())
            .y_desc(self.axis_labels[1].as_str())
            .label_style((FONT, 13))
            .x_label_formatter(&ticks(&x))
            .y_label_formatter(&ticks(&y))
            .axis_desc_style((FONT, 14))
            .draw()
            .map_err(drawing)?;
        let cells = a
            .iter()
            .flat_map(|&x| b.iter().map(move |&y| (x, y)))
            .zip(values)
            .map(|((x, y), &v)| {
                let color = if v.is_finite() {
                    color_of(v, range).filled()
                } else {
                    RGBColor(200, 200, 200).filled()
                };
                Rectangle::new([(x - half_a, y - half_b), (x + half_a, y + half_b)], color)
            });
        chart.draw_series(cells).map_err(drawing)?;
        let marks = self.marks.iter().map(|m| (m[0], m[1]));
        chart
            .draw_series(
                marks
                    .clone()
                    .map(|p| Cross::new(p, 7, WHITE.stroke_width(4))),
            )
            .map_err(drawing)?;
        chart
            .draw_series(marks.map(|p| Cross::new(p, 6, BLACK.stroke_width(2))))
            .map_err(drawing)?;
        Ok(())
    }
}

/// A plotters error as an anyhow error.
fn drawing<E: std::error::Error + Send + Sync + 'static>(
    e: DrawingAreaErrorKind<E>,
) -> anyhow::Error {
    anyhow!("drawing a landscape figure: {e}")
}

/// The tick labels of an axis over `range`. Plotters places ticks at 1-2-5 multiples of a power
/// of ten but computes them in floating point (−1e-17 for 0, 0.30000000000000004), so each is
/// written to a thousandth of the range's power of ten (|v| below half of that is 0), in the
/// form of [`short_number`]: plain within [1e-3, 1e5), scientific beyond (1e23, not 24 digits
/// that run into the next panel; 1e6, not 1000000 cut at the figure's edge). More digits than
/// short_number's three where the range needs them: ticks 2.3022 and 2.3024 stay apart.
fn ticks(range: &Range<f64>) -> impl Fn(&f64) -> String {
    let quantum = (range.end - range.start).log10().floor() - 3.0;
    move |&v| {
        if !v.is_finite() || !quantum.is_finite() {
            return short_number(v);
        }
        if v.abs() < 10f64.powf(quantum) / 2.0 {
            return "0".into();
        }
        // At most the 15 significant digits an f64 holds.
        let magnitude = v.abs().log10().floor();
        let digits = |after_point: f64, most: f64| after_point.clamp(0.0, most) as usize;
        let trimmed = |m: &str| match m.contains('.') {
            true => m.trim_end_matches('0').trim_end_matches('.').to_string(),
            false => m.to_string(),
        };
        if (1e-3..1e5).contains(&v.abs()) {
            let decimals = digits(-quantum, 14.0 - magnitude.max(0.0));
            return trimmed(&format!("{v:.decimals$}"));
        }
        let text = format!("{v:.*e}", digits(magnitude - quantum, 14.0));
        let (mantissa, exponent) = text.split_once('e').expect("{:e} writes an exponent");
        format!("{}e{exponent}", trimmed(mantissa))
    }
}

/// [min, max] of the finite values ([0, 1] when there are none; widened when flat).
fn finite_range(values: &[f64]) -> Range<f64> {
    let (lo, hi) = values
        .iter()
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    if lo > hi {
        0.0..1.0
    } else if lo == hi {
        let pad = lo.abs().max(1.0) * 1e-3;
        lo - pad..hi + pad
    } else {
        lo..hi
    }
}

/// `range` with a 5% margin on both sides.
fn padded(range: Range<f64>) -> Range<f64> {
    let pad = 0.05 * (range.end - range.start);
    range.start - pad..range.end + pad
}

/// Half the spacing of an evenly spaced axis (the half-width of a heat-map cell).
fn half_step(axis: &[f64]) -> f64 {
    if axis.len() > 1 {
        (axis[axis.len() - 1] - axis[0]) / (axis.len() - 1) as f64 / 2.0
    } else {
        0.5
    }
}

/// Viridis colour of `v` within `range` (clamped to its ends).
fn color_of(v: f64, range: &Range<f64>) -> RGBColor {
    ViridisRGB::get_color_normalized(v.clamp(range.start, range.end), range.start, range.end)
}

/// The axes of one panel of a line figure (x over the whole axis, integer/1-2-5 ticks).
fn line_chart<'a, DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    x: &[f64],
    y: Range<f64>,
    x_desc: &str,
    y_desc: &str,
) -> Result<ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>>
where
    DB::ErrorType: 'static,
{
    let x = x[0]..x[x.len() - 1];
    let mut chart = ChartBuilder::on(area)
        .margin(12)
        .x_label_area_size(if x_desc.is_empty() { 30 } else { 50 })
        .y_label_area_size(70)
        .build_cartesian_2d(x.clone(), y.clone())
        .map_err(drawing)?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .label_style((FONT, 14))
        .x_label_formatter(&ticks(&x))
        .y_label_formatter(&ticks(&y))
        .axis_desc_style((FONT, 16))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(drawing)?;
    Ok(chart)
}

/// A solid curve through the finite points, with markers when there are few.
fn draw_curve<DB: DrawingBackend>(
    chart: &mut ChartContext<DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    x: &[f64],
    y: &[f64],
    color: RGBColor,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let finite = || {
        x.iter()
            .copied()
            .zip(y.iter().copied())
            .filter(|p| p.1.is_finite())
    };
    chart
        .draw_series(LineSeries::new(finite(), color.stroke_width(2)))
        .map_err(drawing)?;
    if x.len() <= 60 {
        chart
            .draw_series(finite().map(|p| Circle::new(p, 3, color.filled())))
            .map_err(drawing)?;
    }
    Ok(())
}

/// Where the quadratic model `model` lies outside `range` (a line's loss axis, where it is not
/// drawn; a plane's colour scale, where it saturates), for a note in the figure: "4 of 5
/// points off the axes; values from 1.33 to 2.31e11"; `None` where it lies within.
fn model_outside(model: &[f64], range: &Range<f64>, outside: &str) -> Option<String> {
    let off = model.iter().filter(|v| !within(range, **v)).count();
    if off == 0 {
        return None;
    }
    let (lo, hi) = model
        .iter()
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    let span = match lo <= hi {
        true => format!("; values from {} to {}", short_number(lo), short_number(hi)),
        false => String::new(),
    };
    Some(format!("{off} of {} points {outside}{span}", model.len()))
}

/// Whether `v` lies in `range`, its ends included.
fn within(range: &Range<f64>, v: f64) -> bool {
    (range.start..=range.end).contains(&v)
}

/// The maximal runs of consecutive points whose y lies in `range`: a model that leaves the
/// axes is cut at their edge instead of drawn across the legend or the title.
fn runs_within(x: &[f64], y: &[f64], range: &Range<f64>) -> Vec<Vec<(f64, f64)>> {
    let mut runs: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
    for (&x, &y) in x.iter().zip(y) {
        if within(range, y) {
            runs.last_mut().expect("never empty").push((x, y));
        } else if !runs.last().expect("never empty").is_empty() {
            runs.push(Vec::new());
        }
    }
    runs.retain(|r| !r.is_empty());
    runs
}

/// A row of legend entries (a solid or dashed line sample and its text) in `area`.
fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[(&str, RGBColor, bool)],
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let y = area.dim_in_pixel().1 as i32 / 2;
    let mut x = 80;
    for &(label, color, dashed) in entries {
        let style = color.stroke_width(2);
        if dashed {
            area.draw(&PathElement::new([(x, y), (x + 8, y)], style))
                .map_err(drawing)?;
            area.draw(&PathElement::new([(x + 13, y), (x + 21, y)], style))
                .map_err(drawing)?;
            area.draw(&PathElement::new([(x + 26, y), (x + 32, y)], style))
                .map_err(drawing)?;
        } else {
            area.draw(&PathElement::new([(x, y), (x + 32, y)], style))
                .map_err(drawing)?;
        }
        let text = Text::new(label, (x + 40, y - 8), (FONT, 15));
        area.draw(&text).map_err(drawing)?;
        let (width, _) = area
            .estimate_text_size(label, &(FONT, 15).into_text_style(area))
            .map_err(drawing)?;
        x += 40 + width as i32 + 36;
    }
    Ok(())
}

/// A vertical colour bar of `range` with its ticks.
fn draw_color_bar<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    range: &Range<f64>,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let mut chart = ChartBuilder::on(area)
        .margin_top(40)
        .margin_bottom(53)
        .margin_left(4)
        .set_label_area_size(LabelAreaPosition::Right, 60)
        .build_cartesian_2d(0.0..1.0, range.clone())
        .map_err(drawing)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .label_style((FONT, 12))
        .y_label_formatter(&ticks(range))
        .draw()
        .map_err(drawing)?;
    let steps = 100;
    let height = (range.end - range.start) / steps as f64;
    chart
        .draw_series((0..steps).map(|i| {
            let lo = range.start + height * i as f64;
            Rectangle::new(
                [(0.0, lo), (1.0, lo + height)],
                color_of(lo + height / 2.0, range).filled(),
            )
        }))
        .map_err(drawing)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_read_as_written() {
        let labels = |range: Range<f64>, values: &[f64]| -> Vec<String> {
            values.iter().map(ticks(&range)).collect()
        };
        let unit = [-1e-17, 0.30000000000000004, 2.0, -0.5, 1e-3];
        assert_eq!(labels(-1.0..2.0, &unit), ["0", "0.3", "2", "-0.5", "0.001"]);
        // Large values in short scientific form, with the digits the range needs.
        let large = [
            1.0000000000000001e23,
            1.5000000000000002e23,
            5.0000000000000004e22,
        ];
        assert_eq!(labels(1e22..2e23, &large), ["1e23", "1.5e23", "5e22"]);
        let span = [-1e6, -5e5, 7e-11, 1e6];
        assert_eq!(labels(-1e6..1e6, &span), ["-1e6", "-5e5", "0", "1e6"]);
        assert_eq!(labels(1e5..1.0005e5, &[100_020.0]), ["1.0002e5"]);
        // A narrow range near a large loss keeps its ticks apart.
        let flat = [2.3022000000000005, 2.3024];
        assert_eq!(labels(2.3021..2.3029, &flat), ["2.3022", "2.3024"]);
        assert_eq!(labels(0.0..2e-6, &[5e-7, 1.5e-6]), ["5e-7", "1.5e-6"]);
    }

    #[test]
    fn a_model_leaving_the_axes_is_cut_into_runs_inside_them() {
        let x = [0.0, 1.0, 2.0, 3.0, 4.0];
        let runs = runs_within(&x, &[0.5, 9.0, 0.2, 0.3, -5.0], &(0.0..1.0));
        assert_eq!(runs, [vec![(0.0, 0.5)], vec![(2.0, 0.2), (3.0, 0.3)]]);
    }

    /// A plane and a line each render to an SVG of the stated size with every panel's text.
    #[test]
    fn slices_render_to_svg_strings() {
        let axis = vec![-1.0, 0.0, 1.0];
        let plane = SliceFigure {
            title: "plane".into(),
            axis_labels: vec!["a".into(), "b".into()],
            axes: vec![axis.clone(), axis.clone()],
            loss: (0..9).map(f64::from).collect(),
            model: (0..9).map(|i| f64::from(i) * 2.0).collect(),
            accuracy: Some(vec![0.5; 9]),
            marks: vec![vec![0.0, 0.0]],
        };
        let svg = plane.svg().unwrap();
        assert_eq!(plane.size(), (1410, 500));
        assert!(svg.contains(r#"width="1410""#), "{}", &svg[..200]);
        for text in ["plane", "loss", "quadratic model", "accuracy"] {
            assert!(
                svg.contains(&format!(">{text}<")) || svg.contains(text),
                "{text}"
            );
        }
        let line = SliceFigure {
            title: "line".into(),
            axis_labels: vec!["t".into()],
            axes: vec![axis],
            loss: vec![1.0, 0.5, 1.0],
            model: vec![f64::NAN, 0.5, 100.0],
            accuracy: None,
            marks: vec![vec![0.0]],
        };
        assert!(line
            .svg()
            .unwrap()
            .contains("quadratic model L + gᵀδ + ½δᵀHδ"));
        let mismatched = SliceFigure {
            loss: vec![1.0],
            ..line
        };
        assert!(mismatched.svg().is_err());
    }

    /// The texts of an SVG document, trimmed, the empty ones left out.
    fn texts(svg: &str) -> Vec<String> {
        svg.split("</text>")
            .filter_map(|t| t.rsplit_once('>'))
            .map(|(_, text)| text.trim().to_string())
            .filter(|text| !text.is_empty())
            .collect()
    }

    /// Losses of 1e23 over coordinates of ±1e6 are ticked in short scientific form, and a
    /// quadratic model far from them is said to lie off the axes or beyond the colour scale.
    #[test]
    fn large_values_are_ticked_short_and_a_model_out_of_sight_is_noted() {
        let axis = vec![-1e6, 0.0, 1e6];
        let plane = SliceFigure {
            title: "plane".into(),
            axis_labels: vec!["a".into(), "b".into()],
            axes: vec![axis.clone(), axis.clone()],
            loss: (1..=9).map(|i| f64::from(i) * 2e22).collect(),
            model: (0..9).map(|i| f64::from(i) * 1e10 - 4e10).collect(),
            accuracy: None,
            marks: vec![vec![0.0, 0.0]],
        };
        let texts_of = |figure: &SliceFigure| texts(&figure.svg().unwrap());
        let words = texts_of(&plane);
        for tick in ["-1e6", "0", "1e6", "1e23", "1.2e23"] {
            assert!(words.iter().any(|t| t == tick), "{tick}: {words:?}");
        }
        assert!(
            words.iter().all(|t| t.len() < 12 || t.contains(' ')),
            "{words:?}"
        );
        let note = "quadratic model: 9 of 9 points beyond the loss";
        assert!(words.iter().any(|t| t.starts_with(note)), "{words:?}");
        assert!(words
            .iter()
            .any(|t| t.ends_with("values from -4e10 to 4e10")));
        let line = SliceFigure {
            title: "line".into(),
            axis_labels: vec!["t".into()],
            axes: vec![axis],
            loss: vec![1e6, 1.0, 1e6],
            model: vec![1e11, 1.0, f64::NAN],
            accuracy: None,
            marks: vec![vec![0.0]],
        };
        let words = texts_of(&line);
        assert!(words.iter().any(|t| t == "1e6") && words.iter().any(|t| t == "-1e6"));
        let note = "ᵀHδ: 2 of 3 points off the axes; values from 1 to 1e11";
        assert!(words.iter().any(|t| t.ends_with(note)), "{words:?}");
        // Within the loss's range, nothing to note.
        let near = SliceFigure {
            model: line.loss.clone(),
            ..line
        };
        assert!(!texts_of(&near).iter().any(|t| t.contains("points")));
    }
}
