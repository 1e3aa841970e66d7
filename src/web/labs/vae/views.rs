//! What the VAE lab draws from its models: the held-out picker, each model's interpolation
//! strip, sample grid and latent map, the point dragged on a map, and the moon shares.

use super::{
    VaeLab, DOTS, FIT_CODES, JUDGE_EVERY_MS, MAP, PICKABLE, PRIOR_EXTENT, REFIT_EVERY_MS, RULE_IMAGES, SAMPLES, STRIP,
};
use crate::error::Result;
use crate::gpu::Tensor;
use crate::models::random_codes::{training_codes, CodeGaussian};
use crate::models::vae::latent_grid;
use crate::models::{stream, Purpose};
use crate::web::canvas::{GridView, Layout};
use crate::web::dom;
use crate::web::labs::moon_judge::{Images, Verdicts};
use crate::web::labs::{scale_for, Ctx};

pub(super) struct Views {
    pub(super) picker: GridView,
    pub(super) strips: [GridView; 2],
    pub(super) samples: [GridView; 2],
    pub(super) maps: [GridView; 2],
    pub(super) points: [GridView; 2],
}

pub(super) fn make_views(ctx: &Ctx) -> Result<Views> {
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

impl VaeLab {
    /// Redraws every view from the models as they are now.
    pub(super) async fn refresh(&mut self) -> Result<()> {
        let (Some(m), Some(c)) = (&self.core.models, &mut self.codes) else { return Ok(()) };
        let gpu = self.core.ctx.gpu.clone();
        let geometry = m.geometry();
        let (h, w, _) = geometry;
        let len = m.device.image_len();

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
                if c.fitted.as_ref().is_none_or(|(_, at)| now - at >= REFIT_EVERY_MS) {
                    let fit = CodeGaussian::fit(&training_codes(&gpu, net, &m.device, FIT_CODES).await?)?;
                    let codes: Vec<f32> = fit.sample(stream(self.core.link.seed, Purpose::Sampling), SAMPLES).concat();
                    c.fitted = Some((Tensor::from_slice(&gpu, [SAMPLES, net.config.latent], &codes)?, now));
                }
                c.fitted.as_ref().map_or(&c.noise, |(codes, _)| codes)
            } else {
                &c.noise
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
        let (Some(m), Some(c)) = (&self.core.models, &self.codes) else { return Ok(()) };
        if m.heldout.phase.is_none() || !self.judge.due(dom::now(), JUDGE_EVERY_MS) {
            return Ok(());
        }
        let gpu = &self.core.ctx.gpu;
        let len = m.device.image_len();
        let rows = |t: Vec<f32>| -> Vec<Vec<f32>> { t.chunks(len).map(<[f32]>::to_vec).collect() };
        let n = m.heldout.count.min(RULE_IMAGES);
        let x = m.device.heldout.range(gpu, 0, n)?.reshape([n, len])?;
        let mut models = Vec::new();
        for net in &m.nets {
            let codes = match &c.fitted {
                Some((codes, _)) if net.config.autoencoder => codes,
                _ => &c.noise,
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
    pub(super) fn show_verdicts(&mut self, verdicts: Vec<Verdicts>) {
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
    pub(super) fn draw_point(&mut self, i: usize) -> Result<()> {
        let Some(m) = &self.core.models else { return Ok(()) };
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
