//! The VAE lab: the lecture's point about the space between codes, live.
//!
//! Two held-out images (a full moon and a crescent by default) are encoded, the segment
//! between their codes is decoded, and the strip redraws while the models train. With the
//! comparison on, a plain autoencoder (no noise, no KL) trains on the same minibatches next
//! to the VAE, so the two strips show side by side what the KL term buys. With a 2-D latent,
//! each model's latent map shows the decoded plane with the held-out codes as dots, and a
//! point dragged across it is decoded as it moves.

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::JsCast;
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement, PointerEvent};

use super::moon_judge::{Images, MoonJudge, Verdicts};
use super::{download_model, fill_form, scale_for, show_loss, show_steps, status, Cmd, Core, Ctx, LiveLab, Pace};
use crate::data::device::DeviceDataset;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::gpu::Tensor;
use crate::link::{Lab, Link};
use crate::models::random_codes::{training_codes, CodeGaussian};
use crate::models::vae::{latent_grid, Vae, VaeConfig, VaeHeader};
use crate::models::{stream, Purpose};
use crate::nn::snapshot::Resumable;
use crate::settings::copy_settings;
use crate::web::canvas::{GridView, Layout};
use crate::web::dom;
use crate::web::plot::Plot;

const LAB: Lab = Lab::Vae;
/// Decoded images between the two picked ones (both ends included).
const STRIP: usize = 10;
/// Held-out images offered for picking.
const PICKABLE: usize = 40;
/// Images decoded from random codes: the VAE's prior, the autoencoder's fitted Gaussian.
const SAMPLES: usize = 32;
/// Training codes the autoencoder's Gaussian is fitted to.
const FIT_CODES: usize = 500;
/// Held-out reconstructions that set each model's moon rule on the page.
const RULE_IMAGES: usize = 64;
/// How often the moon shares are judged again, and the autoencoder's Gaussian refitted (ms).
const JUDGE_EVERY_MS: f64 = 3000.0;
const REFIT_EVERY_MS: f64 = 3000.0;
/// CPU time per frame for judging decoded images (ms).
const JUDGE_BUDGET_MS: f64 = 4.0;
/// Cells per side of the latent map.
const MAP: usize = 10;
/// Most held-out codes drawn as dots on a map.
const DOTS: usize = 300;
/// Half-width of the VAE's map: the prior's bulk.
const PRIOR_EXTENT: f32 = 3.0;

pub const VAE_COLOR: &str = "#6d4ad6";
pub const AE_COLOR: &str = "#e8833a";

/// What a latent map's overlay shows; shared with its pointer handlers.
struct MapState {
    overlay: HtmlCanvasElement,
    /// Half-width of the decoded grid (codes of cell centres span ±extent).
    extent: f32,
    /// CSS pixels per cell.
    cell: f64,
    point: (f32, f32),
    /// Held-out codes and a hue for each (moon phase; None: one colour).
    dots: Vec<(f32, f32, Option<f32>)>,
    /// Which cells decode to a real moon, row by row, as last judged (empty: not judged).
    moons: Vec<bool>,
}

impl MapState {
    fn size(&self) -> f64 {
        self.cell * MAP as f64
    }

    /// Code of a point in CSS pixels (first latent dimension downwards, second to the right,
    /// as `latent_grid` lays them out).
    fn code_at(&self, x: f64, y: f64) -> (f32, f32) {
        let e = self.extent as f64;
        let z = |p: f64| (-e + 2.0 * e * (p / self.cell - 0.5) / (MAP - 1) as f64) as f32;
        (z(y), z(x))
    }

    fn pixel_of(&self, z: f32) -> f64 {
        let e = self.extent as f64;
        self.cell * ((z as f64 + e) / (2.0 * e) * (MAP - 1) as f64 + 0.5)
    }

    fn draw(&self) {
        let size = self.size();
        let ratio = crate::web::canvas::pixel_ratio() as f64;
        let backing = (size * ratio) as u32;
        if self.overlay.width() != backing {
            self.overlay.set_width(backing);
            self.overlay.set_height(backing);
            let style = self.overlay.style();
            let _ = style.set_property("width", &format!("{size}px"));
            let _ = style.set_property("height", &format!("{size}px"));
        }
        let Some(c) =
            self.overlay.get_context("2d").ok().flatten().and_then(|c| c.dyn_into::<CanvasRenderingContext2d>().ok())
        else {
            return;
        };
        let _ = c.set_transform(ratio, 0.0, 0.0, ratio, 0.0, 0.0);
        c.clear_rect(0.0, 0.0, size, size);
        // Cells that decode to a moon, tinted: the untinted ones are the map's holes.
        c.set_fill_style_str("rgba(46, 180, 110, 0.28)");
        for (i, _) in self.moons.iter().enumerate().filter(|(_, &moon)| moon) {
            let (row, col) = ((i / MAP) as f64, (i % MAP) as f64);
            c.fill_rect(col * self.cell, row * self.cell, self.cell, self.cell);
        }
        for &(z0, z1, hue) in &self.dots {
            let (x, y) = (self.pixel_of(z1), self.pixel_of(z0));
            if !(0.0..size).contains(&x) || !(0.0..size).contains(&y) {
                continue;
            }
            let fill = match hue {
                Some(h) => format!("hsla({:.0}, 75%, 50%, 0.85)", h * 360.0),
                None => "rgba(109, 74, 214, 0.75)".into(),
            };
            c.set_fill_style_str(&fill);
            c.begin_path();
            let _ = c.arc(x, y, 2.5, 0.0, std::f64::consts::TAU);
            c.fill();
        }
        let (x, y) = (self.pixel_of(self.point.1), self.pixel_of(self.point.0));
        c.set_line_width(2.0);
        c.set_stroke_style_str("#ffffff");
        c.begin_path();
        let _ = c.arc(x, y, 7.0, 0.0, std::f64::consts::TAU);
        c.stroke();
        c.set_line_width(1.5);
        c.set_stroke_style_str("#1d1f24");
        c.begin_path();
        let _ = c.arc(x, y, 8.5, 0.0, std::f64::consts::TAU);
        c.stroke();
        c.begin_path();
        c.move_to(x - 12.0, y);
        c.line_to(x - 4.0, y);
        c.move_to(x + 4.0, y);
        c.line_to(x + 12.0, y);
        c.move_to(x, y - 12.0);
        c.line_to(x, y - 4.0);
        c.move_to(x, y + 4.0);
        c.line_to(x, y + 12.0);
        c.stroke();
    }
}

/// The dataset and the models trained on it.
struct Models {
    heldout: Dataset,
    device: DeviceDataset,
    /// The VAE, then (with the comparison on) the plain autoencoder.
    nets: Vec<Vae>,
    /// Fixed prior samples z ~ N(0, I), so the sample grid shows one face changing.
    noise: Tensor,
    /// The autoencoder's sample codes: from the Gaussian fitted to its training codes, with
    /// the same fixed draws each time it is refitted; and when it was fitted (ms).
    fitted: Option<(Tensor, f64)>,
    /// Monitor records already plotted, per model.
    plotted: Vec<usize>,
    /// Steps the imported VAE had taken before it arrived here.
    offset: u32,
}

impl Models {
    fn geometry(&self) -> (usize, usize, usize) {
        (self.device.height, self.device.width, self.device.channels)
    }

    fn image_len(&self) -> usize {
        self.device.image_len()
    }

    fn steps(&self) -> u32 {
        self.offset + self.nets[0].steps()
    }

    /// The latest step whose figures have come back from the GPU.
    fn arrived(&self) -> u32 {
        self.offset + self.nets[0].monitor.arrived()
    }
}

struct Views {
    picker: GridView,
    strips: [GridView; 2],
    samples: [GridView; 2],
    maps: [GridView; 2],
    points: [GridView; 2],
}

pub struct VaeLab {
    core: Core,
    views: Views,
    plot: Plot,
    map_state: [Rc<RefCell<MapState>>; 2],
    models: Option<Models>,
    /// Held-out images being interpolated between.
    pair: (usize, usize),
    /// Whether the next click on the picker sets B (else A).
    pick_b: bool,
    /// Visuals are out of date.
    stale: bool,
    picker_stale: bool,
    pace: Pace,
    /// Views redrawn so far (a data attribute, for tests).
    refreshes: u32,
    /// Which decoded images are moons, judged a few per frame.
    judge: MoonJudge,
    last_plot: f64,
}

/// The default pair: on moons, the fullest held-out moon and the thinnest waxing crescent
/// (as `genlab train vae` picks them); otherwise the first image and one halfway through.
fn default_pair(heldout: &Dataset) -> (usize, usize) {
    let n = heldout.count;
    if let Some(phase) = &heldout.phase {
        let nearest = |target: f32| {
            (0..n).min_by(|&i, &j| (phase[i] - target).abs().total_cmp(&(phase[j] - target).abs())).unwrap_or(0)
        };
        return (nearest(0.5), nearest(0.12));
    }
    (0, n / 2)
}

pub fn start(ctx: Ctx, link: Link) {
    match make(ctx, link) {
        Ok(lab) => wasm_bindgen_futures::spawn_local(super::run(lab)),
        Err(e) => status(LAB, &format!("This lab cannot run on this page: {e}"), true),
    }
}

/// The lab with its views and controls wired, before its first models.
fn make(ctx: Ctx, link: Link) -> Result<VaeLab> {
    let core = Core::new(ctx, link)?;
    let queue = &core.queue;
    {
        let q = queue.clone();
        let picker: HtmlCanvasElement = dom::get("vae-picker")?;
        dom::on::<web_sys::MouseEvent>(picker.as_ref(), "click", move |e| {
            q.push(Cmd::Pick(e.offset_x() as f64, e.offset_y() as f64));
        });
    }
    let map_state = |i: usize| -> Result<Rc<RefCell<MapState>>> {
        Ok(Rc::new(RefCell::new(MapState {
            overlay: dom::get(&format!("vae-map-overlay{i}"))?,
            extent: PRIOR_EXTENT,
            cell: 28.0,
            point: (0.0, 0.0),
            dots: Vec::new(),
            moons: Vec::new(),
        })))
    };
    let map_state = [map_state(0)?, map_state(1)?];
    for (i, state) in map_state.iter().enumerate() {
        let overlay = state.borrow().overlay.clone();
        let move_to = {
            let (state, q) = (state.clone(), queue.clone());
            move |e: &PointerEvent| {
                let code = {
                    let mut s = state.borrow_mut();
                    let code = s.code_at(e.offset_x() as f64, e.offset_y() as f64);
                    s.point = code;
                    s.draw();
                    code
                };
                q.push(Cmd::Point(i, code.0, code.1));
            }
        };
        let down = move_to.clone();
        let target = overlay.clone();
        dom::on::<PointerEvent>(overlay.as_ref(), "pointerdown", move |e| {
            e.prevent_default();
            let _ = target.set_pointer_capture(e.pointer_id());
            down(&e);
        });
        dom::on::<PointerEvent>(overlay.as_ref(), "pointermove", move |e| {
            if e.buttons() & 1 == 1 {
                move_to(&e);
            }
        });
    }
    let views = make_views(&core.ctx)?;
    let plot = Plot::new(
        "vae-plot",
        &[("VAE loss", VAE_COLOR), ("VAE reconstruction", "#a58be8"), ("autoencoder reconstruction", AE_COLOR)],
        None,
    )?;
    let mut lab = VaeLab {
        core,
        views,
        plot,
        map_state,
        models: None,
        pair: (0, 0),
        pick_b: false,
        stale: true,
        picker_stale: true,
        pace: Pace::default(),
        refreshes: 0,
        judge: MoonJudge::default(),
        last_plot: 0.0,
    };
    lab.plot.set_dashed(1, true);
    Ok(lab)
}

fn make_views(ctx: &Ctx) -> Result<Views> {
    let d = &ctx.display;
    let pair = |name: &str| -> Result<[GridView; 2]> {
        Ok([GridView::for_id(d, &format!("{name}0"))?, GridView::for_id(d, &format!("{name}1"))?])
    };
    Ok(Views {
        picker: GridView::for_id(d, "vae-picker")?,
        strips: pair("vae-strip")?,
        samples: pair("vae-samples")?,
        maps: pair("vae-map")?,
        points: pair("vae-point")?,
    })
}

impl LiveLab for VaeLab {
    const LAB: Lab = LAB;
    /// Made with `genlab train vae` (see www/pretrained/README.md).
    const PRETRAINED: &'static [&'static str] = &["vae-moons.safetensors", "autoencoder-moons.safetensors"];
    const STARTS_AGAIN: &'static str = "the models start again from step 0.";
    const UNCHANGED: &'static str = "the models are unchanged";

    fn core(&self) -> &Core {
        &self.core
    }

    fn core_mut(&mut self) -> &mut Core {
        &mut self.core
    }

    /// Steps as shown (an imported VAE counts the steps it came with).
    fn steps(&self) -> Option<u32> {
        self.models.as_ref().map(Models::steps)
    }

    fn arrived(&self) -> u32 {
        self.models.as_ref().map_or(0, Models::arrived)
    }

    fn remake(&mut self) -> Result<()> {
        self.models = None;
        self.plot.clear();
        self.plot.set_empty_text("Press Train: the losses appear here.");
        self.stale = true;
        self.picker_stale = true;
        if let Ok(el) = dom::by_id("lab-vae") {
            let link = &self.core.link;
            let _ = el.set_attribute("data-compare", if link.compare { "1" } else { "0" });
            let _ = el.set_attribute("data-latent", &link.vae.latent.to_string());
        }
        let gpu = &self.core.ctx.gpu;
        let dataset = self.core.dataset()?;
        let link = &mut self.core.link;
        let device = DeviceDataset::upload(gpu, &dataset)?;
        // A sheet's size is known only now: refit the batch and the pair to it.
        if link.vae.batch > device.train.count {
            link.vae.batch = device.train.count;
            status(LAB, &format!("Batch size lowered to the {} training images.", device.train.count), false);
        }
        let heldout = dataset.heldout();
        self.pair = match link.pair {
            Some((a, b)) if a < heldout.count && b < heldout.count => (a, b),
            _ => {
                link.pair = None;
                default_pair(&heldout)
            }
        };
        let mut nets = vec![Vae::new(gpu, self.config(false), dataset.image_len())?];
        if self.core.link.compare {
            nets.push(Vae::new(gpu, self.config(true), dataset.image_len())?);
        }
        let noise = crate::kernels::rng::normal(
            gpu,
            stream(self.core.link.seed, Purpose::Sampling),
            [SAMPLES, self.core.link.vae.latent],
            0.0,
            1.0,
        )?;
        let plotted = vec![0; nets.len()];
        self.models = Some(Models { heldout, device, nets, noise, fitted: None, plotted, offset: 0 });
        self.judge.forget();
        for (i, state) in self.map_state.iter().enumerate() {
            state.borrow_mut().moons.clear();
            dom::set_text(&format!("vae-share{i}"), "");
            dom::set_text(&format!("vae-map-share{i}"), "");
        }
        Ok(())
    }

    /// Trains the VAE and, with the comparison on, the autoencoder on the same minibatches.
    fn train(&mut self) -> Result<u32> {
        let Some(m) = self.models.as_mut() else { return Ok(0) };
        let runner = &mut self.core.runner;
        let done = m.steps();
        let every = runner.monitor_every(done);
        for net in &mut m.nets {
            net.monitor.set_every(every);
        }
        let arrived = m.arrived();
        let gpu = &self.core.ctx.gpu;
        let (nets, device) = (&mut m.nets, &m.device);
        let n = runner.slice(gpu, done, arrived, || {
            for net in nets.iter_mut() {
                net.train_step(gpu, device)?;
            }
            Ok(())
        })?;
        if n > 0 {
            self.stale = true;
        }
        Ok(n)
    }

    /// Moves newly arrived figures into the plot and the figures line.
    fn collect_figures(&mut self) -> Result<()> {
        if let Some(verdicts) = self.judge.work(JUDGE_BUDGET_MS)? {
            self.show_verdicts(verdicts);
        }
        let Some(models) = self.models.as_mut() else { return Ok(()) };
        for net in &mut models.nets {
            net.monitor.poll()?;
        }
        let offset = models.offset;
        for (i, net) in models.nets.iter().enumerate() {
            let history = &net.monitor.history;
            for record in &history[models.plotted[i]..] {
                let step = offset + record.step;
                if net.config.autoencoder {
                    self.plot.push(2, step, record.values[1]);
                } else {
                    self.plot.push(0, step, record.values[0]);
                    self.plot.push(1, step, record.values[1]);
                }
            }
            models.plotted[i] = history.len();
        }
        let now = dom::now();
        if now - self.last_plot > 100.0 {
            self.plot.draw_if_changed();
            self.last_plot = now;
            let vae = &models.nets[0];
            if let Some(r) = vae.monitor.latest() {
                let kl = r.values[2];
                let weight = vae.config.kl_weight(r.step);
                dom::set_text(
                    "vae-figures",
                    &format!(
                        "reconstruction {:.1} + {weight:.2} × KL {kl:.2} = {:.1} nats per image",
                        r.values[1], r.values[0]
                    ),
                );
                show_loss(LAB, r.values[0], offset + r.step);
            }
        }
        Ok(())
    }

    /// Every view, when something changed (paced: a redraw decodes and reads back codes).
    async fn redraw(&mut self) -> Result<()> {
        let now = dom::now();
        if self.stale && self.pace.due(now, self.core.runner.running) {
            self.stale = false;
            self.refresh().await?;
            self.pace.done(now);
        }
        Ok(())
    }

    fn shown(&mut self) {
        self.stale = true;
        self.plot.draw();
    }

    fn edited(&mut self, key: &str) -> bool {
        // Another dataset (a sheet and the bundled one included): the picked pair's indices
        // would point at other images.
        if key == "data" || key == "count" || key == "dseed" {
            self.core.link.pair = None;
        }
        // A new learning rate applies from the next step: the models train on (a run the
        // guard stopped goes on from its last good checkpoint, more gently).
        if key == "lr" {
            if let Some(m) = &mut self.models {
                let lr = self.core.link.vae.learning_rate;
                if m.nets.iter_mut().all(|n| n.set_learning_rate(lr).is_ok()) {
                    status(LAB, &format!("Learning rate {lr} from the next step on."), false);
                    self.core.ctx.publish(&self.current_link());
                    return false;
                }
            }
        }
        true
    }

    fn sheet_summary(&self) -> Option<String> {
        let m = self.models.as_ref()?;
        Some(format!(
            "{} tiles of {}×{} in {} colours.",
            m.heldout.count + m.device.train.count,
            m.device.height,
            m.device.width,
            m.heldout.num_colors().unwrap_or(0)
        ))
    }

    /// Loads a VAE or autoencoder file into its slot. Nothing changes unless it fits.
    fn import(&mut self, bytes: &[u8]) -> Result<String> {
        let Some(m) = self.models.as_mut() else {
            return Err(Error::Invalid("make a dataset first: the model must fit its images".into()));
        };
        let (net, header) = Vae::load(&self.core.ctx.gpu, bytes)?;
        // The shares and the autoencoder's fitted codes were those of the models before.
        self.judge.forget();
        m.fitted = None;
        let (h, w, c) = m.geometry();
        if (header.height, header.width, header.channels) != (h, w, c) {
            return Err(Error::Invalid(format!(
                "it was trained on {}×{}×{} {} images, this lab has {h}×{w}×{c} {} images: switch the dataset first",
                header.height, header.width, header.channels, header.dataset, self.core.link.data.kind
            )));
        }
        let cfg = header.config.clone();
        if cfg.autoencoder {
            if m.nets.len() < 2 {
                self.core.link.compare = true;
                m.nets.push(net);
                m.plotted.push(0);
            } else {
                m.nets[1] = net;
                m.plotted[1] = 0;
            }
            if let Ok(el) = dom::by_id("lab-vae") {
                let _ = el.set_attribute("data-compare", "1");
            }
            fill_form(&self.core.link);
            self.stale = true;
            return Ok(format!("loaded an autoencoder trained {} steps on {}.", header.steps, header.dataset));
        }
        copy_settings(&cfg, &mut self.core.link.vae);
        self.core.link.vae.batch = cfg.batch.min(m.device.train.count);
        self.core.link.seed = cfg.seed;
        let latent_changed = m.nets[0].config.latent != cfg.latent;
        m.nets[0] = net;
        m.offset = header.steps;
        m.plotted[0] = 0;
        let mut note = String::new();
        if m.nets.len() > 1 && (latent_changed || m.nets[1].config.hidden != cfg.hidden) {
            let baseline = VaeConfig { autoencoder: true, batch: self.core.link.vae.batch, ..cfg.clone() };
            m.nets[1] = Vae::new(&self.core.ctx.gpu, baseline, m.image_len())?;
            m.plotted[1] = 0;
            note = " The autoencoder starts again with its settings.".into();
        }
        if latent_changed {
            m.noise = crate::kernels::rng::normal(
                &self.core.ctx.gpu,
                stream(self.core.link.seed, Purpose::Sampling),
                [SAMPLES, cfg.latent],
                0.0,
                1.0,
            )?;
        }
        self.plot.clear();
        if let Ok(el) = dom::by_id("lab-vae") {
            let _ = el.set_attribute("data-latent", &cfg.latent.to_string());
        }
        fill_form(&self.core.link);
        self.stale = true;
        self.core.ctx.publish(&self.current_link());
        show_steps(LAB, header.steps, None, self.core.runner.running);
        Ok(format!("loaded a VAE trained {} steps on {}.{note}", header.steps, header.dataset))
    }

    fn pretrained_loaded(&mut self, steps: u32) {
        self.plot.set_empty_text("These models were trained elsewhere: press Train and their losses appear here.");
        self.plot.draw();
        status(
            LAB,
            &format!(
                "Loaded a VAE and an autoencoder trained {steps} steps on moons. Compare their maps, \
                 pick other moons, or press Train to train them further."
            ),
            false,
        );
    }

    fn nets(&self) -> Vec<&dyn Resumable> {
        self.models.iter().flat_map(|m| m.nets.iter().map(|n| n as &dyn Resumable)).collect()
    }

    fn nets_mut(&mut self) -> Vec<&mut dyn Resumable> {
        self.models.iter_mut().flat_map(|m| m.nets.iter_mut().map(|n| n as &mut dyn Resumable)).collect()
    }

    fn remake_views(&mut self) -> Result<()> {
        self.views = make_views(&self.core.ctx)?;
        self.picker_stale = true;
        self.stale = true;
        Ok(())
    }

    fn restored(&mut self, offset: u32) {
        if let Some(m) = &mut self.models {
            m.offset = offset;
            for (plotted, net) in m.plotted.iter_mut().zip(&m.nets) {
                *plotted = net.monitor.history.len();
            }
        }
        self.stale = true;
    }

    async fn apply_own(&mut self, cmd: Cmd) -> Result<()> {
        match cmd {
            Cmd::Export(i) => self.export(i).await?,
            Cmd::Pick(x, y) => self.pick(x, y),
            Cmd::Point(i, z0, z1) => {
                self.map_state[i].borrow_mut().point = (z0, z1);
                self.draw_point(i)?;
            }
            // The other labs' controls: none here.
            _ => {}
        }
        Ok(())
    }
}

impl VaeLab {
    fn config(&self, autoencoder: bool) -> VaeConfig {
        self.core.link.vae_config(autoencoder)
    }

    /// A click on the held-out picker at CSS pixel (x, y).
    fn pick(&mut self, x: f64, y: f64) {
        let Some(layout) = self.views.picker.layout_of() else { return };
        let Some(cell) = layout.cell_at(x, y) else { return };
        if self.pick_b {
            self.pair.1 = cell;
        } else {
            self.pair.0 = cell;
        }
        self.pick_b = !self.pick_b;
        dom::set_text("vae-pick-next", if self.pick_b { "B" } else { "A" });
        self.core.link.pair = Some(self.pair);
        self.picker_stale = true;
        self.stale = true;
        self.core.ctx.publish(&self.current_link());
    }

    async fn export(&mut self, which: usize) -> Result<()> {
        let Some(m) = &self.models else { return Ok(()) };
        let Some(net) = m.nets.get(which) else { return Ok(()) };
        let (height, width, channels) = m.geometry();
        // Without a device, the newest checkpoint is what there is to export.
        let (source, checkpoint) = self.core.checkpoints.source(&self.core.ctx.gpu, which)?;
        let offset = if which == 0 { m.offset } else { 0 };
        let steps = offset + checkpoint.unwrap_or(net.steps());
        let link = &self.core.link;
        let header = VaeHeader {
            config: net.config.clone(),
            height,
            width,
            channels,
            dataset: link.data.kind.to_string(),
            steps,
        };
        let model = if net.config.autoencoder { "autoencoder" } else { "vae" };
        download_model(link, model, &format!("the {model}"), steps, net.save(source, &header).await?)
    }

    /// Redraws every view from the models as they are now.
    async fn refresh(&mut self) -> Result<()> {
        let Some(m) = &mut self.models else { return Ok(()) };
        let gpu = self.core.ctx.gpu.clone();
        let geometry = m.geometry();
        let (h, w, _) = geometry;
        let len = m.image_len();

        if self.picker_stale {
            self.picker_stale = false;
            let count = m.heldout.count.min(PICKABLE);
            let scale = scale_for(h, 32);
            let cols = (640 / (w * scale + 2)).clamp(1, count);
            let mut layout = Layout::new(count, geometry, cols, scale);
            layout.ring_a = Some(self.pair.0);
            layout.ring_b = Some(self.pair.1);
            layout.gap = 3;
            self.views.picker.draw(&m.device.heldout.rows, layout, 0)?;
        }

        let pair = m.device.heldout.select(&gpu, &[self.pair.0 as u32, self.pair.1 as u32])?.reshape([2, len])?;
        let strip_scale = scale_for(h, 52);
        let small = scale_for(h, 28);
        for (i, net) in m.nets.iter().enumerate() {
            // The picked images at both ends, the decoded path between them in the middle.
            let path = net.interpolate(&gpu, &pair, STRIP)?;
            let row = Tensor::uninit(&gpu, [STRIP + 2, len])?;
            gpu.copy_region(&pair, 0, &row, 0, len)?;
            gpu.copy_region(&path, 0, &row, len, STRIP * len)?;
            gpu.copy_region(&pair, len, &row, (STRIP + 1) * len, len)?;
            let mut layout = Layout::new(STRIP + 2, geometry, STRIP + 2, strip_scale);
            layout.ring_a = Some(0);
            layout.ring_b = Some(STRIP + 1);
            layout.gap = 3;
            self.views.strips[i].draw(&row, layout, 0)?;

            // Each model's random codes from its fairest Gaussian: the prior the VAE was
            // trained toward; for the autoencoder, which has no prior, the Gaussian of its
            // own training codes.
            let codes = if net.config.autoencoder {
                let now = dom::now();
                if m.fitted.as_ref().is_none_or(|(_, at)| now - at >= REFIT_EVERY_MS) {
                    let fit = CodeGaussian::fit(&training_codes(&gpu, net, &m.device, FIT_CODES).await?)?;
                    let codes: Vec<f32> = fit.sample(stream(self.core.link.seed, Purpose::Sampling), SAMPLES).concat();
                    m.fitted = Some((Tensor::from_slice(&gpu, [SAMPLES, net.config.latent], &codes)?, now));
                }
                m.fitted.as_ref().map_or(&m.noise, |(codes, _)| codes)
            } else {
                &m.noise
            };
            let samples = net.decode(&gpu, codes)?;
            self.views.samples[i].draw(&samples, Layout::new(SAMPLES, geometry, 8, small), 0)?;
        }

        if self.core.link.vae.latent == 2 {
            let dots = m.heldout.count.min(DOTS);
            let x = m.device.heldout.range(&gpu, 0, dots)?.reshape([dots, len])?;
            // Moons are coloured by phase, so the map shows how phases are laid out.
            let hues: Vec<Option<f32>> = (0..dots).map(|i| m.heldout.phase.as_ref().map(|p| p[i])).collect();
            for (i, net) in m.nets.iter().enumerate() {
                let codes = net.encode(&gpu, &x).await?;
                let extent = if net.config.autoencoder {
                    let reach = codes.iter().flatten().fold(0.0f32, |a, v| a.max(v.abs()));
                    (reach * 1.1).max(0.5)
                } else {
                    PRIOR_EXTENT
                };
                let map_scale = scale_for(h, 30);
                {
                    let mut s = self.map_state[i].borrow_mut();
                    s.extent = extent;
                    s.cell = (w * map_scale) as f64;
                    s.dots = codes.iter().zip(&hues).map(|(z, hue)| (z[0], z[1], *hue)).collect();
                    s.point = (s.point.0.clamp(-extent, extent), s.point.1.clamp(-extent, extent));
                    s.draw();
                }
                let grid = net.decode_codes(&gpu, &latent_grid(MAP, extent))?;
                let mut layout = Layout::new(MAP * MAP, geometry, MAP, map_scale);
                layout.gap = 0;
                self.views.maps[i].draw(&grid, layout, 0)?;
            }
            for i in 0..m.nets.len() {
                self.draw_point(i)?;
            }
        }
        self.judge_again().await?;
        self.refreshes += 1;
        if let Ok(lab) = dom::by_id("lab-vae") {
            let _ = lab.set_attribute("data-refreshes", &self.refreshes.to_string());
        }
        Ok(())
    }

    /// Starts judging which decoded images are moons, every [`JUDGE_EVERY_MS`] (moons only):
    /// reads back each model's reconstructions of held-out moons, its sample grid and its
    /// latent map, for [`MoonJudge`] to score between frames.
    async fn judge_again(&mut self) -> Result<()> {
        let Some(m) = &self.models else { return Ok(()) };
        if m.heldout.phase.is_none() || !self.judge.due(dom::now(), JUDGE_EVERY_MS) {
            return Ok(());
        }
        let gpu = &self.core.ctx.gpu;
        let len = m.image_len();
        let rows = |t: Vec<f32>| -> Vec<Vec<f32>> { t.chunks(len).map(<[f32]>::to_vec).collect() };
        let n = m.heldout.count.min(RULE_IMAGES);
        let x = m.device.heldout.range(gpu, 0, n)?.reshape([n, len])?;
        let mut models = Vec::new();
        for net in &m.nets {
            let codes = match &m.fitted {
                Some((codes, _)) if net.config.autoencoder => codes,
                _ => &m.noise,
            };
            let reconstructions = net.decode_codes(gpu, &net.encode(gpu, &x).await?)?.to_vec(gpu).await?;
            let samples = net.decode(gpu, codes)?.to_vec(gpu).await?;
            let cells = if net.config.latent == 2 {
                let extent = self.map_state[models.len()].borrow().extent;
                net.decode_codes(gpu, &latent_grid(MAP, extent))?.to_vec(gpu).await?
            } else {
                Vec::new()
            };
            models.push(Images { reconstructions: rows(reconstructions), samples: rows(samples), cells: rows(cells) });
        }
        self.judge.start(models);
        Ok(())
    }

    /// Prints each model's moon share under its samples, and tints its map's moon cells.
    fn show_verdicts(&mut self, verdicts: Vec<Verdicts>) {
        for (i, v) in verdicts.iter().enumerate() {
            let moons = v.sample_moons();
            let share = 100.0 * moons as f64 / v.samples.len().max(1) as f64;
            dom::set_text(
                &format!("vae-share{i}"),
                &format!("{moons} of {} decode to a moon ({share:.0} %).", v.samples.len()),
            );
            if !v.cells.is_empty() {
                let cells = v.cells.iter().filter(|&&m| m).count();
                dom::set_text(
                    &format!("vae-map-share{i}"),
                    &format!("{cells} of {} cells decode to a moon.", v.cells.len()),
                );
            }
            let mut state = self.map_state[i].borrow_mut();
            state.moons = v.cells.clone();
            state.draw();
        }
        if let Ok(lab) = dom::by_id("lab-vae") {
            let shares: Vec<String> = verdicts.iter().map(|v| v.sample_moons().to_string()).collect();
            let _ = lab.set_attribute("data-moon-samples", &shares.join(","));
        }
    }

    /// Decodes the point on latent map `i` into its big view.
    fn draw_point(&mut self, i: usize) -> Result<()> {
        let Some(m) = &self.models else { return Ok(()) };
        let Some(net) = m.nets.get(i) else { return Ok(()) };
        if net.config.latent != 2 {
            return Ok(());
        }
        let point = self.map_state[i].borrow().point;
        let image = net.decode_codes(&self.core.ctx.gpu, &[vec![point.0, point.1]])?;
        let (h, ..) = m.geometry();
        self.views.points[i].draw(
            &image,
            Layout { gap: 0, ..Layout::new(1, m.geometry(), 1, scale_for(h, 140)) },
            0,
        )?;
        dom::set_text(&format!("vae-point-code{i}"), &format!("z = ({:.2}, {:.2})", point.0, point.1));
        Ok(())
    }
}
