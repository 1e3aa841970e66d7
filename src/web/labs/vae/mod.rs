//! The VAE lab: the lecture's point about the space between codes, live.
//!
//! Two held-out images (a full moon and a crescent by default) are encoded, the segment
//! between their codes is decoded, and the strip redraws while the models train. With the
//! comparison on, a plain autoencoder (no noise, no KL) trains on the same minibatches next
//! to the VAE, so the two strips show side by side what the KL term buys. With a 2-D latent,
//! each model's latent map shows the decoded plane with the held-out codes as dots, and a
//! point dragged across it is decoded as it moves.

mod map;
mod views;

use std::cell::RefCell;
use std::rc::Rc;

use web_sys::HtmlCanvasElement;

use super::moon_judge::MoonJudge;
use super::{fill_form, show_imported, show_loss, status, Cmd, Core, Ctx, LiveLab, Pace, Trained};
use crate::data::device::DeviceDataset;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::gpu::{Gpu, Tensor};
use crate::link::{Lab, Link};
use crate::models::vae::{Vae, VaeConfig};
use crate::models::{stream, Purpose};
use crate::settings::copy_settings;
use crate::web::dom;
use crate::web::plot::Plot;
use map::MapState;
use views::{make_views, Views};

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

/// The codes the sample grids decode.
struct SampleCodes {
    /// Fixed prior samples z ~ N(0, I), so the sample grid shows one face changing.
    noise: Tensor,
    /// The autoencoder's sample codes: from the Gaussian fitted to its training codes, with
    /// the same fixed draws each time it is refitted; and when it was fitted (ms).
    fitted: Option<(Tensor, f64)>,
}

pub struct VaeLab {
    core: Core<Vae>,
    views: Views,
    plot: Plot,
    map_state: [Rc<RefCell<MapState>>; 2],
    /// Made with the models.
    codes: Option<SampleCodes>,
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
}

/// The sample grids' fixed codes z ~ N(0, I) of a `latent`-dimensional prior.
fn prior_noise(gpu: &Gpu, seed: u64, latent: usize) -> Result<Tensor> {
    crate::kernels::rng::normal(gpu, stream(seed, Purpose::Sampling), [SAMPLES, latent], 0.0, 1.0)
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
    super::launch(make(ctx, link));
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
    let map_state = map::wire(queue)?;
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
        codes: None,
        pair: (0, 0),
        pick_b: false,
        stale: true,
        picker_stale: true,
        pace: Pace::default(),
        refreshes: 0,
        judge: MoonJudge::default(),
    };
    lab.plot.set_dashed(1, true);
    Ok(lab)
}

impl LiveLab for VaeLab {
    type Model = Vae;
    const LAB: Lab = LAB;
    /// Made with `genlab train vae` (see www/pretrained/README.md).
    const PRETRAINED: &'static [&'static str] = &["vae-moons.safetensors", "autoencoder-moons.safetensors"];
    const STARTS_AGAIN: &'static str = "the models start again from step 0.";
    const UNCHANGED: &'static str = "the models are unchanged";

    crate::field_accessors!(core, core_mut: Core<Vae>);

    fn stale(&mut self) {
        self.stale = true;
    }

    fn remake(&mut self) -> Result<()> {
        self.core.models = None;
        self.codes = None;
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
        let noise = prior_noise(gpu, self.core.link.seed, self.core.link.vae.latent)?;
        self.core.models = Some(Trained::new(device, heldout, nets));
        self.codes = Some(SampleCodes { noise, fitted: None });
        self.judge.forget();
        for (i, state) in self.map_state.iter().enumerate() {
            state.borrow_mut().moons.clear();
            dom::set_text(&format!("vae-share{i}"), "");
            dom::set_text(&format!("vae-map-share{i}"), "");
        }
        Ok(())
    }

    /// Moves newly arrived figures into the plot and the figures line.
    fn collect_figures(&mut self, show: bool) -> Result<()> {
        if let Some(verdicts) = self.judge.work(JUDGE_BUDGET_MS)? {
            self.show_verdicts(verdicts);
        }
        let Some(models) = self.core.models.as_mut() else { return Ok(()) };
        let plot = &mut self.plot;
        models.collect(|_, net, record, step| {
            if net.config.autoencoder {
                plot.push(2, step, record.figure("reconstruction"));
            } else {
                plot.push(0, step, record.figure("loss"));
                plot.push(1, step, record.figure("reconstruction"));
            }
        })?;
        if show {
            self.plot.draw_if_changed();
            if let Some((r, step)) = models.latest() {
                let weight = models.nets[0].config.kl_weight(r.step);
                let (loss, reconstruction, kl) = (r.figure("loss"), r.figure("reconstruction"), r.figure("kl"));
                dom::set_text(
                    "vae-figures",
                    &format!(
                        "reconstruction {reconstruction:.1} + {weight:.2} × KL {kl:.2} = {loss:.1} nats per image"
                    ),
                );
                show_loss(LAB, loss, step);
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
        true
    }

    /// A new learning rate applies from the next step: the models train on (a run the guard
    /// stopped goes on from its last good checkpoint, more gently).
    fn retune(&mut self, key: &str) -> Option<String> {
        if key != "lr" {
            return None;
        }
        let lr = self.core.link.vae.learning_rate;
        let models = self.core.models.as_mut()?;
        models
            .nets
            .iter_mut()
            .all(|n| n.set_learning_rate(lr).is_ok())
            .then(|| format!("Learning rate {lr} from the next step on."))
    }

    fn sheet_summary(&self) -> Option<String> {
        let m = self.core.models.as_ref()?;
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
        let (Some(m), Some(codes)) = (self.core.models.as_mut(), self.codes.as_mut()) else {
            return Err(Error::Invalid("make a dataset first: the model must fit its images".into()));
        };
        let (net, header) = m.load(&self.core.ctx.gpu, bytes)?;
        // The shares and the autoencoder's fitted codes were those of the models before.
        self.judge.forget();
        codes.fitted = None;
        let cfg = header.config.clone();
        if cfg.autoencoder {
            if m.nets.len() < 2 {
                self.core.link.compare = true;
            }
            m.adopt(1, net, header.steps);
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
        m.adopt(0, net, header.steps);
        let mut note = "";
        if m.nets.len() > 1 && (latent_changed || m.nets[1].config.hidden != cfg.hidden) {
            let baseline = VaeConfig { autoencoder: true, batch: self.core.link.vae.batch, ..cfg.clone() };
            let autoencoder = Vae::new(&self.core.ctx.gpu, baseline, m.device.image_len())?;
            m.adopt(1, autoencoder, 0);
            note = " The autoencoder starts again with its settings.";
        }
        if latent_changed {
            codes.noise = prior_noise(&self.core.ctx.gpu, self.core.link.seed, cfg.latent)?;
        }
        self.plot.clear();
        if let Ok(el) = dom::by_id("lab-vae") {
            let _ = el.set_attribute("data-latent", &cfg.latent.to_string());
        }
        self.stale = true;
        Ok(format!("{}{note}", show_imported(self, "a VAE", &header)))
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

    fn remake_views(&mut self) -> Result<()> {
        self.views = make_views(&self.core.ctx)?;
        self.picker_stale = true;
        self.stale = true;
        Ok(())
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

    async fn export(&self, which: usize) -> Result<()> {
        let Some(net) = self.core.models.as_ref().and_then(|m| m.nets.get(which)) else { return Ok(()) };
        let model = if net.config.autoencoder { "autoencoder" } else { "vae" };
        self.core.export(which, model, &format!("the {model}")).await
    }
}
