//! The GAN lab: the generator and the discriminator evolving against each other, watched as
//! it happens — the same noise vectors decoded after every few steps (so each face visibly
//! changes), D's verdict on real and fake minibatches, and a walk along a great circle in
//! noise space that shows how smoothly the generator maps noise to images.

use super::{scale_for, show_imported, show_loss, status, Cmd, Core, Ctx, LiveLab, Pace, Trained};
use crate::data::device::DeviceDataset;
use crate::error::{Error, Result};
use crate::gpu::Tensor;
use crate::kernels::rng::{self, Stream};
use crate::link::{Lab, Link};
use crate::models::gan::{Gan, GanConfig, FIXED_SAMPLES};
use crate::models::latent::slerp_point;
use crate::models::{stream, Model, Purpose};
use crate::settings::copy_settings;
use crate::web::canvas::{GridView, Layout};
use crate::web::dom;
use crate::web::plot::Plot;

const LAB: Lab = Lab::Gan;
/// Real images shown next to the generated grid.
const REAL: usize = 16;
/// Frames of the walk strip.
const WALK_STRIP: usize = 8;
/// Seconds per walk segment (from one noise vector to the next).
const WALK_SECONDS: f64 = 4.0;
/// Least time between two frames of the walk animation.
const WALK_FRAME_MS: f64 = 80.0;

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
        slerp_point(&self.from, &self.to, self.t)
    }
}

struct Views {
    grid: GridView,
    real: GridView,
    walk: GridView,
    strip: GridView,
}

pub struct GanLab {
    core: Core<Gan>,
    views: Views,
    d_plot: Plot,
    loss_plot: Plot,
    /// The grid's noise: None for the GAN's own fixed noise, else a fresh batch.
    noise: Option<Tensor>,
    walk: Walk,
    /// The walk strip's images, kept to move the ring without decoding again.
    strip_images: Option<Tensor>,
    /// Where "new noise" batches come from.
    noise_stream: Stream,
    stale: bool,
    real_stale: bool,
    pace: Pace,
}

pub fn start(ctx: Ctx, link: Link) {
    super::launch(make(ctx, link));
}

/// The lab with its views and controls wired, before its first models.
fn make(ctx: Ctx, link: Link) -> Result<GanLab> {
    let core = Core::new(ctx, link)?;
    {
        let q = core.queue.clone();
        dom::on_id::<web_sys::Event>("gan-new-noise", "click", move |_| q.push(Cmd::NewNoise));
    }
    let views = make_views(&core.ctx)?;
    let d_plot = Plot::new("gan-dplot", &[("D(real)", "#3b7d6e"), ("D(fake)", "#d6457a")], Some((0.0, 1.0)))?;
    let loss_plot = Plot::new("gan-plot", &[("D loss", "#5d6470"), ("G loss", "#6d4ad6")], None)?;
    let lab = GanLab {
        walk: Walk::new(core.link.seed, core.link.gan.z_dim),
        noise_stream: stream(core.link.seed ^ 0x0B5E_55ED, Purpose::Sampling),
        core,
        views,
        d_plot,
        loss_plot,
        noise: None,
        strip_images: None,
        stale: true,
        real_stale: true,
        pace: Pace::default(),
    };
    Ok(lab)
}

fn make_views(ctx: &Ctx) -> Result<Views> {
    let d = &ctx.display;
    Ok(Views {
        grid: GridView::for_id(d, "gan-grid")?,
        real: GridView::for_id(d, "gan-real")?,
        walk: GridView::for_id(d, "gan-walk")?,
        strip: GridView::for_id(d, "gan-walk-strip")?,
    })
}

impl LiveLab for GanLab {
    type Model = Gan;
    const LAB: Lab = LAB;
    /// Made with `genlab train gan` (see www/pretrained/README.md). The file holds the
    /// averaged generator only: the discriminator starts fresh.
    const PRETRAINED: &'static [&'static str] = &["gan-sprites.safetensors"];
    const STARTS_AGAIN: &'static str = "the GAN starts again from step 0.";
    const UNCHANGED: &'static str = "the GAN is unchanged";

    crate::field_accessors!(core, core_mut: Core<Gan>);

    fn stale(&mut self) {
        self.stale = true;
    }

    fn remake_views(&mut self) -> Result<()> {
        self.views = make_views(&self.core.ctx)?;
        self.strip_images = None;
        self.walk.strip_stale = true;
        self.stale = true;
        self.real_stale = true;
        Ok(())
    }

    fn remake(&mut self) -> Result<()> {
        self.core.models = None;
        self.noise = None;
        self.d_plot.clear();
        self.loss_plot.clear();
        self.walk = Walk::new(self.core.link.seed, self.core.link.gan.z_dim);
        self.noise_stream = stream(self.core.link.seed ^ 0x0B5E_55ED, Purpose::Sampling);
        self.stale = true;
        self.real_stale = true;
        let gpu = &self.core.ctx.gpu;
        let dataset = self.core.dataset()?;
        let device = DeviceDataset::upload(gpu, &dataset)?;
        if self.core.link.gan.batch > device.train.count {
            self.core.link.gan.batch = device.train.count;
        }
        let gan = Gan::for_dataset(gpu, self.config(), &dataset)?;
        self.core.models = Some(Trained::new(device, dataset.heldout(), vec![gan]));
        Ok(())
    }

    fn collect_figures(&mut self, show: bool) -> Result<()> {
        let Some(models) = self.core.models.as_mut() else { return Ok(()) };
        let (loss_plot, d_plot) = (&mut self.loss_plot, &mut self.d_plot);
        models.collect(|_, _, record, step| {
            loss_plot.push(0, step, record.figure("d_loss"));
            loss_plot.push(1, step, record.figure("g_loss"));
            d_plot.push(0, step, record.figure("d_real"));
            d_plot.push(1, step, record.figure("d_fake"));
        })?;
        if show {
            self.d_plot.draw_if_changed();
            self.loss_plot.draw_if_changed();
            if let Some((record, step)) = models.latest() {
                show_loss(LAB, record.figure("d_loss"), step);
            }
        }
        Ok(())
    }

    /// The grids when they changed (paced), and the walk's next frame when it is time.
    async fn redraw(&mut self) -> Result<()> {
        let now = dom::now();
        if self.stale && self.pace.due(now, self.core.runner.running) {
            self.stale = false;
            self.refresh()?;
            self.pace.done(now);
        }
        let since = now - self.walk.last_frame;
        if since >= WALK_FRAME_MS.max(2.0 * self.pace.cost()) {
            self.walk.advance((since / 1000.0).min(0.25));
            self.walk.last_frame = now;
            self.draw_walk()?;
        }
        Ok(())
    }

    fn shown(&mut self) {
        self.stale = true;
        self.real_stale = true;
        self.d_plot.draw();
        self.loss_plot.draw();
    }

    /// A new learning rate applies from the next step: the GAN trains on (a run the guard
    /// stopped goes on from its last good checkpoint, more gently).
    fn retune(&mut self, key: &str) -> Option<String> {
        if key != "glr" && key != "dlr" {
            return None;
        }
        let (g, d) = (self.core.link.gan.g_learning_rate, self.core.link.gan.d_learning_rate);
        self.core.models.as_mut()?.nets[0].set_learning_rates(g, d).ok()?;
        Some(format!("Learning rates G {g}, D {d} from the next step on."))
    }

    fn sheet_summary(&self) -> Option<String> {
        let m = self.core.models.as_ref()?;
        let tiles = m.device.train.count + m.device.heldout.count;
        Some(format!("{tiles} tiles of {}×{}.", m.device.height, m.device.width))
    }

    fn import(&mut self, bytes: &[u8]) -> Result<String> {
        let Some(m) = self.core.models.as_mut() else {
            return Err(Error::Invalid("make a dataset first: the model must fit its images".into()));
        };
        let link = &mut self.core.link;
        let (gan, header) = m.load(&self.core.ctx.gpu, bytes)?;
        let cfg = &header.config;
        copy_settings(cfg, &mut link.gan);
        link.gan.batch = cfg.batch.min(m.device.train.count);
        link.seed = cfg.seed;
        m.adopt(0, gan, header.steps);
        self.noise = None;
        self.walk = Walk::new(link.seed, cfg.z_dim);
        self.d_plot.clear();
        self.loss_plot.clear();
        self.stale = true;
        Ok(show_imported(self, "a GAN", &header))
    }

    fn pretrained_loaded(&mut self, steps: u32) {
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

    async fn apply_own(&mut self, cmd: Cmd) -> Result<()> {
        match cmd {
            Cmd::Export(_) => self.core.export(0, "gan", "the GAN").await?,
            Cmd::NewNoise => {
                if let Some(m) = &self.core.models {
                    let z = m.nets[0].config.z_dim;
                    let s = self.noise_stream.take(FIXED_SAMPLES * z);
                    self.noise = Some(rng::normal(&self.core.ctx.gpu, s, [FIXED_SAMPLES, z], 0.0, 1.0)?);
                    self.stale = true;
                }
            }
            // The other labs' controls: none here.
            _ => {}
        }
        Ok(())
    }
}

impl GanLab {
    fn config(&self) -> GanConfig {
        self.core.link.gan_config()
    }

    fn refresh(&mut self) -> Result<()> {
        let Some(m) = &self.core.models else { return Ok(()) };
        let gpu = &self.core.ctx.gpu;
        let geometry = m.geometry();
        let scale = scale_for(geometry.0, 32);
        if self.real_stale {
            self.real_stale = false;
            let count = REAL.min(m.device.train.count);
            self.views.real.draw(&m.device.train.rows, Layout::new(count, geometry, 2, scale), 0)?;
        }
        let gan = &m.nets[0];
        let images = match &self.noise {
            Some(z) => gan.generate(gpu, z)?,
            None => gan.fixed_samples(gpu)?,
        };
        self.views.grid.draw(&images, Layout::new(FIXED_SAMPLES, geometry, 8, scale), 0)?;
        self.walk.strip_stale = true;
        Ok(())
    }

    fn draw_walk(&mut self) -> Result<()> {
        let Some(m) = &self.core.models else { return Ok(()) };
        let gpu = &self.core.ctx.gpu;
        let geometry = m.geometry();
        let gan = &m.nets[0];
        if gan.config.z_dim != self.walk.from.len() {
            return Ok(());
        }
        let image = gan.generate_codes(gpu, &[self.walk.here()])?;
        let big = Layout { gap: 0, ..Layout::new(1, geometry, 1, scale_for(geometry.0, 128)) };
        self.views.walk.draw(&image, big, 0)?;
        let position = (self.walk.t * (WALK_STRIP - 1) as f64).round() as usize;
        let mut layout = Layout::new(WALK_STRIP, geometry, WALK_STRIP, scale_for(geometry.0, 40));
        layout.gap = 3;
        layout.ring_a = Some(position);
        if self.walk.strip_stale {
            self.walk.strip_stale = false;
            let strip = gan.latent_walk(gpu, &self.walk.from, &self.walk.to, WALK_STRIP)?;
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
