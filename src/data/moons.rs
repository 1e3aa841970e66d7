//! Moon phases: 28×28 greyscale images of a sphere lit from a direction that turns once round
//! it as the phase goes from 0 to 1.
//!
//! Phase convention: 0 new, 0.25 first quarter (right half lit), 0.5 full, 0.75 last quarter
//! (left half lit), as seen from the northern hemisphere. With θ = 2π·phase the sun direction
//! is L = (sin θ, 0, −cos θ) (x right, y down, z towards the viewer), so the lit share of the
//! disc is (1 − cos θ)/2 ([`lit_fraction`]) and the terminator is the ellipse
//! x = ±cos θ·√(1 − y²).
//!
//! Brightness: background 0; the lit side [`MOON_LIT`] with a slight limb darkening
//! (×(0.85 + 0.15·z)); the dark side [`MOON_DARK_SIDE`] = 0.15 (earthshine), so a new moon is a
//! faint disc rather than nothing, and a blank image is measurably off the moon manifold; the
//! terminator is a soft ramp over n·L ∈ [−0.06, 0.06], averaged over 2×2 points per pixel;
//! the disc edge is anti-aliased by pixel coverage (a one-pixel ramp across the rim). The
//! image is a continuous function of phase and pose, which lets [`MoonManifold`] fit them.
//!
//! [`MoonManifold`] scores a model's image: the RMS distance to the nearest true moon.

use std::f32::consts::TAU;
use std::sync::OnceLock;

use super::rng::{Rng, DOMAIN_MOONS};
use super::{make_split, Dataset, DatasetKind};
use crate::error::{Error, Result};

/// Image side in pixels.
pub const MOON_SIZE: usize = 28;
/// Radius of the unjittered moon in pixels.
pub const MOON_RADIUS: f32 = 10.0;
/// Brightness of the lit side at the disc centre.
pub const MOON_LIT: f32 = 1.0;
/// Brightness of the dark side (earthshine).
pub const MOON_DARK_SIDE: f32 = 0.15;
/// Half-width of the terminator ramp in n·L.
const TERMINATOR: f32 = 0.06;
/// Shading points beyond this fraction of the radius are pulled back onto it.
const RIM: f32 = 0.999;

/// Size, position and orientation of one moon.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MoonPose {
    /// Radius in pixels.
    pub radius: f32,
    /// Shift of the centre from the image centre, in pixels (right, down).
    pub dx: f32,
    pub dy: f32,
    /// Rotation of the lit side about the view axis, radians, clockwise on screen.
    pub rotation: f32,
}

impl MoonPose {
    /// Radius [`MOON_RADIUS`], centred, unrotated.
    pub const CENTERED: MoonPose = MoonPose { radius: MOON_RADIUS, dx: 0.0, dy: 0.0, rotation: 0.0 };
}

impl Default for MoonPose {
    fn default() -> MoonPose {
        MoonPose::CENTERED
    }
}

/// How much dataset moons vary besides their phase; each is drawn uniformly in ±range.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MoonJitter {
    /// Radius varies by ± this fraction of [`MOON_RADIUS`] (at most 0.3).
    pub radius_frac: f32,
    /// Centre shifts by ± this many pixels in x and in y (at most 3).
    pub shift_px: f32,
    /// Rotation by ± this many degrees (at most 180).
    pub rotation_deg: f32,
}

impl MoonJitter {
    /// Every moon centred, same size, unrotated.
    pub const NONE: MoonJitter = MoonJitter { radius_frac: 0.0, shift_px: 0.0, rotation_deg: 0.0 };
    /// The datasets' default: radius ±10 %, shift ±1.5 px, rotation ±15°.
    pub const DEFAULT: MoonJitter = MoonJitter { radius_frac: 0.1, shift_px: 1.5, rotation_deg: 15.0 };

    /// Refuses ranges that would push the moon out of the image.
    pub fn validate(&self) -> Result<()> {
        let ok = |v: f32, max: f32| v.is_finite() && (0.0..=max).contains(&v);
        if !ok(self.radius_frac, 0.3) || !ok(self.shift_px, 3.0) || !ok(self.rotation_deg, 180.0) {
            return Err(Error::Invalid(format!(
                "moon jitter {self:?} is out of range: radius_frac 0..=0.3, shift_px 0..=3, \
                 rotation_deg 0..=180 (the moon must stay inside the {MOON_SIZE}×{MOON_SIZE} image)"
            )));
        }
        Ok(())
    }

    fn sample(&self, rng: &mut Rng) -> MoonPose {
        let mut sym = |r: f32| if r > 0.0 { rng.range_f32(-r, r) } else { 0.0 };
        let radius = MOON_RADIUS * (1.0 + sym(self.radius_frac));
        let dx = sym(self.shift_px);
        let dy = sym(self.shift_px);
        let rotation = sym(self.rotation_deg).to_radians();
        MoonPose { radius, dx, dy, rotation }
    }

    /// The pose limits as [min, max] for radius, dx, dy, rotation.
    fn bounds(&self) -> [[f32; 2]; 4] {
        let r = self.rotation_deg.to_radians();
        [
            [MOON_RADIUS * (1.0 - self.radius_frac), MOON_RADIUS * (1.0 + self.radius_frac)],
            [-self.shift_px, self.shift_px],
            [-self.shift_px, self.shift_px],
            [-r, r],
        ]
    }
}

impl Default for MoonJitter {
    fn default() -> MoonJitter {
        MoonJitter::DEFAULT
    }
}

/// The lit share of the disc at `phase`: (1 − cos 2π·phase)/2.
pub fn lit_fraction(phase: f32) -> f32 {
    (1.0 - (TAU * phase).cos()) / 2.0
}

/// The moon at `phase` (wrapped into [0, 1)) in `pose`: [`MOON_SIZE`]² values in [0, 1],
/// row-major.
pub fn render_moon(phase: f32, pose: &MoonPose) -> Vec<f32> {
    let mut out = vec![0.0; MOON_SIZE * MOON_SIZE];
    render_moon_into(phase, pose, &mut out);
    out
}

/// [`render_moon`] into a buffer of [`MOON_SIZE`]² values.
pub fn render_moon_into(phase: f32, pose: &MoonPose, out: &mut [f32]) {
    assert_eq!(out.len(), MOON_SIZE * MOON_SIZE, "render_moon_into: buffer size");
    let theta = TAU * phase.rem_euclid(1.0);
    let (sin_t, cos_t) = theta.sin_cos();
    let (sin_r, cos_r) = pose.rotation.sin_cos();
    let centre = MOON_SIZE as f32 / 2.0;
    let (mx, my) = (centre + pose.dx, centre + pose.dy);
    let r = pose.radius.max(0.5);
    let inv_r = 1.0 / r;
    // Shade of the sphere at a point given relative to the moon centre, in pixels; points
    // outside the disc are pulled onto its rim, so the shade is continuous everywhere.
    let shade = |x: f32, y: f32| -> f32 {
        // Into the moon's frame: undo the rotation.
        let mut xr = (x * cos_r + y * sin_r) * inv_r;
        let mut yr = (-x * sin_r + y * cos_r) * inv_r;
        let rr = xr * xr + yr * yr;
        if rr > RIM * RIM {
            let k = RIM / rr.sqrt();
            xr *= k;
            yr *= k;
        }
        let z = (1.0 - xr * xr - yr * yr).max(0.0).sqrt();
        let ndotl = xr * sin_t - z * cos_t;
        let t = ((ndotl + TERMINATOR) / (2.0 * TERMINATOR)).clamp(0.0, 1.0);
        let t = t * t * (3.0 - 2.0 * t);
        let lit = MOON_LIT * (0.85 + 0.15 * z);
        MOON_DARK_SIDE + (lit - MOON_DARK_SIDE) * t
    };
    for py in 0..MOON_SIZE {
        for px in 0..MOON_SIZE {
            let x = px as f32 + 0.5 - mx;
            let y = py as f32 + 0.5 - my;
            let d = (x * x + y * y).sqrt();
            // Share of the pixel inside the disc: a one-pixel linear ramp across the rim.
            let coverage = (r - d + 0.5).clamp(0.0, 1.0);
            let v = if coverage <= 0.0 {
                0.0
            } else {
                // The shade averaged over 2×2 points (anti-aliases the terminator).
                let mut acc = 0.0;
                for (ox, oy) in [(-0.25, -0.25), (0.25, -0.25), (-0.25, 0.25), (0.25, 0.25)] {
                    acc += shade(x + ox, y + oy);
                }
                coverage * acc / 4.0
            };
            out[py * MOON_SIZE + px] = v;
        }
    }
}

/// `count` moons under `seed`: phases uniform in [0, 1), poses drawn from `jitter`, greyscale
/// ([count, 28, 28, 1]), each with its phase, and the fixed split. Moon `i` is the same
/// whatever `count`.
pub fn moons(count: usize, seed: u64, jitter: &MoonJitter) -> Result<Dataset> {
    moons_with(count, seed, jitter, |rng, _| rng.f32())
}

/// `count` moons at only `phases` evenly spaced phases, starting at the full moon (K = 2: the
/// full moon and the new moon; K = 4 adds the two half moons), each a jittered copy: moon `i`
/// has phase ½ + (i mod K)/K. The lecture's toy, where the data leaves gaps between phases
/// for the codes to fill.
pub fn moons_at_phases(count: usize, phases: usize, seed: u64, jitter: &MoonJitter) -> Result<Dataset> {
    if phases == 0 {
        return Err(Error::Invalid("--phases must be at least 1 (2 gives a full moon and a new moon)".into()));
    }
    moons_with(count, seed, jitter, |rng, i| {
        // The same draws as `moons` (the phase's draw is spent), so that poses match.
        rng.f32();
        (0.5 + (i % phases) as f32 / phases as f32).rem_euclid(1.0)
    })
}

/// Moons whose phase `phase_of(rng, i)` picks, then a pose from `jitter` with the same rng.
fn moons_with(
    count: usize,
    seed: u64,
    jitter: &MoonJitter,
    phase_of: impl Fn(&mut Rng, usize) -> f32,
) -> Result<Dataset> {
    jitter.validate()?;
    let plane = MOON_SIZE * MOON_SIZE;
    let mut pixels = vec![0.0; count * plane];
    let mut phase = Vec::with_capacity(count);
    for (i, out) in pixels.chunks_exact_mut(plane).enumerate() {
        let mut rng = Rng::stream(seed, DOMAIN_MOONS, i as u64);
        let p = phase_of(&mut rng, i);
        let pose = jitter.sample(&mut rng);
        render_moon_into(p, &pose, out);
        phase.push(p);
    }
    let ds = Dataset {
        kind: DatasetKind::Moons,
        seed,
        count,
        height: MOON_SIZE,
        width: MOON_SIZE,
        channels: 1,
        pixels,
        indices: None,
        palette: None,
        phase: Some(phase),
        split: make_split(count, seed),
    };
    ds.validate()?;
    Ok(ds)
}

/// The nearest true moon to an image.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MoonMatch {
    /// RMS distance: √(mean over the 784 pixels of (image − moon)²), in brightness units.
    pub distance: f32,
    pub phase: f32,
    pub pose: MoonPose,
}

/// The set of true moons under a jitter range, for scoring images: a bank of pre-rendered
/// moons (every 1° of phase without jitter; every 4° of phase × 3 radii × 3×3 shifts with
/// jitter) gives starting points, then Levenberg–Marquardt over phase and pose (kept inside
/// the jitter range) refines the four best and the mirror phases of the two best. The distance found is that of a real moon, so it
/// is an upper bound on the true nearest distance; for a true moon it comes out near 0.
pub struct MoonManifold {
    jitter: MoonJitter,
    bank: Vec<f32>,
    /// The bank at [`COARSE`]× lower resolution, for [`MoonManifold::quick_distance`].
    coarse_bank: Vec<f32>,
    params: Vec<(f32, MoonPose)>,
}

/// Bank entries refined per query, and the most Levenberg–Marquardt iterations for each.
const STARTS: usize = 4;
const REFINE_ITERATIONS: usize = 40;
/// The quick search refines only the bank's nearest entry, and for fewer iterations.
const QUICK_ITERATIONS: usize = 8;
/// Side of the pixel squares averaged for the quick search (28 = 7 × 4).
const COARSE: usize = 4;
/// Bank entries the quick search compares at full resolution, the nearest at low resolution.
const QUICK_CANDIDATES: usize = 8;

/// A [`MOON_SIZE`]² image averaged over [`COARSE`]×[`COARSE`] squares.
fn coarse_moon(image: &[f32]) -> Vec<f32> {
    let side = MOON_SIZE / COARSE;
    let mut out = vec![0.0; side * side];
    for (i, v) in image.iter().enumerate() {
        let (y, x) = (i / MOON_SIZE / COARSE, i % MOON_SIZE / COARSE);
        out[y * side + x] += v / (COARSE * COARSE) as f32;
    }
    out
}

impl MoonManifold {
    /// The manifold of moons under `jitter` (use [`MoonJitter::NONE`] for unjittered data).
    pub fn new(jitter: MoonJitter) -> Result<MoonManifold> {
        jitter.validate()?;
        let [rb, xb, yb, _] = jitter.bounds();
        let levels = |b: [f32; 2]| -> Vec<f32> {
            if b[1] > b[0] {
                vec![b[0], (b[0] + b[1]) / 2.0, b[1]]
            } else {
                vec![b[0]]
            }
        };
        let jittered = jitter != MoonJitter::NONE;
        let phases = if jittered { 90 } else { 360 };
        let mut params = Vec::new();
        for k in 0..phases {
            let phase = k as f32 / phases as f32;
            for &radius in &levels(rb) {
                for &dx in &levels(xb) {
                    for &dy in &levels(yb) {
                        let pose = MoonPose { radius, dx, dy, rotation: 0.0 };
                        params.push((phase, pose));
                    }
                }
            }
        }
        let plane = MOON_SIZE * MOON_SIZE;
        let mut bank = vec![0.0; params.len() * plane];
        for ((phase, pose), out) in params.iter().zip(bank.chunks_exact_mut(plane)) {
            render_moon_into(*phase, pose, out);
        }
        let coarse_bank = bank.chunks_exact(plane).flat_map(coarse_moon).collect();
        Ok(MoonManifold { jitter, bank, coarse_bank, params })
    }

    pub fn jitter(&self) -> MoonJitter {
        self.jitter
    }

    /// RMS distance from `image` ([`MOON_SIZE`]² values) to the nearest true moon.
    pub fn distance(&self, image: &[f32]) -> Result<f32> {
        Ok(self.nearest(image)?.distance)
    }

    /// RMS distance from `image` to a nearby true moon, for the page, which scores images
    /// between frames: the bank's nearest entry is found in two passes (the
    /// [`QUICK_CANDIDATES`] nearest at [`COARSE`]× lower resolution, then those at full
    /// resolution) and refined alone, for at most [`QUICK_ITERATIONS`]. About a tenth of
    /// [`MoonManifold::distance`]'s time. It is an upper bound like `distance`, and mostly
    /// equal to it; now and then the one start settles a few hundredths above (a jittered
    /// moon between the bank's poses, refined from the wrong neighbour).
    pub fn quick_distance(&self, image: &[f32]) -> Result<f32> {
        check_moon_image(image)?;
        let plane = MOON_SIZE * MOON_SIZE;
        let coarse = coarse_moon(image);
        let mut ranked: Vec<(f32, usize)> =
            self.coarse_bank.chunks_exact(coarse.len()).enumerate().map(|(i, m)| (sq_dist(&coarse, m), i)).collect();
        let keep = QUICK_CANDIDATES.min(ranked.len());
        ranked.select_nth_unstable_by(keep - 1, |a, b| a.0.total_cmp(&b.0));
        let (_, best) = ranked[..keep]
            .iter()
            .map(|&(_, i)| (sq_dist(image, &self.bank[i * plane..(i + 1) * plane]), i))
            .min_by(|a, b| a.0.total_cmp(&b.0))
            .ok_or_else(|| Error::Invalid("the moon bank is empty".into()))?;
        let (phase, pose) = self.params[best];
        Ok(self.refine(image, phase, pose, QUICK_ITERATIONS).distance)
    }

    /// The nearest true moon to `image` ([`MOON_SIZE`]² values, greyscale in [0, 1]).
    pub fn nearest(&self, image: &[f32]) -> Result<MoonMatch> {
        check_moon_image(image)?;
        let plane = MOON_SIZE * MOON_SIZE;
        let mut ranked: Vec<(f32, usize)> =
            self.bank.chunks_exact(plane).enumerate().map(|(i, m)| (sq_dist(image, m), i)).collect();
        ranked.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let mut best: Option<MoonMatch> = None;
        // The best bank entries, and the mirror phases of the two best (near new and full
        // moon the waxing and waning sides differ only by a sliver).
        let mut starts: Vec<(f32, MoonPose)> = ranked.iter().take(STARTS).map(|&(_, i)| self.params[i]).collect();
        for k in 0..2.min(starts.len()) {
            let (phase, pose) = starts[k];
            starts.push(((1.0 - phase).rem_euclid(1.0), pose));
        }
        for (phase, pose) in starts {
            let m = self.refine(image, phase, pose, REFINE_ITERATIONS);
            if best.is_none_or(|b| m.distance < b.distance) {
                best = Some(m);
            }
        }
        Ok(best.expect("the bank is never empty"))
    }

    /// Levenberg–Marquardt on the squared distance from (phase, pose), with central-difference
    /// derivatives, the pose kept inside the jitter range and the phase wrapped into [0, 1).
    fn refine(&self, image: &[f32], phase: f32, pose: MoonPose, iterations: usize) -> MoonMatch {
        let bounds = self.jitter.bounds();
        let plane = MOON_SIZE * MOON_SIZE;
        // Parameters: phase, radius, dx, dy, rotation; only those the jitter lets vary.
        let steps = [1e-3f32, 0.05, 0.05, 0.05, 0.005];
        let active: Vec<usize> = (0..5).filter(|&j| j == 0 || bounds[j - 1][1] > bounds[j - 1][0]).collect();
        let project = |mut v: [f32; 5]| -> [f32; 5] {
            v[0] = v[0].rem_euclid(1.0);
            for j in 1..5 {
                v[j] = v[j].clamp(bounds[j - 1][0], bounds[j - 1][1]);
            }
            v
        };
        let render = |v: &[f32; 5], out: &mut [f32]| {
            let pose = MoonPose { radius: v[1], dx: v[2], dy: v[3], rotation: v[4] };
            render_moon_into(v[0], &pose, out);
        };
        let mut v = [phase, pose.radius, pose.dx, pose.dy, pose.rotation];
        let mut cur = vec![0.0; plane];
        render(&v, &mut cur);
        let mut cost = sq_dist(image, &cur) as f64;
        let mut lambda = 1e-3f64;
        let (mut plus, mut minus, mut trial) = (vec![0.0; plane], vec![0.0; plane], vec![0.0; plane]);
        let n = active.len();
        let mut jac = vec![vec![0.0f32; plane]; n];
        'outer: for _ in 0..iterations {
            if cost < 1e-12 {
                break;
            }
            for (col, &j) in active.iter().enumerate() {
                let (mut a, mut b) = (v, v);
                a[j] += steps[j];
                b[j] -= steps[j];
                render(&a, &mut plus);
                render(&b, &mut minus);
                for ((d, p), m) in jac[col].iter_mut().zip(&plus).zip(&minus) {
                    *d = (p - m) / (2.0 * steps[j]);
                }
            }
            // Normal equations: (JᵀJ + λ·diag(JᵀJ)) δ = −Jᵀr, r = render − image.
            let mut jtj = vec![vec![0.0f64; n]; n];
            let mut jtr = vec![0.0f64; n];
            for a in 0..n {
                for b in a..n {
                    let dot: f64 = jac[a].iter().zip(&jac[b]).map(|(x, y)| (*x as f64) * (*y as f64)).sum();
                    jtj[a][b] = dot;
                    jtj[b][a] = dot;
                }
                jtr[a] =
                    jac[a].iter().zip(cur.iter().zip(image)).map(|(d, (c, t))| (*d as f64) * ((c - t) as f64)).sum();
            }
            loop {
                let mut m = jtj.clone();
                for (k, row) in m.iter_mut().enumerate() {
                    row[k] += lambda * jtj[k][k].max(1e-9);
                }
                let rhs: Vec<f64> = jtr.iter().map(|g| -g).collect();
                let Some(delta) = solve(m, rhs) else { break 'outer };
                let mut w = v;
                for (col, &j) in active.iter().enumerate() {
                    w[j] += delta[col] as f32;
                }
                let w = project(w);
                render(&w, &mut trial);
                let c = sq_dist(image, &trial) as f64;
                if c < cost {
                    let gain = cost - c;
                    v = w;
                    cost = c;
                    std::mem::swap(&mut cur, &mut trial);
                    lambda = (lambda / 3.0).max(1e-9);
                    if gain < 1e-9 * (1.0 + cost) {
                        break 'outer;
                    }
                    break;
                }
                lambda *= 4.0;
                if lambda > 1e8 {
                    break 'outer;
                }
            }
        }
        MoonMatch {
            distance: (cost / plane as f64).sqrt() as f32,
            phase: v[0].rem_euclid(1.0).min(1.0 - f32::EPSILON),
            pose: MoonPose { radius: v[1], dx: v[2], dy: v[3], rotation: v[4] },
        }
    }
}

/// Refuses an image that is not [`MOON_SIZE`]² greyscale values.
fn check_moon_image(image: &[f32]) -> Result<()> {
    let plane = MOON_SIZE * MOON_SIZE;
    if image.len() != plane {
        return Err(Error::Invalid(format!(
            "moon distance needs a {MOON_SIZE}×{MOON_SIZE} greyscale image ({plane} values), got {} values",
            image.len()
        )));
    }
    Ok(())
}

/// Solves the small linear system `m x = rhs` by Gaussian elimination with partial pivoting;
/// None when it is singular.
fn solve(mut m: Vec<Vec<f64>>, mut rhs: Vec<f64>) -> Option<Vec<f64>> {
    let n = rhs.len();
    for col in 0..n {
        let pivot = (col..n).max_by(|&a, &b| m[a][col].abs().total_cmp(&m[b][col].abs()))?;
        if m[pivot][col].abs() < 1e-300 {
            return None;
        }
        m.swap(col, pivot);
        rhs.swap(col, pivot);
        let (top, below) = m.split_at_mut(col + 1);
        let pivot_row = &top[col];
        for (row, r) in below.iter_mut().enumerate() {
            let f = r[col] / pivot_row[col];
            for (x, p) in r[col..].iter_mut().zip(&pivot_row[col..]) {
                *x -= f * p;
            }
            rhs[col + 1 + row] -= f * rhs[col];
        }
    }
    let mut x = vec![0.0; n];
    for row in (0..n).rev() {
        let s: f64 = (row + 1..n).map(|k| m[row][k] * x[k]).sum();
        x[row] = (rhs[row] - s) / m[row][row];
    }
    Some(x)
}

fn sq_dist(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// RMS distance from `image` ([`MOON_SIZE`]² greyscale values) to the nearest true moon under
/// the default jitter ([`MoonJitter::DEFAULT`]); about 0 for a real moon, about 0.08 for a
/// blank image. The manifold is built once, on first use.
pub fn nearest_moon_distance(image: &[f32]) -> Result<f32> {
    static DEFAULT: OnceLock<MoonManifold> = OnceLock::new();
    DEFAULT.get_or_init(|| MoonManifold::new(MoonJitter::DEFAULT).expect("default jitter is valid")).distance(image)
}
