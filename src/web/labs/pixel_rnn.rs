//! The PixelRNN lab: an LSTM that reads a sprite pixel by pixel learns to predict the next
//! pixel's colour; cover part of a held-out monster and it paints the rest, several times
//! over, one pixel at a time as you watch — or paints whole new monsters from nothing.
//!
//! Painting runs on the model's own sampler, which records a few pixels per frame and reads
//! the painted colours back as they arrive; the page turns them into pixels (palette
//! colours, covered pixels shown as a checker) and draws them through the same display
//! pipeline as every other grid.

use std::cell::RefCell;
use std::rc::Rc;

use web_sys::{HtmlCanvasElement, HtmlInputElement, PointerEvent};

use super::{scale_for, show_imported, show_loss, status, Cmd, Core, Ctx, LiveLab, Trained};
use crate::data::device::DeviceDataset;
use crate::error::{Error, Result};
use crate::gpu::Tensor;
use crate::kernels::rng::Stream;
use crate::link::{Lab, Link};
use crate::models::pixel_rnn::{baselines, MaskKind, PixelRnn, PixelRnnConfig, Sampler, UNPAINTED};
use crate::models::{stream, Purpose};
use crate::settings::copy_settings;
use crate::web::canvas::{clear_overlay, GridView, Layout};
use crate::web::dom;
use crate::web::plot::Plot;

const LAB: Lab = Lab::PixelRnn;
/// Held-out sprites offered for completing.
const PICKABLE: usize = 32;
/// Completions of the picked sprite, and new sprites per "Paint new monsters".
const COPIES: usize = 8;
/// The checker that stands for pixels not painted yet.
const COVERED: [[f32; 3]; 2] = [[0.80, 0.82, 0.86], [0.70, 0.72, 0.77]];

/// Which pixels a completion paints.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Cover {
    Mask(MaskKind),
    /// The pixels painted over with the mouse.
    Paint,
}

/// The cover over the picked sprite, shared with the pointer handlers that paint it.
struct CoverState {
    cover: Cover,
    painted: Vec<bool>,
    height: usize,
    width: usize,
    /// CSS pixels per sprite pixel in the picked sprite's view.
    cell: f64,
    overlay: HtmlCanvasElement,
}

impl CoverState {
    /// True where the model paints.
    fn mask(&self) -> Vec<bool> {
        match self.cover {
            Cover::Mask(kind) => kind.mask(self.height, self.width),
            Cover::Paint => self.painted.clone(),
        }
    }

    fn resize(&mut self, height: usize, width: usize, cell: f64) {
        if (self.height, self.width) != (height, width) {
            self.painted = vec![false; height * width];
        }
        (self.height, self.width, self.cell) = (height, width, cell);
    }

    /// Covers (or, with `erase`, uncovers) the pixel under CSS point (x, y).
    fn paint_at(&mut self, x: f64, y: f64, erase: bool) {
        let (col, row) = ((x / self.cell).floor(), (y / self.cell).floor());
        if col < 0.0 || row < 0.0 || col as usize >= self.width || row as usize >= self.height {
            return;
        }
        if self.cover != Cover::Paint {
            // Painting starts from the current mask, so a half can be touched up.
            self.painted = self.mask();
            self.cover = Cover::Paint;
            set_cover_buttons(Cover::Paint);
        }
        self.painted[row as usize * self.width + col as usize] = !erase;
        self.draw();
    }

    /// Shades the covered pixels over the sprite.
    fn draw(&self) {
        let (w, h) = (self.width as f64 * self.cell, self.height as f64 * self.cell);
        let Some(c) = clear_overlay(&self.overlay, w, h) else { return };
        let mask = self.mask();
        for (i, &covered) in mask.iter().enumerate() {
            if !covered {
                continue;
            }
            let (x, y) = ((i % self.width) as f64 * self.cell, (i / self.width) as f64 * self.cell);
            let dark = ((i % self.width) + (i / self.width)).is_multiple_of(2);
            c.set_fill_style_str(if dark { "rgba(40, 42, 54, 0.82)" } else { "rgba(60, 63, 78, 0.82)" });
            c.fill_rect(x, y, self.cell, self.cell);
        }
    }
}

fn set_cover_buttons(cover: Cover) {
    let chosen = match cover {
        Cover::Mask(kind) => kind.name(),
        Cover::Paint => "paint",
    };
    for name in ["bottom-half", "bottom-three-quarters", "right-half", "paint"] {
        if let Ok(b) = dom::by_id(&format!("pixelrnn-cover-{name}")) {
            let _ = b.set_attribute("aria-pressed", if name == chosen { "true" } else { "false" });
        }
    }
}

/// RGB pixels `[B, T, 3]` for tokens `[B, T]` of `height × width` sprites in `palette`;
/// pixels not painted yet as a checker.
fn pixels(palette: &[[u8; 3]], (height, width, _): (usize, usize, usize), tokens: &[u32]) -> Vec<f32> {
    let plane = height * width;
    let mut out = Vec::with_capacity(tokens.len() * 3);
    for (i, &t) in tokens.iter().enumerate() {
        let p = i % plane;
        match palette.get(t as usize) {
            Some(c) if t != UNPAINTED => out.extend(c.iter().map(|&v| v as f32 / 255.0)),
            _ => out.extend_from_slice(&COVERED[((p % width) + (p / width)) % 2]),
        }
    }
    out
}

/// A sampler painting into the output grid.
struct Painting {
    sampler: Sampler,
    what: &'static str,
    /// Pixels per sequence already on screen.
    shown: usize,
    /// Pixels recorded per frame (adapted to the frame budget).
    per_frame: usize,
    started: f64,
    /// For a completion: the sprite's colours and the cover (true = painted by the model).
    completing: Option<(Vec<u8>, Vec<bool>)>,
}

struct Views {
    picker: GridView,
    target: GridView,
    out: GridView,
}

pub struct RnnLab {
    core: Core<PixelRnn>,
    views: Views,
    plot: Plot,
    cover: Rc<RefCell<CoverState>>,
    /// The dataset's palette, which the model paints with.
    palette: Vec<[u8; 3]>,
    /// Bits per pixel of a model that knows only the training set's colour frequencies.
    unigram: f64,
    pick: usize,
    painting: Option<Painting>,
    /// Where the samplers' random numbers come from: a fresh stretch for every painting.
    paint_stream: Stream,
    stale: bool,
}

pub fn start(ctx: Ctx, link: Link) {
    super::launch(make(ctx, link));
}

/// The lab with its views and controls wired, before its first models.
fn make(ctx: Ctx, link: Link) -> Result<RnnLab> {
    let core = Core::new(ctx, link)?;
    let queue = &core.queue;
    type Make = fn() -> Cmd;
    let buttons: [(&str, Make); 2] = [("pixelrnn-complete", || Cmd::Complete), ("pixelrnn-sample", || Cmd::Sample)];
    for (id, cmd) in buttons {
        let q = queue.clone();
        dom::on_id::<web_sys::Event>(id, "click", move |_| q.push(cmd()));
    }
    {
        let q = queue.clone();
        let picker: HtmlCanvasElement = dom::get("pixelrnn-picker")?;
        dom::on::<web_sys::MouseEvent>(picker.as_ref(), "click", move |e| {
            q.push(Cmd::Pick(e.offset_x() as f64, e.offset_y() as f64));
        });
    }
    {
        let slider: HtmlInputElement = dom::get("pixelrnn-temp")?;
        let s = slider.clone();
        dom::on::<web_sys::Event>(slider.as_ref(), "input", move |_| dom::set_text("pixelrnn-temp-value", &s.value()));
        dom::set_text("pixelrnn-temp-value", &core.link.temperature.to_string());
    }
    let cover = Rc::new(RefCell::new(CoverState {
        cover: Cover::Mask(MaskKind::BottomHalf),
        painted: Vec::new(),
        height: 0,
        width: 0,
        cell: 10.0,
        overlay: dom::get("pixelrnn-cover")?,
    }));
    set_cover_buttons(Cover::Mask(MaskKind::BottomHalf));
    for (name, choice) in [
        ("bottom-half", Cover::Mask(MaskKind::BottomHalf)),
        ("bottom-three-quarters", Cover::Mask(MaskKind::BottomThreeQuarters)),
        ("right-half", Cover::Mask(MaskKind::RightHalf)),
        ("paint", Cover::Paint),
    ] {
        let state = cover.clone();
        dom::on_id::<web_sys::Event>(&format!("pixelrnn-cover-{name}"), "click", move |_| {
            let mut s = state.borrow_mut();
            if choice == Cover::Paint && s.cover != Cover::Paint {
                s.painted = vec![false; s.height * s.width];
            }
            s.cover = choice;
            set_cover_buttons(choice);
            s.draw();
        });
    }
    {
        let overlay = cover.borrow().overlay.clone();
        let paint = {
            let state = cover.clone();
            move |e: &PointerEvent| {
                state.borrow_mut().paint_at(
                    e.offset_x() as f64,
                    e.offset_y() as f64,
                    e.shift_key() || e.buttons() & 2 == 2,
                )
            }
        };
        // Any button paints (the secondary one erases).
        dom::on_drag(&overlay, u16::MAX, paint);
        dom::on::<web_sys::MouseEvent>(overlay.as_ref(), "contextmenu", |e| e.prevent_default());
    }
    let views = make_views(&core.ctx)?;
    let mut plot =
        Plot::new("pixelrnn-plot", &[("bits per pixel", "#6d4ad6"), ("colour frequencies only", "#8a909b")], None)?;
    plot.set_dashed(1, true);
    let lab = RnnLab {
        paint_stream: stream(core.link.seed, Purpose::Sampling),
        core,
        views,
        plot,
        cover,
        palette: Vec::new(),
        unigram: 0.0,
        pick: 0,
        painting: None,
        stale: true,
    };
    Ok(lab)
}

fn make_views(ctx: &Ctx) -> Result<Views> {
    let d = &ctx.display;
    Ok(Views {
        picker: GridView::for_id(d, "pixelrnn-picker")?,
        target: GridView::for_id(d, "pixelrnn-target")?,
        out: GridView::for_id(d, "pixelrnn-out")?,
    })
}

impl LiveLab for RnnLab {
    type Model = PixelRnn;
    const LAB: Lab = LAB;
    /// Made with `genlab train pixelrnn` (see www/pretrained/README.md).
    const PRETRAINED: &'static [&'static str] = &["pixelrnn-sprites.safetensors"];
    const STARTS_AGAIN: &'static str = "the PixelRNN starts again from step 0.";
    const UNCHANGED: &'static str = "the PixelRNN is unchanged";
    /// They show held-out sprites and paintings.
    const VIEWS_FOLLOW_TRAINING: bool = false;

    crate::field_accessors!(core, core_mut: Core<PixelRnn>);

    fn stale(&mut self) {
        self.stale = true;
    }

    fn remake_views(&mut self) -> Result<()> {
        self.views = make_views(&self.core.ctx)?;
        self.painting = None;
        self.stale = true;
        Ok(())
    }

    fn remake(&mut self) -> Result<()> {
        self.core.models = None;
        self.painting = None;
        self.plot.clear();
        self.paint_stream = stream(self.core.link.seed, Purpose::Sampling);
        self.stale = true;
        let gpu = &self.core.ctx.gpu;
        let dataset = self.core.dataset()?;
        let palette = dataset.palette.clone().ok_or_else(|| {
            Error::Invalid("the PixelRNN paints with palette colours: use the sprites or a sprite sheet".into())
        })?;
        let device = DeviceDataset::upload(gpu, &dataset)?;
        if self.core.link.rnn.batch > device.train.count {
            self.core.link.rnn.batch = device.train.count;
        }
        let rnn = PixelRnn::for_dataset(gpu, self.config(), &dataset)?;
        let unigram = baselines(&dataset, 500)?.unigram_bits_per_pixel;
        let heldout = dataset.heldout();
        if self.pick >= heldout.count {
            self.pick = 0;
        }
        let cell = scale_for(dataset.height, 160) as f64;
        self.cover.borrow_mut().resize(dataset.height, dataset.width, cell);
        dom::set_text(
            "pixelrnn-baselines",
            &format!(
                "Knowing nothing costs log₂ {} = {:.2} bits per pixel; knowing only how often each colour \
                 occurs, {:.2}. Anything lower is the LSTM reading the picture.",
                palette.len(),
                (palette.len() as f64).log2(),
                unigram
            ),
        );
        self.palette = palette;
        self.unigram = unigram;
        self.core.models = Some(Trained::new(device, heldout, vec![rnn]));
        Ok(())
    }

    fn collect_figures(&mut self, show: bool) -> Result<()> {
        let Some(models) = self.core.models.as_mut() else { return Ok(()) };
        let (plot, unigram) = (&mut self.plot, self.unigram as f32);
        models.collect(|_, _, record, step| {
            plot.push(0, step, record.figure("bits_per_pixel"));
            plot.push(1, step, unigram);
        })?;
        if show {
            self.plot.draw_if_changed();
            if let Some((record, step)) = models.latest() {
                show_loss(LAB, record.figure("bits_per_pixel"), step);
            }
        }
        Ok(())
    }

    /// The picker and the picked sprite when they changed (training never changes them, so
    /// they need no pacing), and the painting's next pixels.
    async fn redraw(&mut self) -> Result<()> {
        if self.stale {
            self.stale = false;
            self.refresh()?;
        }
        self.paint_frame()
    }

    fn shown(&mut self) {
        self.stale = true;
        self.plot.draw();
    }

    fn edited(&mut self, key: &str) -> bool {
        if key == "temp" {
            // Sampling only: the model stays as it is.
            dom::set_text("pixelrnn-temp-value", &self.core.link.temperature.to_string());
            self.core.ctx.publish(&self.current_link());
            return false;
        }
        true
    }

    /// A new learning rate applies from the next step: the model trains on.
    fn retune(&mut self, key: &str) -> Option<String> {
        if key != "lr" {
            return None;
        }
        let lr = self.core.link.rnn.learning_rate;
        self.core.models.as_mut()?.nets[0].set_learning_rate(lr).ok()?;
        Some(format!("Learning rate {lr} from the next step on."))
    }

    fn sheet_summary(&self) -> Option<String> {
        let m = self.core.models.as_ref()?;
        let tiles = m.device.train.count + m.device.heldout.count;
        Some(format!("{tiles} tiles of {}×{} in {} colours.", m.device.height, m.device.width, self.palette.len()))
    }

    fn import(&mut self, bytes: &[u8]) -> Result<String> {
        let Some(m) = self.core.models.as_mut() else {
            return Err(Error::Invalid("make a dataset first: the model must fit its sprites".into()));
        };
        let link = &mut self.core.link;
        let (rnn, header) = m.load(&self.core.ctx.gpu, bytes)?;
        let cfg = &header.config;
        copy_settings(cfg, &mut link.rnn);
        link.rnn.batch = cfg.batch.min(m.device.train.count);
        link.seed = cfg.seed;
        m.adopt(0, rnn, header.steps);
        self.painting = None;
        self.plot.clear();
        Ok(show_imported(self, "a PixelRNN", &header))
    }

    fn pretrained_loaded(&mut self, steps: u32) {
        self.plot.set_empty_text("This model was trained elsewhere: press Train and its loss appears here.");
        self.plot.draw();
        status(
            LAB,
            &format!(
                "Loaded a PixelRNN trained {steps} steps on sprites. Pick a sprite, cover part of it and \
                 press Complete, or press Sample."
            ),
            false,
        );
    }

    async fn apply_own(&mut self, cmd: Cmd) -> Result<()> {
        match cmd {
            Cmd::Export(_) => self.core.export(0, "pixelrnn", "the PixelRNN").await?,
            Cmd::Pick(x, y) => {
                if let Some(cell) = self.views.picker.layout_of().and_then(|l| l.cell_at(x, y)) {
                    self.pick = cell;
                    self.stale = true;
                }
            }
            Cmd::Complete => self.start_painting(true)?,
            Cmd::Sample => self.start_painting(false)?,
            // The other labs' controls: none here.
            _ => {}
        }
        Ok(())
    }

    fn frame_failed(&mut self) {
        self.painting = None;
    }
}

impl RnnLab {
    fn config(&self) -> PixelRnnConfig {
        self.core.link.rnn_config()
    }

    /// Starts painting: completions of the picked sprite under the cover, or new sprites.
    fn start_painting(&mut self, complete: bool) -> Result<()> {
        let Some(m) = &self.core.models else { return Ok(()) };
        let gpu = &self.core.ctx.gpu;
        let seq = m.device.height * m.device.width;
        let temperature = self.core.link.temperature;
        let stream = self.paint_stream.take(COPIES * seq);
        let (sampler, what, completing) = if complete {
            let mask = self.cover.borrow().mask();
            if !mask.iter().any(|&p| p) {
                status(LAB, "Nothing is covered: pick a cover, or paint over the sprite with the mouse.", true);
                return Ok(());
            }
            let sprite = m.heldout.image_indices(self.pick).ok_or_else(|| {
                Error::Invalid(format!("held-out sprite {} has no palette indices to complete", self.pick))
            })?;
            let sampler = m.nets[0].completer(gpu, sprite, &mask, COPIES, temperature, stream)?;
            (sampler, "completions", Some((sprite.to_vec(), mask)))
        } else {
            (m.nets[0].sampler(gpu, COPIES, temperature, stream)?, "new monsters", None)
        };
        status(LAB, &format!("Painting {COPIES} {what}, pixel by pixel…"), false);
        self.painting = Some(Painting { sampler, what, shown: 0, per_frame: 2, started: dom::now(), completing });
        if let Ok(lab) = dom::by_id("lab-pixelrnn") {
            let _ = lab.set_attribute("data-painted", "0");
        }
        Ok(())
    }

    /// Records the next few pixels and shows whatever has arrived.
    fn paint_frame(&mut self) -> Result<()> {
        let (Some(p), Some(m)) = (self.painting.as_mut(), self.core.models.as_ref()) else { return Ok(()) };
        let gpu = &self.core.ctx.gpu;
        let seq = m.device.height * m.device.width;
        if let Some((position, tokens)) = p.sampler.latest()? {
            if position > p.shown {
                p.shown = position;
                let rgb = pixels(&self.palette, m.geometry(), tokens);
                // What the page tests read once the last pixel is in: the colours of the first
                // copy, and for a completion the sprite and its cover, to check that the
                // uncovered pixels came through untouched.
                let join = |v: &mut dyn Iterator<Item = u32>| v.map(|t| t.to_string()).collect::<Vec<_>>().join(",");
                let first_copy = (position >= seq).then(|| join(&mut tokens[..seq].iter().copied()));
                let images = Tensor::from_slice(gpu, [p.sampler.batch(), m.device.height, m.device.width, 3], &rgb)?;
                let (h, w, _) = m.geometry();
                let mut layout = Layout::new(p.sampler.batch(), (h, w, 3), COPIES, scale_for(h, 64));
                layout.gap = 4;
                self.views.out.draw(&images, layout, 0)?;
                dom::show("pixelrnn-out", true);
                dom::show("pixelrnn-out-hint", false);
                dom::set_text("pixelrnn-progress", &format!("{position} / {seq} pixels"));
                if let Ok(lab) = dom::by_id("lab-pixelrnn") {
                    let _ = lab.set_attribute("data-painted", &position.to_string());
                    if let Some(first_copy) = &first_copy {
                        let _ = lab.set_attribute("data-first-copy", first_copy);
                        if let Some((sprite, mask)) = &p.completing {
                            let _ = lab.set_attribute("data-sprite", &join(&mut sprite.iter().map(|&t| t as u32)));
                            let _ = lab.set_attribute("data-cover", &join(&mut mask.iter().map(|&c| c as u32)));
                        }
                    }
                }
            }
        }
        if p.shown >= seq {
            let seconds = (dom::now() - p.started) / 1000.0;
            status(LAB, &format!("Painted {COPIES} {} in {seconds:.1} s.", p.what), false);
            self.painting = None;
            return Ok(());
        }
        // Record more only while the GPU keeps up: at most two frames' worth in flight.
        if !p.sampler.is_done() && p.sampler.position() <= p.shown + 2 * p.per_frame {
            let started = dom::now();
            p.sampler.advance(gpu, p.per_frame)?;
            let spent = dom::now() - started;
            p.per_frame = if spent < 3.0 {
                (p.per_frame * 2).min(64)
            } else if spent > 8.0 {
                (p.per_frame / 2).max(1)
            } else {
                p.per_frame
            };
        }
        Ok(())
    }

    /// Redraws the picker and the picked sprite under its cover.
    fn refresh(&mut self) -> Result<()> {
        let Some(m) = &self.core.models else { return Ok(()) };
        let geometry = m.geometry();
        let (h, w, _) = geometry;
        let count = m.heldout.count.min(PICKABLE);
        let scale = scale_for(h, 32);
        let mut layout = Layout::new(count, geometry, (560 / (w * scale + 3)).clamp(1, count), scale);
        layout.gap = 3;
        layout.ring_a = Some(self.pick);
        self.views.picker.draw(&m.device.heldout.rows, layout, 0)?;
        let cell = scale_for(h, 160);
        self.views.target.draw(
            &m.device.heldout.rows,
            Layout { gap: 0, ..Layout::new(1, geometry, 1, cell) },
            self.pick,
        )?;
        let mut cover = self.cover.borrow_mut();
        cover.resize(h, w, cell as f64);
        cover.draw();
        Ok(())
    }
}
