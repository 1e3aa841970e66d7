//! The GAN lab: the generator and the discriminator evolving against each other, watched as
//! it happens — the same noise vectors decoded after every few steps (so each face visibly
//! changes), D's verdict on real and fake minibatches, and a walk along a great circle in
//! noise space that shows how smoothly the generator maps noise to images.

use super::{
    copy_link, export_name, fill_form, load_bundled, make_dataset, on_bundled_data, show_running, show_steps, status,
    wire_buttons, wire_form, wire_sheet_input, Cmd, Ctx, Queue, Runner,
};
use crate::data::device::DeviceDataset;
use crate::data::DatasetKind;
use crate::error::{Error, Result};
use crate::gpu::Tensor;
use crate::io::link::{DataLink, Lab, Link};
use crate::kernels::rng::{self, Stream};
use crate::models::gan::{Gan, GanConfig, GanHeader, FIXED_SAMPLES};
use crate::models::{stream, Purpose};
use crate::web::canvas::{GridView, Layout};
use crate::web::dom;
use crate::web::plot::Plot;

const LAB: Lab = Lab::Gan;
/// The bundled generator (in www/pretrained/).
const PRETRAINED: &str = "gan-sprites.safetensors";
/// Real images shown next to the generated grid.
const REAL: usize = 16;
/// Frames of the walk strip.
const WALK_STRIP: usize = 8;
/// Seconds per walk segment (from one noise vector to the next).
const WALK_SECONDS: f64 = 4.0;
/// Least time between two frames of the walk animation.
const WALK_FRAME_MS: f64 = 80.0;

struct Models {
    device: DeviceDataset,
    gan: Gan,
    /// The grid's noise: None for the GAN's own fixed noise, else a fresh batch.
    noise: Option<Tensor>,
    plotted: usize,
    /// Steps the imported GAN had taken before it arrived here.
    offset: u32,
}

impl Models {
    fn geometry(&self) -> (usize, usize, usize) {
        (self.device.height, self.device.width, self.device.channels)
    }

    fn steps(&self) -> u32 {
        self.offset + self.gan.steps()
    }
}

/// The latent walk: from `from` to `to` on a great circle, then on to a new point.
struct Walk {
    from: Vec<f32>,
    to: Vec<f32>,
    /// Position on the current segment, 0..1.
    t: f64,
    /// Where the next noise vectors come from.
    stream: Stream,
    last_frame: f64,
    strip_stale: bool,
}

impl Walk {
    fn new(seed: u64, z: usize) -> Walk {
        let mut stream = stream(seed ^ 0x57A1_4ED0, Purpose::Sampling);
        let from = rng::cpu::normal(stream.take(z), z, 0.0, 1.0);
        let to = rng::cpu::normal(stream.take(z), z, 0.0, 1.0);
        Walk { from, to, t: 0.0, stream, last_frame: 0.0, strip_stale: true }
    }

    /// Moves on by `seconds`; at the end of a segment, starts the next one.
    fn advance(&mut self, seconds: f64) {
        self.t += seconds / WALK_SECONDS;
        if self.t >= 1.0 {
            self.t = 0.0;
            let z = self.to.len();
            self.from = std::mem::replace(&mut self.to, rng::cpu::normal(self.stream.take(z), z, 0.0, 1.0));
            self.strip_stale = true;
        }
    }

    /// The point at `t` on the great circle (the curve `slerp_codes` samples).
    fn here(&self) -> Vec<f32> {
        let (a, b) = (&self.from, &self.to);
        let norm = |v: &[f32]| v.iter().map(|&x| (x as f64).powi(2)).sum::<f64>().sqrt();
        let dot: f64 = a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum();
        let cos = (dot / (norm(a) * norm(b)).max(1e-12)).clamp(-1.0, 1.0);
        let omega = cos.acos();
        let t = self.t;
        let (wa, wb) = if omega.sin().abs() < 1e-6 {
            (1.0 - t, t)
        } else {
            (((1.0 - t) * omega).sin() / omega.sin(), (t * omega).sin() / omega.sin())
        };
        a.iter().zip(b).map(|(&x, &y)| (wa * x as f64 + wb * y as f64) as f32).collect()
    }
}

struct Views {
    grid: GridView,
    real: GridView,
    walk: GridView,
    strip: GridView,
}

pub struct GanLab {
    ctx: Ctx,
    link: Link,
    queue: Queue,
    runner: Runner,
    views: Views,
    d_plot: Plot,
    loss_plot: Plot,
    sheet: Option<(String, Vec<u8>)>,
    models: Option<Models>,
    walk: Walk,
    /// The walk strip's images, kept to move the ring without decoding again.
    strip_images: Option<Tensor>,
    /// Where "new noise" batches come from.
    noise_stream: Stream,
    stale: bool,
    real_stale: bool,
    last_refresh: f64,
    refresh_cost: f64,
    last_plot: f64,
    was_active: bool,
}

fn scale_for(height: usize, target: usize) -> usize {
    (target / height.max(1)).max(1)
}

pub fn start(ctx: Ctx, link: Link) {
    let queue = Queue::default();
    wire_buttons(LAB, &queue);
    wire_form(&link, &queue);
    wire_sheet_input(LAB, &queue);
    {
        let q = queue.clone();
        dom::on_id::<web_sys::Event>("gan-new-noise", "click", move |_| q.push(Cmd::NewNoise));
    }
    let d = &ctx.display;
    let views = match (|| -> Result<Views> {
        Ok(Views {
            grid: GridView::for_id(d, "gan-grid")?,
            real: GridView::for_id(d, "gan-real")?,
            walk: GridView::for_id(d, "gan-walk")?,
            strip: GridView::for_id(d, "gan-walk-strip")?,
        })
    })() {
        Ok(v) => v,
        Err(e) => {
            status(LAB, &format!("cannot draw on this page: {e}"), true);
            return;
        }
    };
    let d_plot = Plot::new("gan-dplot", &[("D(real)", "#3b7d6e"), ("D(fake)", "#d6457a")], Some((0.0, 1.0)));
    let loss_plot = Plot::new("gan-plot", &[("D loss", "#5d6470"), ("G loss", "#6d4ad6")], None);
    let walk = Walk::new(link.seed, link.gan.z);
    let lab = GanLab {
        noise_stream: stream(link.seed ^ 0x0B5E_55ED, Purpose::Sampling),
        ctx,
        link,
        queue,
        runner: Runner::new(),
        views,
        d_plot,
        loss_plot,
        sheet: None,
        models: None,
        walk,
        strip_images: None,
        stale: true,
        real_stale: true,
        last_refresh: 0.0,
        refresh_cost: 0.0,
        last_plot: 0.0,
        was_active: false,
    };
    wasm_bindgen_futures::spawn_local(lab.run());
}

impl GanLab {
    async fn run(mut self) {
        let replay = self.link.steps;
        self.rebuild(false);
        if replay > 0 && self.models.is_some() {
            self.runner.target = Some(replay);
            self.runner.running = true;
            status(LAB, &format!("Replaying the link: training to step {replay}…"), false);
        }
        loop {
            dom::next_frame().await;
            if let Err(e) = self.frame().await {
                self.runner.running = false;
                self.runner.target = None;
                status(LAB, &e.to_string(), true);
            }
        }
    }

    async fn frame(&mut self) -> Result<()> {
        let active = self.ctx.is_active(LAB);
        if active && !self.was_active {
            self.ctx.publish(&self.current_link());
            self.stale = true;
            self.real_stale = true;
            self.d_plot.draw();
            self.loss_plot.draw();
        }
        self.was_active = active;
        for cmd in self.queue.take() {
            // One command failing (a download refused, say) must not drop the ones after it.
            if let Err(e) = self.apply(cmd).await {
                status(LAB, &e.to_string(), true);
            }
        }
        if !active {
            return Ok(());
        }
        let was_running = self.runner.running;
        self.train_slice()?;
        if was_running && !self.runner.running {
            self.ctx.publish(&self.current_link());
            if self.link.steps > 0 && self.models.as_ref().is_some_and(|m| m.steps() == self.link.steps) {
                status(
                    LAB,
                    &format!("Replayed the link's {} steps: this is the model it describes.", self.link.steps),
                    false,
                );
            }
        }
        self.collect_figures()?;
        let now = dom::now();
        let interval = (4.0 * self.refresh_cost).max(if self.runner.running { 250.0 } else { 0.0 });
        if self.stale && now - self.last_refresh >= interval {
            self.stale = false;
            self.refresh()?;
            self.last_refresh = dom::now();
            self.refresh_cost = self.last_refresh - now;
        }
        let since = now - self.walk.last_frame;
        if since >= WALK_FRAME_MS.max(2.0 * self.refresh_cost) {
            self.walk.advance((since / 1000.0).min(0.25));
            self.walk.last_frame = now;
            self.draw_walk()?;
        }
        Ok(())
    }

    fn train_slice(&mut self) -> Result<()> {
        let can_train = self.models.is_some();
        let Some(models) = self.models.as_mut() else {
            self.runner.running = false;
            show_running(LAB, false, false);
            return Ok(());
        };
        let done = models.steps();
        models.gan.monitor.set_every(self.runner.monitor_every(done));
        let arrived = models.offset + models.gan.monitor.latest().map_or(0, |r| r.step);
        let gpu = self.ctx.gpu.clone();
        let (gan, rows) = (&mut models.gan, &models.device.train);
        let n = self.runner.slice(done, arrived, || gan.train_step(&gpu, rows))?;
        if n > 0 {
            self.stale = true;
        }
        show_running(LAB, self.runner.running, can_train);
        show_steps(LAB, models.steps(), self.runner.rate(), self.runner.running);
        Ok(())
    }

    fn collect_figures(&mut self) -> Result<()> {
        let Some(models) = self.models.as_mut() else { return Ok(()) };
        models.gan.monitor.poll()?;
        let history = &models.gan.monitor.history;
        for record in &history[models.plotted..] {
            let step = models.offset + record.step;
            let v = &record.values;
            self.loss_plot.push(0, step, v[0]);
            self.loss_plot.push(1, step, v[1]);
            self.d_plot.push(0, step, v[2]);
            self.d_plot.push(1, step, v[3]);
        }
        models.plotted = history.len();
        let now = dom::now();
        if now - self.last_plot > 100.0 {
            self.d_plot.draw_if_changed();
            self.loss_plot.draw_if_changed();
            self.last_plot = now;
            if let (Some(r), Ok(lab)) = (models.gan.monitor.latest(), dom::by_id("lab-gan")) {
                let _ = lab.set_attribute("data-loss", &format!("{}", r.values[0]));
                let _ = lab.set_attribute("data-loss-step", &(models.offset + r.step).to_string());
            }
        }
        Ok(())
    }

    fn current_link(&self) -> Link {
        let mut link = self.link.clone();
        link.steps = self.models.as_ref().map_or(0, Models::steps);
        link
    }

    fn config(&self) -> GanConfig {
        let g = &self.link.gan;
        GanConfig {
            z_dim: g.z,
            hidden: g.hidden,
            batch: g.batch,
            g_learning_rate: g.g_lr,
            d_learning_rate: g.d_lr,
            d_steps: g.d_steps,
            real_label: g.real_label,
            seed: self.link.seed,
            ..GanConfig::default()
        }
    }

    fn rebuild(&mut self, keep_running: bool) {
        self.models = None;
        self.d_plot.clear();
        self.loss_plot.clear();
        self.runner.target = None;
        self.runner.forget_rate();
        self.runner.running &= keep_running;
        dom::show("gan-data-error", false);
        match self.build() {
            Ok(models) => {
                self.models = Some(models);
                status(LAB, "Ready. Press Train.", false);
            }
            Err(e) => {
                dom::set_text("gan-data-error", &e.to_string());
                dom::show("gan-data-error", true);
                status(LAB, "No dataset: see above.", true);
            }
        }
        self.walk = Walk::new(self.link.seed, self.link.gan.z);
        self.noise_stream = stream(self.link.seed ^ 0x0B5E_55ED, Purpose::Sampling);
        show_steps(LAB, 0, None, false);
        show_running(LAB, self.runner.running, self.models.is_some());
        self.stale = true;
        self.real_stale = true;
        fill_form(&self.link);
        self.ctx.publish(&self.current_link());
    }

    fn build(&mut self) -> Result<Models> {
        let gpu = &self.ctx.gpu;
        let dataset = make_dataset(&self.link, self.sheet.as_ref().map(|s| s.1.as_slice()))?;
        let device = DeviceDataset::upload(gpu, &dataset)?;
        if self.link.gan.batch > device.train.count {
            self.link.gan.batch = device.train.count;
        }
        let gan = Gan::new(gpu, self.config(), dataset.image_len())?;
        Ok(Models { device, gan, noise: None, plotted: 0, offset: 0 })
    }

    async fn apply(&mut self, cmd: Cmd) -> Result<()> {
        match cmd {
            Cmd::Train => {
                if self.models.is_some() {
                    self.runner.running = true;
                    self.runner.target = None;
                    status(LAB, "Training…", false);
                }
            }
            Cmd::Pause => {
                self.runner.running = false;
                self.runner.target = None;
                status(LAB, "Paused.", false);
                self.ctx.publish(&self.current_link());
            }
            Cmd::Step => {
                if let Some(m) = &self.models {
                    self.runner.target = Some(m.steps() + 1);
                    self.runner.running = true;
                }
            }
            Cmd::Reset => {
                let running = self.runner.running;
                self.rebuild(running);
            }
            Cmd::Edit(key, value) => {
                if let Err(e) = self.link.set_value(&key, &value) {
                    status(LAB, &format!("{e}; kept {}", self.link.value(&key).unwrap_or_default()), true);
                    fill_form(&self.link);
                    return Ok(());
                }
                let fixed = self.link.fix();
                let running = self.runner.running;
                self.rebuild(running);
                if !fixed.is_empty() {
                    let words: Vec<String> = fixed.iter().map(ToString::to_string).collect();
                    status(LAB, &words.join(" · "), false);
                } else if self.models.is_some() {
                    status(LAB, &format!("{key} changed: the GAN starts again from step 0."), false);
                }
            }
            Cmd::Sheet(name, bytes) => {
                self.sheet = Some((name.clone(), bytes));
                self.link.data.kind = DatasetKind::Sheet;
                self.link.fix();
                let running = self.runner.running;
                self.rebuild(running);
                if let Some(m) = &self.models {
                    let tiles = m.device.train.count + m.device.heldout.count;
                    status(LAB, &format!("{name}: {tiles} tiles of {}×{}.", m.device.height, m.device.width), false);
                    dom::set_text("gan-sheet-name", &name);
                }
            }
            Cmd::FileError(e) => status(LAB, &e, true),
            Cmd::CopyLink => copy_link(&self.current_link()),
            Cmd::Export(_) => self.export().await?,
            Cmd::Import(name, bytes) => match self.import(&bytes) {
                Ok(what) => status(LAB, &format!("{name}: {what}"), false),
                Err(e) => status(LAB, &format!("{name} was not loaded, the GAN is unchanged: {e}"), true),
            },
            Cmd::NewNoise => {
                if let Some(m) = self.models.as_mut() {
                    let z = m.gan.config.z_dim;
                    let s = self.noise_stream.take(FIXED_SAMPLES * z);
                    m.noise = Some(rng::normal(&self.ctx.gpu, s, [FIXED_SAMPLES, z], 0.0, 1.0)?);
                    self.stale = true;
                }
            }
            Cmd::Pretrained => self.load_pretrained().await,
            Cmd::Pick(..) | Cmd::Point(..) | Cmd::Complete | Cmd::Sample => {}
        }
        Ok(())
    }

    /// Loads the generator trained on sprites that comes with the page (made with
    /// `genlab train gan`; see www/pretrained/README.md), switching to sprites if needed.
    /// The file holds the averaged generator only: the discriminator starts fresh.
    async fn load_pretrained(&mut self) {
        if !on_bundled_data(&self.link) || self.models.is_none() {
            self.link.data = DataLink::default_for(LAB);
            self.link.fix();
            self.rebuild(false);
        }
        self.runner.running = false;
        self.runner.target = None;
        if load_bundled(LAB, PRETRAINED, |bytes| self.import(bytes)).await.is_none() {
            return;
        }
        let steps = self.models.as_ref().map_or(0, Models::steps);
        for plot in [&mut self.d_plot, &mut self.loss_plot] {
            plot.set_empty_text("This generator was trained elsewhere: press Train and the duel appears here.");
            plot.draw();
        }
        status(
            LAB,
            &format!(
                "Loaded a generator trained {steps} steps on sprites, facing a fresh discriminator. \
                 Press New noise for other monsters, or Train to go on."
            ),
            false,
        );
    }

    async fn export(&mut self) -> Result<()> {
        let Some(m) = &self.models else { return Ok(()) };
        let (height, width, channels) = m.geometry();
        let steps = m.steps();
        let header = GanHeader {
            config: m.gan.config.clone(),
            height,
            width,
            channels,
            dataset: self.link.data.kind.to_string(),
            steps,
        };
        let bytes = super::canonical_file(m.gan.save(&self.ctx.gpu, &header).await?);
        dom::download(&bytes, &export_name("gan", self.link.data.kind.name(), steps))
            .map_err(|e| Error::Invalid(format!("the browser refused the download: {e:?}")))?;
        status(LAB, &format!("Exported the GAN at step {steps} ({} kB).", bytes.len() / 1024), false);
        Ok(())
    }

    fn import(&mut self, bytes: &[u8]) -> Result<String> {
        let Some(m) = self.models.as_mut() else {
            return Err(Error::Invalid("make a dataset first: the model must fit its images".into()));
        };
        let (gan, header) = Gan::load(&self.ctx.gpu, bytes)?;
        let (h, w, c) = m.geometry();
        if (header.height, header.width, header.channels) != (h, w, c) {
            return Err(Error::Invalid(format!(
                "it was trained on {}×{}×{} {} images, this lab has {h}×{w}×{c} {} images: switch the dataset first",
                header.height, header.width, header.channels, header.dataset, self.link.data.kind
            )));
        }
        let cfg = &header.config;
        let g = &mut self.link.gan;
        g.z = cfg.z_dim;
        g.hidden = cfg.hidden;
        g.batch = cfg.batch.min(m.device.train.count);
        g.g_lr = cfg.g_learning_rate;
        g.d_lr = cfg.d_learning_rate;
        g.d_steps = cfg.d_steps;
        g.real_label = cfg.real_label;
        self.link.seed = cfg.seed;
        m.gan = gan;
        m.offset = header.steps;
        m.plotted = 0;
        m.noise = None;
        self.walk = Walk::new(self.link.seed, cfg.z_dim);
        self.d_plot.clear();
        self.loss_plot.clear();
        fill_form(&self.link);
        self.stale = true;
        self.ctx.publish(&self.current_link());
        show_steps(LAB, header.steps, None, self.runner.running);
        Ok(format!("loaded a GAN trained {} steps on {}.", header.steps, header.dataset))
    }

    fn refresh(&mut self) -> Result<()> {
        let Some(m) = &self.models else { return Ok(()) };
        let gpu = &self.ctx.gpu;
        let geometry = m.geometry();
        let scale = scale_for(geometry.0, 32);
        if self.real_stale {
            self.real_stale = false;
            let count = REAL.min(m.device.train.count);
            self.views.real.draw(&m.device.train.rows, Layout::new(count, geometry, 2, scale), 0)?;
        }
        let images = match &m.noise {
            Some(z) => m.gan.generate(gpu, z)?,
            None => m.gan.fixed_samples(gpu)?,
        };
        self.views.grid.draw(&images, Layout::new(FIXED_SAMPLES, geometry, 8, scale), 0)?;
        self.walk.strip_stale = true;
        Ok(())
    }

    fn draw_walk(&mut self) -> Result<()> {
        let Some(m) = &self.models else { return Ok(()) };
        let gpu = &self.ctx.gpu;
        let geometry = m.geometry();
        if m.gan.config.z_dim != self.walk.from.len() {
            return Ok(());
        }
        let image = m.gan.generate_codes(gpu, &[self.walk.here()])?;
        let big = Layout { gap: 0, ..Layout::new(1, geometry, 1, scale_for(geometry.0, 128)) };
        self.views.walk.draw(&image, big, 0)?;
        let position = (self.walk.t * (WALK_STRIP - 1) as f64).round() as usize;
        let mut layout = Layout::new(WALK_STRIP, geometry, WALK_STRIP, scale_for(geometry.0, 40));
        layout.gap = 3;
        layout.ring_a = Some(position);
        if self.walk.strip_stale {
            self.walk.strip_stale = false;
            let strip = m.gan.latent_walk(gpu, &self.walk.from, &self.walk.to, WALK_STRIP)?;
            self.views.strip.draw(&strip, layout, 0)?;
            self.strip_images = Some(strip);
        } else if self.views.strip.layout_of().is_some_and(|l| l.ring_a != Some(position)) {
            if let Some(strip) = &self.strip_images {
                self.views.strip.draw(strip, layout, 0)?;
            }
        }
        Ok(())
    }
}
