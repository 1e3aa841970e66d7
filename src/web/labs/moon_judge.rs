//! Which of the VAE lab's decoded images are real moons, judged on the CPU a few images per
//! frame, so that the page never stalls on it.
//!
//! A round takes, for each model, its reconstructions of held-out moons (they set the
//! model's [`MoonRule`]), its sample grid and, with a 2-D latent, its latent map's cells.
//! Each image is scored by [`MoonManifold::quick_distance`] (the bank's nearest moon refined
//! from one start: a tenth of the command line's tens of milliseconds an image), and a round
//! holds a few hundred images, so [`MoonJudge::work`] scores images until its time budget is
//! spent and hands back the verdicts when the round is complete. The rule is the command
//! line's; the distances are mostly the same, now and then a few hundredths above.

use crate::data::{MoonJitter, MoonManifold};
use crate::error::Result;
use crate::models::random_codes::MoonRule;
use crate::web::dom;

/// What one model's images are in a round.
pub struct Images {
    /// Its reconstructions of held-out moons.
    pub reconstructions: Vec<Vec<f32>>,
    /// Its sample grid.
    pub samples: Vec<Vec<f32>>,
    /// Its latent map's cells, row by row (empty without a map).
    pub cells: Vec<Vec<f32>>,
}

/// One model's verdicts.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdicts {
    pub rule: MoonRule,
    /// Which samples are moons.
    pub samples: Vec<bool>,
    /// Which map cells are moons (empty without a map).
    pub cells: Vec<bool>,
}

impl Verdicts {
    pub fn sample_moons(&self) -> usize {
        self.samples.iter().filter(|&&m| m).count()
    }
}

/// The images of a round in scoring order, and their distances so far.
struct Round {
    models: Vec<Images>,
    distances: Vec<Vec<f64>>,
}

#[derive(Default)]
pub struct MoonJudge {
    /// Built on first use (it renders a bank of a few thousand moons).
    manifold: Option<MoonManifold>,
    round: Option<Round>,
    /// When the last round was started (ms).
    started: f64,
}

impl MoonJudge {
    /// Whether a round is being scored.
    pub fn busy(&self) -> bool {
        self.round.is_some()
    }

    /// Whether a new round may start at `now`: none under way, and `every` ms since the last.
    pub fn due(&self, now: f64, every: f64) -> bool {
        !self.busy() && now - self.started >= every
    }

    /// Starts a round on these images (one entry per model).
    pub fn start(&mut self, models: Vec<Images>) {
        self.started = dom::now();
        let distances = models.iter().map(|_| Vec::new()).collect();
        self.round = Some(Round { models, distances });
    }

    /// Drops the round under way (new models).
    pub fn forget(&mut self) {
        self.round = None;
        self.started = 0.0;
    }

    /// Scores images for about `budget_ms`; the verdicts, per model, once the round is
    /// complete.
    pub fn work(&mut self, budget_ms: f64) -> Result<Option<Vec<Verdicts>>> {
        let Some(manifold) = &self.manifold else {
            if self.round.is_some() {
                // Building it takes this frame's budget.
                self.manifold = Some(MoonManifold::new(MoonJitter::default())?);
            }
            return Ok(None);
        };
        let Some(round) = self.round.take() else { return Ok(None) };
        let Round { models, mut distances } = round;
        let start = dom::now();
        for (m, scored) in models.iter().zip(&mut distances) {
            let images = m.reconstructions.iter().chain(&m.samples).chain(&m.cells);
            for image in images.skip(scored.len()) {
                scored.push(manifold.quick_distance(image)? as f64);
                if dom::now() - start > budget_ms {
                    self.round = Some(Round { models, distances });
                    return Ok(None);
                }
            }
        }
        let round = Round { models, distances };
        let verdicts = round
            .models
            .iter()
            .zip(&round.distances)
            .map(|(m, d)| {
                let (recon, rest) = d.split_at(m.reconstructions.len());
                let (samples, cells) = rest.split_at(m.samples.len());
                let rule = MoonRule::from_reconstructions(recon)?;
                let judge = |ds: &[f64]| ds.iter().map(|&d| rule.is_moon(d)).collect();
                Ok(Verdicts { rule, samples: judge(samples), cells: judge(cells) })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Some(verdicts))
    }
}
