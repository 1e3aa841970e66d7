//! Live line plots of training figures on a 2-D canvas: losses against steps, one colour per
//! figure, averaged per screen column so that thousands of noisy minibatch values read as
//! a curve. The y range follows the data after the first tenth of training (the first
//! steps' huge losses would flatten everything else), or is fixed (probabilities: 0 to 1).

use wasm_bindgen::JsCast;
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement};

use super::canvas::pixel_ratio;
use super::dom;
use crate::error::{Error, Result};

pub struct Series {
    pub name: String,
    pub color: &'static str,
    pub points: Vec<(f32, f32)>,
    pub dashed: bool,
}

pub struct Plot {
    canvas: HtmlCanvasElement,
    ctx: CanvasRenderingContext2d,
    pub series: Vec<Series>,
    fixed: Option<(f32, f32)>,
    empty_text: String,
    /// Set when something changed since the last draw.
    dirty: bool,
}

/// Points kept per series before pairs of them are merged.
const MAX_POINTS: usize = 8192;
const LEFT: f64 = 48.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 24.0;
const INK: &str = "#5d6470";
const GRID: &str = "#e7e9ee";

/// A round step (1, 2 or 5 times a power of ten) near `span / count`.
fn nice_step(span: f64, count: f64) -> f64 {
    let raw = (span / count).max(1e-12);
    let power = 10f64.powf(raw.log10().floor());
    let unit = raw / power;
    power
        * if unit < 1.5 {
            1.0
        } else if unit < 3.5 {
            2.0
        } else if unit < 7.5 {
            5.0
        } else {
            10.0
        }
}

fn label(v: f64, step: f64) -> String {
    if step >= 1.0 {
        if v.abs() >= 10_000.0 {
            format!("{:.0}k", v / 1000.0)
        } else {
            format!("{v:.0}")
        }
    } else {
        let digits = (-step.log10()).ceil().clamp(0.0, 6.0) as usize;
        format!("{v:.digits$}")
    }
}

impl Plot {
    /// A plot on canvas `id` with one series per `(name, colour)`.
    pub fn new(id: &str, series: &[(&str, &'static str)], fixed: Option<(f32, f32)>) -> Result<Plot> {
        let canvas: HtmlCanvasElement = dom::get(id)?;
        let ctx = canvas
            .get_context("2d")
            .ok()
            .flatten()
            .and_then(|c| c.dyn_into::<CanvasRenderingContext2d>().ok())
            .ok_or_else(|| Error::Invalid(format!("the browser gave #{id} no 2-D context")))?;
        let series = series
            .iter()
            .map(|(n, c)| Series { name: n.to_string(), color: c, points: Vec::new(), dashed: false })
            .collect();
        let mut plot =
            Plot { canvas, ctx, series, fixed, empty_text: "Press Train: the losses appear here.".into(), dirty: true };
        plot.draw();
        Ok(plot)
    }

    /// What an empty plot says.
    pub fn set_empty_text(&mut self, text: &str) {
        self.empty_text = text.to_string();
        self.dirty = true;
    }

    pub fn set_dashed(&mut self, i: usize, dashed: bool) {
        self.series[i].dashed = dashed;
    }

    pub fn clear(&mut self) {
        for s in &mut self.series {
            s.points.clear();
        }
        self.dirty = true;
    }

    pub fn push(&mut self, i: usize, step: u32, value: f32) {
        if value.is_finite() {
            let points = &mut self.series[i].points;
            points.push((step as f32, value));
            // A long run would make every redraw slower: past MAX_POINTS, neighbours are
            // averaged in pairs (the plot shows one averaged value per column anyway).
            if points.len() > MAX_POINTS {
                *points = points
                    .chunks(2)
                    .map(|pair| {
                        let n = pair.len() as f32;
                        (pair.iter().map(|p| p.0).sum::<f32>() / n, pair.iter().map(|p| p.1).sum::<f32>() / n)
                    })
                    .collect();
            }
            self.dirty = true;
        }
    }

    /// Redraws if anything changed (or the canvas was resized).
    pub fn draw_if_changed(&mut self) {
        let css_w = self.canvas.client_width().max(1) as u32 * pixel_ratio() as u32;
        if self.dirty || css_w != self.canvas.width() {
            self.draw();
        }
    }

    pub fn draw(&mut self) {
        self.dirty = false;
        let ratio = pixel_ratio() as f64;
        let css_w = (self.canvas.client_width() as f64).max(200.0);
        let css_h = (self.canvas.client_height() as f64).max(120.0);
        let (bw, bh) = ((css_w * ratio) as u32, (css_h * ratio) as u32);
        if self.canvas.width() != bw || self.canvas.height() != bh {
            self.canvas.set_width(bw);
            self.canvas.set_height(bh);
        }
        let c = &self.ctx;
        let _ = c.set_transform(ratio, 0.0, 0.0, ratio, 0.0, 0.0);
        c.clear_rect(0.0, 0.0, css_w, css_h);
        c.set_font("11px system-ui, sans-serif");

        let all = || self.series.iter().flat_map(|s| s.points.iter());
        let Some(max_step) = all().map(|p| p.0).reduce(f32::max) else {
            c.set_fill_style_str(INK);
            c.set_text_align("center");
            let _ = c.fill_text(&self.empty_text, css_w / 2.0, css_h / 2.0);
            return;
        };
        let x_max = (max_step as f64).max(10.0);
        let skip = (x_max * 0.1) as f32;
        let (mut lo, mut hi) = match self.fixed {
            Some((lo, hi)) => (lo as f64, hi as f64),
            None => {
                let visible = || all().filter(|p| p.0 >= skip || max_step < 20.0).map(|p| p.1 as f64);
                let lo = visible().fold(f64::INFINITY, f64::min);
                let hi = visible().fold(f64::NEG_INFINITY, f64::max);
                if lo.is_finite() {
                    (lo, hi)
                } else {
                    (0.0, 1.0)
                }
            }
        };
        if self.fixed.is_none() {
            let pad = ((hi - lo) * 0.08).max(hi.abs() * 0.02).max(1e-3);
            lo -= pad;
            hi += pad;
            if lo < 0.0 && all().all(|p| p.1 >= 0.0) {
                lo = 0.0;
            }
        }
        let (pw, ph) = (css_w - LEFT - RIGHT, css_h - TOP - BOTTOM);
        let x_of = |s: f64| LEFT + s / x_max * pw;
        let y_of = |v: f64| TOP + (1.0 - (v - lo) / (hi - lo)) * ph;

        // Grid and tick labels.
        c.set_line_width(1.0);
        c.set_stroke_style_str(GRID);
        c.set_fill_style_str(INK);
        let y_step = nice_step(hi - lo, 4.0);
        c.set_text_align("right");
        c.set_text_baseline("middle");
        let mut v = (lo / y_step).ceil() * y_step;
        while v <= hi + 1e-9 {
            let y = y_of(v).round() + 0.5;
            c.begin_path();
            c.move_to(LEFT, y);
            c.line_to(LEFT + pw, y);
            c.stroke();
            let _ = c.fill_text(&label(v, y_step), LEFT - 6.0, y);
            v += y_step;
        }
        let x_step = nice_step(x_max, 5.0).max(1.0);
        c.set_text_align("center");
        c.set_text_baseline("top");
        let mut s = 0.0;
        while s <= x_max + 1e-9 {
            let _ = c.fill_text(&label(s, x_step), x_of(s), TOP + ph + 6.0);
            s += x_step;
        }

        // One averaged value per screen column and series.
        c.save();
        c.begin_path();
        c.rect(LEFT, TOP, pw, ph);
        c.clip();
        c.set_line_width(1.75);
        c.set_line_join("round");
        for series in &self.series {
            if series.points.is_empty() {
                continue;
            }
            let dash = js_sys::Array::new();
            if series.dashed {
                dash.push(&5.0.into());
                dash.push(&4.0.into());
            }
            let _ = c.set_line_dash(&dash);
            c.set_stroke_style_str(series.color);
            c.begin_path();
            let mut column = f64::NAN;
            let (mut sum, mut n, mut first) = (0.0, 0.0, true);
            let flush = |col: f64, sum: f64, n: f64, first: &mut bool| {
                let (x, y) = (col + 0.5, y_of(sum / n));
                if *first {
                    c.move_to(x, y);
                    *first = false;
                } else {
                    c.line_to(x, y);
                }
            };
            for &(step, value) in &series.points {
                let col = x_of(step as f64).floor();
                if col != column && n > 0.0 {
                    flush(column, sum, n, &mut first);
                    sum = 0.0;
                    n = 0.0;
                }
                column = col;
                sum += value as f64;
                n += 1.0;
            }
            if n > 0.0 {
                flush(column, sum, n, &mut first);
            }
            c.stroke();
        }
        c.restore();
        let _ = c.set_line_dash(&js_sys::Array::new());

        // Legend with the latest values, top right.
        c.set_text_align("left");
        c.set_text_baseline("middle");
        let entries: Vec<String> = self
            .series
            .iter()
            .map(|s| match s.points.last() {
                Some(p) => format!("{} {:.3}", s.name, p.1),
                None => s.name.clone(),
            })
            .collect();
        let widths: Vec<f64> = entries.iter().map(|e| c.measure_text(e).map_or(60.0, |m| m.width())).collect();
        let total: f64 = widths.iter().map(|w| w + 26.0).sum();
        let mut x = (LEFT + pw - total).max(LEFT + 4.0);
        let y = TOP + 8.0;
        c.set_fill_style_str("rgba(255,255,255,0.85)");
        c.fill_rect(x - 4.0, y - 8.0, total + 4.0, 16.0);
        for ((series, entry), w) in self.series.iter().zip(&entries).zip(&widths) {
            c.set_fill_style_str(series.color);
            c.fill_rect(x, y - 1.5, 12.0, 3.0);
            c.set_fill_style_str("#1d1f24");
            let _ = c.fill_text(entry, x + 16.0, y);
            x += w + 26.0;
        }
    }
}
