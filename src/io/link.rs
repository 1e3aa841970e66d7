//! The page's setup in its URL: which lab, which dataset, the model's hyperparameters, the
//! seed and how many steps were trained. A link is a query string (the page keeps it in the
//! fragment, `#lab=vae&data=moons&…`, so static hosting never sees it):
//!
//! ```text
//! lab=vae  data=moons  count=2000  dseed=1  seed=7  steps=500
//! hidden=128  latent=2  batch=32  lr=0.002  beta=1  warmup=200  compare=1  a=3  b=17
//! ```
//!
//! Keys other than `lab` are read for the lab the link opens (`hidden` is the VAE's hidden
//! width in a VAE link, the GAN's in a GAN link). Same seed and same steps train the same
//! model, so a link replays a run exactly.
//!
//! Parsing never fails: every value that is malformed, out of range, repeated, unknown, too
//! long or not a finite number becomes a [`Notice`] that names the key, says what was wrong
//! and what was used instead (the default, or the nearest allowed value where one input
//! limits another), and the rest of the link still applies.
//!
//! Pure Rust, no browser: tested natively in `tests/link.rs`.

use std::fmt;

use crate::data::{make_split, DatasetKind};
use crate::models::gan::Upsampler;

/// Longest link text read; the rest is ignored (and reported).
pub const MAX_LINK_CHARS: usize = 4096;
/// Longest value accepted for one key.
pub const MAX_VALUE_CHARS: usize = 64;
/// Most `key=value` pairs read.
pub const MAX_PAIRS: usize = 64;
/// How much of a bad value a notice repeats.
const SHOWN_CHARS: usize = 24;

/// The page's tabs, in the lecture's order, plus the kernel self-test.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Lab {
    PixelRnn,
    Vae,
    Gan,
    Kernels,
}

impl Lab {
    pub const ALL: [Lab; 4] = [Lab::PixelRnn, Lab::Vae, Lab::Gan, Lab::Kernels];

    /// The name in links and element ids.
    pub fn name(self) -> &'static str {
        match self {
            Lab::PixelRnn => "pixelrnn",
            Lab::Vae => "vae",
            Lab::Gan => "gan",
            Lab::Kernels => "kernels",
        }
    }

    /// The name people read.
    pub fn title(self) -> &'static str {
        match self {
            Lab::PixelRnn => "PixelRNN",
            Lab::Vae => "VAE",
            Lab::Gan => "GAN",
            Lab::Kernels => "Kernels",
        }
    }

    pub fn from_name(name: &str) -> Option<Lab> {
        Lab::ALL.into_iter().find(|l| l.name() == name)
    }

    /// Whether this lab trains a model on a dataset (everything but the kernel self-test).
    pub fn has_model(self) -> bool {
        self != Lab::Kernels
    }

    /// Whether the lab can use `kind`. The PixelRNN predicts palette indices, so it needs a
    /// palette dataset (not the greyscale moons).
    pub fn accepts(self, kind: DatasetKind) -> bool {
        match self {
            Lab::PixelRnn => kind.has_palette(),
            _ => true,
        }
    }
}

/// The dataset a lab trains on.
#[derive(Clone, Debug, PartialEq)]
pub struct DataLink {
    pub kind: DatasetKind,
    /// Number of generated images (sprites, moons; a sheet has as many as it has tiles).
    pub count: usize,
    /// Sprite side, or a sheet's tile side, in pixels.
    pub size: usize,
    /// Palette size a sheet is quantised to.
    pub colors: usize,
    /// Seed of the images and of the train/held-out split.
    pub seed: u64,
}

impl DataLink {
    pub fn default_for(lab: Lab) -> DataLink {
        let kind = if lab == Lab::Vae { DatasetKind::Moons } else { DatasetKind::Sprites };
        DataLink { kind, count: 2000, size: 16, colors: 16, seed: 1 }
    }

    /// Held-out images of a generated dataset of this size (None for a sheet: it depends on
    /// the file).
    pub fn heldout_count(&self) -> Option<usize> {
        (self.kind != DatasetKind::Sheet).then(|| make_split(self.count, self.seed).iter().filter(|&&s| s == 1).count())
    }

    /// Training images of a generated dataset of this size (None for a sheet).
    pub fn train_count(&self) -> Option<usize> {
        self.heldout_count().map(|h| self.count - h)
    }

    /// The accepted range of `size` for this kind of dataset.
    pub fn size_range(&self) -> (usize, usize) {
        match self.kind {
            DatasetKind::Sheet => (crate::data::sheet::MIN_TILE, crate::data::sheet::MAX_TILE),
            _ => (crate::data::sprites::MIN_SPRITE_SIZE, crate::data::sprites::MAX_SPRITE_SIZE),
        }
    }
}

/// The VAE lab's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct VaeLink {
    pub hidden: usize,
    /// Latent dimensions; 2 shows the latent map.
    pub latent: usize,
    pub batch: usize,
    pub lr: f32,
    /// Weight of the KL term.
    pub beta: f32,
    /// Steps over which the KL weight ramps up.
    pub warmup: u32,
    /// Train a plain autoencoder side by side.
    pub compare: bool,
    /// The two held-out images interpolated between (None: a full moon and a crescent).
    pub pair: Option<(usize, usize)>,
}

impl Default for VaeLink {
    fn default() -> VaeLink {
        VaeLink { hidden: 128, latent: 2, batch: 32, lr: 2e-3, beta: 1.0, warmup: 200, compare: true, pair: None }
    }
}

/// The GAN lab's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct GanLink {
    pub z: usize,
    pub hidden: usize,
    pub batch: usize,
    pub g_lr: f32,
    pub d_lr: f32,
    /// Discriminator updates per generator update.
    pub d_steps: u32,
    /// The discriminator's target for real images (0.9: one-sided label smoothing).
    pub real_label: f32,
    /// Channels of D's first layer, a convolution (0: none).
    pub d_conv: usize,
    /// Channels of G's upsampling, transposed convolutions (0: none, an MLP generator).
    pub g_conv: usize,
    /// How G's upsampling grows its map.
    pub g_upsampler: Upsampler,
    /// Whether D sees each batch's spread (the minibatch standard deviation).
    pub spread: bool,
    /// Whether D's weights are spectrally normalised.
    pub spectral_norm: bool,
    /// Whether G's hidden layers are pixel-normalised.
    pub pixel_norm: bool,
}

/// The model's own defaults, so the page trains what the command line trains.
impl Default for GanLink {
    fn default() -> GanLink {
        let c = crate::models::gan::GanConfig::default();
        GanLink {
            z: c.z_dim,
            hidden: c.hidden,
            batch: c.batch,
            g_lr: c.g_learning_rate,
            d_lr: c.d_learning_rate,
            d_steps: c.d_steps,
            real_label: c.real_label,
            d_conv: c.d_conv_channels,
            g_conv: c.g_conv_channels,
            g_upsampler: c.g_upsampler,
            spread: c.d_minibatch_stddev,
            spectral_norm: c.d_spectral_norm,
            pixel_norm: c.g_pixel_norm,
        }
    }
}

/// The PixelRNN lab's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct RnnLink {
    pub hidden: usize,
    /// Stacked LSTM layers (1 or 2).
    pub layers: usize,
    pub batch: usize,
    pub lr: f32,
    /// Sampling temperature (1 = the model's own distribution, 0 = always the likeliest
    /// colour).
    pub temperature: f32,
}

/// The model's own defaults, so the page trains what the command line trains.
impl Default for RnnLink {
    fn default() -> RnnLink {
        let c = crate::models::pixel_rnn::PixelRnnConfig::default();
        RnnLink { hidden: c.hidden, layers: c.layers, batch: c.batch, lr: c.learning_rate, temperature: 1.0 }
    }
}

/// Everything a link says.
#[derive(Clone, Debug, PartialEq)]
pub struct Link {
    pub lab: Lab,
    pub data: DataLink,
    /// Seed of the model: initial weights, minibatches, noise.
    pub seed: u64,
    /// Training steps to replay (0: none).
    pub steps: u32,
    pub vae: VaeLink,
    pub gan: GanLink,
    pub rnn: RnnLink,
}

impl Default for Link {
    fn default() -> Link {
        Link::for_lab(Lab::Vae)
    }
}

/// One thing a link got wrong, and what the page did about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    /// The key as written (shortened if long); `link` for the link as a whole.
    pub key: String,
    /// The value as written (shortened if long).
    pub given: String,
    pub problem: String,
    /// What the page used instead.
    pub used: String,
}

impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.given.is_empty() {
            write!(f, "{}: {}; {}", self.key, self.problem, self.used)
        } else {
            write!(f, "{}={:?}: {}; {}", self.key, self.given, self.problem, self.used)
        }
    }
}

/// At most [`SHOWN_CHARS`] characters of `s`, with an ellipsis when cut.
fn shorten(s: &str) -> String {
    if s.chars().count() <= SHOWN_CHARS {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(SHOWN_CHARS).collect();
        out.push('…');
        out
    }
}

fn notice(key: &str, given: &str, problem: impl Into<String>, used: impl Into<String>) -> Notice {
    Notice { key: shorten(key), given: shorten(given), problem: problem.into(), used: used.into() }
}

/// Decodes `%XX` escapes and `+` (a space in query strings). None if an escape is broken
/// or the bytes are not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// What a key is and how its value is read.
#[derive(Clone, Copy)]
enum Rule {
    /// A whole number in `min..=max`.
    Uint(u64, u64),
    /// A finite number in `(min, max]` when the flag is set, else `[min, max]`.
    Float {
        min: f32,
        max: f32,
        above_min: bool,
    },
    Bool,
    Kind,
    /// How an upsampling generator grows its map.
    Upsampler,
}

impl Rule {
    fn describe(self) -> String {
        match self {
            Rule::Uint(min, max) => format!("a whole number from {min} to {max}"),
            Rule::Float { min, max, above_min: true } => format!("a number above {min} and at most {max}"),
            Rule::Float { min, max, above_min: false } => format!("a number from {min} to {max}"),
            Rule::Bool => "1 or 0".into(),
            Rule::Kind => "sprites, moons or sheet".into(),
            Rule::Upsampler => "resize or transposed".into(),
        }
    }
}

/// A value read from a link under its rule.
enum Value {
    Uint(u64),
    Float(f32),
    Bool(bool),
    Kind(DatasetKind),
    Upsampler(Upsampler),
}

fn read_value(rule: Rule, s: &str) -> Result<Value, String> {
    if s.is_empty() {
        return Err("has no value".into());
    }
    if s.chars().count() > MAX_VALUE_CHARS {
        return Err(format!("is {} characters long, more than any setting needs", s.chars().count()));
    }
    match rule {
        Rule::Uint(min, max) => {
            if !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("is not {}", rule.describe()));
            }
            let v: u64 = s.parse().map_err(|_| format!("is too large: use {}", rule.describe()))?;
            if v < min || v > max {
                return Err(format!("is out of range: use {}", rule.describe()));
            }
            Ok(Value::Uint(v))
        }
        Rule::Float { min, max, above_min } => {
            let v: f32 = s.parse().map_err(|_| format!("is not a number: use {}", rule.describe()))?;
            if !v.is_finite() {
                return Err(format!("is not a finite number: use {}", rule.describe()));
            }
            let low_ok = if above_min { v > min } else { v >= min };
            if !low_ok || v > max {
                return Err(format!("is out of range: use {}", rule.describe()));
            }
            Ok(Value::Float(v))
        }
        Rule::Bool => match s.to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(Value::Bool(true)),
            "0" | "false" | "no" | "off" => Ok(Value::Bool(false)),
            _ => Err(format!("is not {}", rule.describe())),
        },
        Rule::Kind => s.parse::<DatasetKind>().map(Value::Kind).map_err(|_| format!("is not {}", rule.describe())),
        Rule::Upsampler => {
            s.parse::<Upsampler>().map(Value::Upsampler).map_err(|_| format!("is not {}", rule.describe()))
        }
    }
}

const SEED_MAX: u64 = u32::MAX as u64;
const STEPS_MAX: u64 = 1_000_000;
const COUNT_MIN: u64 = 10;
const COUNT_MAX: u64 = 10_000;
const BATCH_MAX: u64 = 512;
const HIDDEN_MAX: u64 = 1024;
const LR: Rule = Rule::Float { min: 0.0, max: 1.0, above_min: true };

/// Keys every model lab reads.
const COMMON_KEYS: &[(&str, Rule)] = &[
    ("data", Rule::Kind),
    ("count", Rule::Uint(COUNT_MIN, COUNT_MAX)),
    // Checked against the dataset kind's own range afterwards.
    ("size", Rule::Uint(crate::data::sheet::MIN_TILE as u64, crate::data::sheet::MAX_TILE as u64)),
    ("colors", Rule::Uint(crate::data::sheet::MIN_COLORS as u64, crate::data::sheet::MAX_COLORS as u64)),
    ("dseed", Rule::Uint(0, SEED_MAX)),
    ("seed", Rule::Uint(0, SEED_MAX)),
    ("steps", Rule::Uint(0, STEPS_MAX)),
];

const VAE_KEYS: &[(&str, Rule)] = &[
    ("hidden", Rule::Uint(1, HIDDEN_MAX)),
    ("latent", Rule::Uint(1, 32)),
    ("batch", Rule::Uint(1, BATCH_MAX)),
    ("lr", LR),
    ("beta", Rule::Float { min: 0.0, max: 10.0, above_min: false }),
    ("warmup", Rule::Uint(0, 100_000)),
    ("compare", Rule::Bool),
    ("a", Rule::Uint(0, COUNT_MAX)),
    ("b", Rule::Uint(0, COUNT_MAX)),
];

const GAN_KEYS: &[(&str, Rule)] = &[
    ("z", Rule::Uint(1, 128)),
    ("hidden", Rule::Uint(1, HIDDEN_MAX)),
    ("batch", Rule::Uint(1, BATCH_MAX)),
    ("glr", LR),
    ("dlr", LR),
    ("dsteps", Rule::Uint(1, 16)),
    ("label", Rule::Float { min: 0.0, max: 1.0, above_min: true }),
    ("dconv", Rule::Uint(0, 64)),
    ("gconv", Rule::Uint(0, 64)),
    ("gup", Rule::Upsampler),
    ("spread", Rule::Bool),
    ("sn", Rule::Bool),
    ("pn", Rule::Bool),
];

const RNN_KEYS: &[(&str, Rule)] = &[
    ("hidden", Rule::Uint(1, 512)),
    ("layers", Rule::Uint(1, 2)),
    ("batch", Rule::Uint(1, 256)),
    ("lr", LR),
    ("temp", Rule::Float { min: 0.0, max: 5.0, above_min: false }),
];

fn lab_keys(lab: Lab) -> &'static [(&'static str, Rule)] {
    match lab {
        Lab::Vae => VAE_KEYS,
        Lab::Gan => GAN_KEYS,
        Lab::PixelRnn => RNN_KEYS,
        Lab::Kernels => &[],
    }
}

fn rule_for(lab: Lab, key: &str) -> Option<Rule> {
    let common: &[(&str, Rule)] = if lab.has_model() { COMMON_KEYS } else { &[] };
    common.iter().chain(lab_keys(lab)).find(|(k, _)| *k == key).map(|(_, r)| *r)
}

/// The first lab (other than `lab`) that has a setting called `key`.
fn other_lab_with(lab: Lab, key: &str) -> Option<Lab> {
    Lab::ALL.into_iter().find(|&l| l != lab && rule_for(l, key).is_some())
}

impl Link {
    /// The defaults of `lab`.
    pub fn for_lab(lab: Lab) -> Link {
        Link {
            lab,
            data: DataLink::default_for(lab),
            seed: 1,
            steps: 0,
            vae: VaeLink::default(),
            gan: GanLink::default(),
            rnn: RnnLink::default(),
        }
    }

    /// Reads a link (with or without its leading `#` or `?`). Never fails: whatever is
    /// wrong is listed in the notices and replaced.
    pub fn parse(text: &str) -> (Link, Vec<Notice>) {
        let mut notices = Vec::new();
        let text = text.strip_prefix(['#', '?']).unwrap_or(text);
        let text = if text.chars().count() > MAX_LINK_CHARS {
            notices.push(notice(
                "link",
                "",
                format!("is {} characters long", text.chars().count()),
                format!("read only its first {MAX_LINK_CHARS}"),
            ));
            let end = text.char_indices().nth(MAX_LINK_CHARS).map_or(text.len(), |(i, _)| i);
            &text[..end]
        } else {
            text
        };

        // Pairs in order; a key given twice keeps its first value.
        let mut pairs: Vec<(String, String)> = Vec::new();
        for (n, part) in text.split('&').filter(|p| !p.is_empty()).enumerate() {
            if n == MAX_PAIRS {
                notices.push(notice(
                    "link",
                    "",
                    format!("has more than {MAX_PAIRS} settings"),
                    format!("read only the first {MAX_PAIRS}"),
                ));
                break;
            }
            let (raw_key, raw_value) = part.split_once('=').unwrap_or((part, ""));
            let (Some(key), Some(value)) = (percent_decode(raw_key), percent_decode(raw_value)) else {
                notices.push(notice(raw_key, raw_value, "has a broken %-escape", "ignored it"));
                continue;
            };
            if pairs.iter().any(|(k, _)| *k == key) {
                notices.push(notice(&key, &value, "is given more than once", "used the first value"));
                continue;
            }
            pairs.push((key, value));
        }

        let lab = match pairs.iter().find(|(k, _)| k == "lab") {
            None => Lab::Vae,
            Some((_, v)) => Lab::from_name(v).unwrap_or_else(|| {
                notices.push(notice("lab", v, "is not a lab (pixelrnn, vae, gan or kernels)", "opened the VAE lab"));
                Lab::Vae
            }),
        };
        let mut link = Link::for_lab(lab);
        let defaults = link.clone();
        for (key, value) in &pairs {
            if key == "lab" {
                continue;
            }
            let Some(rule) = rule_for(lab, key) else {
                let why = match other_lab_with(lab, key) {
                    Some(other) if lab == Lab::Kernels => {
                        format!("is a {} setting; the Kernels tab has none", other.title())
                    }
                    Some(other) => format!("is a {} setting, not one of the {} lab", other.title(), lab.title()),
                    None => "is not a setting genlab knows".into(),
                };
                notices.push(notice(key, value, why, "ignored it"));
                continue;
            };
            match read_value(rule, value) {
                Ok(v) => link.set(key, v),
                Err(problem) => {
                    let used = format!("used {}", defaults.get(key));
                    notices.push(notice(key, value, problem, used));
                }
            }
        }
        // `a` and `b` only mean something together.
        let given = |k: &str| pairs.iter().any(|(key, _)| key == k);
        if lab == Lab::Vae && given("a") != given("b") {
            let (k, missing) = if given("a") { ("a", "b") } else { ("b", "a") };
            let v = pairs.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str()).unwrap_or("");
            notices.push(notice(k, v, format!("needs {missing} too"), "picked the default pair"));
            link.vae.pair = None;
        }
        notices.extend(link.fix());
        (link, notices)
    }

    /// Makes the settings agree with each other: a dataset the lab can use, a size in the
    /// kind's range, batches no larger than the training split, an interpolation pair inside
    /// the held-out split. Returns what it changed. The page calls this after every edit too.
    pub fn fix(&mut self) -> Vec<Notice> {
        let mut notices = Vec::new();
        if !self.lab.has_model() {
            return notices;
        }
        if !self.lab.accepts(self.data.kind) {
            let fallback = DataLink::default_for(self.lab).kind;
            notices.push(notice(
                "data",
                self.data.kind.name(),
                format!("has no palette, and the {} lab predicts palette colours", self.lab.title()),
                format!("used {fallback}"),
            ));
            self.data.kind = fallback;
        }
        let (min, max) = self.data.size_range();
        if !(min..=max).contains(&self.data.size) {
            let what = if self.data.kind == DatasetKind::Sheet { "tile" } else { "sprite" };
            let used = self.data.size.clamp(min, max);
            notices.push(notice(
                "size",
                &self.data.size.to_string(),
                format!("is outside the {what} sizes {min} to {max}"),
                format!("used {used}"),
            ));
            self.data.size = used;
        }
        if let Some(train) = self.data.train_count() {
            let batch = match self.lab {
                Lab::Vae => &mut self.vae.batch,
                Lab::Gan => &mut self.gan.batch,
                _ => &mut self.rnn.batch,
            };
            if *batch > train {
                notices.push(notice(
                    "batch",
                    &batch.to_string(),
                    format!("is more than the {train} training images"),
                    format!("used {train}"),
                ));
                *batch = train;
            }
        }
        if let (Some((a, b)), Some(held)) = (self.vae.pair, self.data.heldout_count()) {
            if self.lab == Lab::Vae && (a >= held || b >= held) {
                let (k, v) = if a >= held { ("a", a) } else { ("b", b) };
                notices.push(notice(
                    k,
                    &v.to_string(),
                    format!("is not one of the {held} held-out images (0 to {})", held - 1),
                    "picked the default pair",
                ));
                self.vae.pair = None;
            }
        }
        notices
    }

    /// Every key this link's lab reads, common ones first (`lab` itself not included).
    pub fn keys(&self) -> Vec<&'static str> {
        let common: &[(&str, Rule)] = if self.lab.has_model() { COMMON_KEYS } else { &[] };
        common.iter().chain(lab_keys(self.lab)).map(|(k, _)| *k).collect()
    }

    /// The value of `key` as a link writes it, if the lab reads that key.
    pub fn value(&self, key: &str) -> Option<String> {
        rule_for(self.lab, key)?;
        Some(match key {
            "a" => self.vae.pair.map(|p| p.0.to_string()).unwrap_or_default(),
            "b" => self.vae.pair.map(|p| p.1.to_string()).unwrap_or_default(),
            _ => self.get(key),
        })
    }

    /// Sets `key` from text under the same rules as a link (the page's form uses this, so a
    /// typed value and a linked one are checked alike). On error nothing changes and the
    /// message says what is allowed. Call [`Link::fix`] afterwards.
    pub fn set_value(&mut self, key: &str, text: &str) -> Result<(), String> {
        let rule = rule_for(self.lab, key).ok_or_else(|| format!("{key} is not a {} setting", self.lab.title()))?;
        let value = read_value(rule, text).map_err(|problem| format!("{key} {problem}"))?;
        self.set(key, value);
        Ok(())
    }

    fn set(&mut self, key: &str, value: Value) {
        let uint = |v: &Value| match v {
            Value::Uint(u) => *u,
            _ => unreachable!("rule and field agree"),
        };
        let float = |v: &Value| match v {
            Value::Float(f) => *f,
            _ => unreachable!("rule and field agree"),
        };
        match (self.lab, key) {
            (_, "data") => {
                if let Value::Kind(k) = value {
                    self.data.kind = k
                }
            }
            (_, "count") => self.data.count = uint(&value) as usize,
            (_, "size") => self.data.size = uint(&value) as usize,
            (_, "colors") => self.data.colors = uint(&value) as usize,
            (_, "dseed") => self.data.seed = uint(&value),
            (_, "seed") => self.seed = uint(&value),
            (_, "steps") => self.steps = uint(&value) as u32,
            (Lab::Vae, "hidden") => self.vae.hidden = uint(&value) as usize,
            (Lab::Vae, "latent") => self.vae.latent = uint(&value) as usize,
            (Lab::Vae, "batch") => self.vae.batch = uint(&value) as usize,
            (Lab::Vae, "lr") => self.vae.lr = float(&value),
            (Lab::Vae, "beta") => self.vae.beta = float(&value),
            (Lab::Vae, "warmup") => self.vae.warmup = uint(&value) as u32,
            (Lab::Vae, "compare") => {
                if let Value::Bool(b) = value {
                    self.vae.compare = b
                }
            }
            (Lab::Vae, "a") => {
                let b = self.vae.pair.map_or(0, |p| p.1);
                self.vae.pair = Some((uint(&value) as usize, b));
            }
            (Lab::Vae, "b") => {
                let a = self.vae.pair.map_or(0, |p| p.0);
                self.vae.pair = Some((a, uint(&value) as usize));
            }
            (Lab::Gan, "z") => self.gan.z = uint(&value) as usize,
            (Lab::Gan, "hidden") => self.gan.hidden = uint(&value) as usize,
            (Lab::Gan, "batch") => self.gan.batch = uint(&value) as usize,
            (Lab::Gan, "glr") => self.gan.g_lr = float(&value),
            (Lab::Gan, "dlr") => self.gan.d_lr = float(&value),
            (Lab::Gan, "dsteps") => self.gan.d_steps = uint(&value) as u32,
            (Lab::Gan, "label") => self.gan.real_label = float(&value),
            (Lab::Gan, "dconv") => self.gan.d_conv = uint(&value) as usize,
            (Lab::Gan, "gconv") => self.gan.g_conv = uint(&value) as usize,
            (Lab::Gan, "spread") => {
                if let Value::Bool(b) = value {
                    self.gan.spread = b
                }
            }
            (Lab::Gan, "sn") => {
                if let Value::Bool(b) = value {
                    self.gan.spectral_norm = b
                }
            }
            (Lab::Gan, "pn") => {
                if let Value::Bool(b) = value {
                    self.gan.pixel_norm = b
                }
            }
            (Lab::Gan, "gup") => {
                if let Value::Upsampler(u) = value {
                    self.gan.g_upsampler = u
                }
            }
            (Lab::PixelRnn, "hidden") => self.rnn.hidden = uint(&value) as usize,
            (Lab::PixelRnn, "layers") => self.rnn.layers = uint(&value) as usize,
            (Lab::PixelRnn, "batch") => self.rnn.batch = uint(&value) as usize,
            (Lab::PixelRnn, "lr") => self.rnn.lr = float(&value),
            (Lab::PixelRnn, "temp") => self.rnn.temperature = float(&value),
            _ => {}
        }
    }

    /// The value of `key` as a link writes it (for notices: "used 128").
    fn get(&self, key: &str) -> String {
        match (self.lab, key) {
            (_, "data") => self.data.kind.name().into(),
            (_, "count") => self.data.count.to_string(),
            (_, "size") => self.data.size.to_string(),
            (_, "colors") => self.data.colors.to_string(),
            (_, "dseed") => self.data.seed.to_string(),
            (_, "seed") => self.seed.to_string(),
            (_, "steps") => self.steps.to_string(),
            (Lab::Vae, "hidden") => self.vae.hidden.to_string(),
            (Lab::Vae, "latent") => self.vae.latent.to_string(),
            (Lab::Vae, "batch") => self.vae.batch.to_string(),
            (Lab::Vae, "lr") => self.vae.lr.to_string(),
            (Lab::Vae, "beta") => self.vae.beta.to_string(),
            (Lab::Vae, "warmup") => self.vae.warmup.to_string(),
            (Lab::Vae, "compare") => (self.vae.compare as u8).to_string(),
            (Lab::Vae, "a" | "b") => "the default pair".into(),
            (Lab::Gan, "z") => self.gan.z.to_string(),
            (Lab::Gan, "hidden") => self.gan.hidden.to_string(),
            (Lab::Gan, "batch") => self.gan.batch.to_string(),
            (Lab::Gan, "glr") => self.gan.g_lr.to_string(),
            (Lab::Gan, "dlr") => self.gan.d_lr.to_string(),
            (Lab::Gan, "dsteps") => self.gan.d_steps.to_string(),
            (Lab::Gan, "label") => self.gan.real_label.to_string(),
            (Lab::Gan, "dconv") => self.gan.d_conv.to_string(),
            (Lab::Gan, "gconv") => self.gan.g_conv.to_string(),
            (Lab::Gan, "spread") => (self.gan.spread as u8).to_string(),
            (Lab::Gan, "sn") => (self.gan.spectral_norm as u8).to_string(),
            (Lab::Gan, "pn") => (self.gan.pixel_norm as u8).to_string(),
            (Lab::Gan, "gup") => self.gan.g_upsampler.name().to_string(),
            (Lab::PixelRnn, "hidden") => self.rnn.hidden.to_string(),
            (Lab::PixelRnn, "layers") => self.rnn.layers.to_string(),
            (Lab::PixelRnn, "batch") => self.rnn.batch.to_string(),
            (Lab::PixelRnn, "lr") => self.rnn.lr.to_string(),
            (Lab::PixelRnn, "temp") => self.rnn.temperature.to_string(),
            _ => String::new(),
        }
    }

    /// The link as a query string (without `#` or `?`): the lab, then every setting the lab
    /// reads, so that opening it later restores exactly this setup even if defaults change.
    /// Numbers are written in their shortest form that reads back to the same value.
    pub fn to_query(&self) -> String {
        let mut pairs: Vec<(&str, String)> = vec![("lab", self.lab.name().into())];
        if self.lab.has_model() {
            pairs.push(("data", self.data.kind.name().into()));
            match self.data.kind {
                DatasetKind::Sprites => {
                    pairs.push(("count", self.data.count.to_string()));
                    pairs.push(("size", self.data.size.to_string()));
                }
                DatasetKind::Moons => pairs.push(("count", self.data.count.to_string())),
                DatasetKind::Sheet => {
                    pairs.push(("size", self.data.size.to_string()));
                    pairs.push(("colors", self.data.colors.to_string()));
                }
            }
            pairs.push(("dseed", self.data.seed.to_string()));
            pairs.push(("seed", self.seed.to_string()));
            pairs.push(("steps", self.steps.to_string()));
            for (key, _) in lab_keys(self.lab) {
                match *key {
                    "a" => {
                        if let Some((a, _)) = self.vae.pair {
                            pairs.push(("a", a.to_string()));
                        }
                    }
                    "b" => {
                        if let Some((_, b)) = self.vae.pair {
                            pairs.push(("b", b.to_string()));
                        }
                    }
                    _ => pairs.push((key, self.get(key))),
                }
            }
        }
        pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
    }
}
