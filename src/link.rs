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
//! A model's keys are its declared settings ([`crate::settings`], beside each config): the
//! link holds the model's config itself, and reads and writes it through them. The keys of
//! the dataset, the run and the labs' own views are declared here.
//!
//! Parsing never fails: every value that is malformed, out of range, repeated, unknown, too
//! long or not a finite number becomes a [`Notice`] that names the key, says what was wrong
//! and what was used instead (the default, or the nearest allowed value where one input
//! limits another), and the rest of the link still applies.
//!
//! Pure Rust, no browser: tested natively in `tests/link.rs`.

use std::fmt;

use crate::data::{make_split, sheet, sprites, DatasetKind};
use crate::models::gan::GanConfig;
use crate::models::pixel_rnn::PixelRnnConfig;
use crate::models::vae::VaeConfig;
use crate::settings::{Declared, Field, Setting};
use crate::{switch, whole};

/// Longest link text read; the rest is ignored (and reported).
pub const MAX_LINK_CHARS: usize = 4096;
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
            DatasetKind::Sheet => (sheet::MIN_TILE, sheet::MAX_TILE),
            _ => (sprites::MIN_SPRITE_SIZE, sprites::MAX_SPRITE_SIZE),
        }
    }
}

/// Everything a link says.
#[derive(Clone, Debug, PartialEq)]
pub struct Link {
    pub lab: Lab,
    pub data: DataLink,
    /// Seed of the model: initial weights, minibatches, noise. The configs' own `seed`
    /// fields are not read: [`Link::vae_config`] and its kin fill them from this.
    pub seed: u64,
    /// Training steps to replay (0: none).
    pub steps: u32,
    /// The VAE lab's model.
    pub vae: VaeConfig,
    /// The VAE lab trains a plain autoencoder side by side.
    pub compare: bool,
    /// The two held-out images the VAE lab interpolates between (None: a full moon and a
    /// crescent).
    pub pair: Option<(usize, usize)>,
    /// The GAN lab's model.
    pub gan: GanConfig,
    /// The PixelRNN lab's model.
    pub rnn: PixelRnnConfig,
    /// The PixelRNN lab's sampling temperature (1 = the model's own distribution, 0 =
    /// always the likeliest colour).
    pub temperature: f32,
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

const SEED_MAX: u64 = u32::MAX as u64;
const COUNT_MAX: u64 = 10_000;

/// The dataset's keys, every model lab's.
const DATA_SETTINGS: &[Setting<DataLink>] = &[
    Setting {
        key: "data",
        flag: None,
        label: "Images",
        unit: "",
        help: "What the lab trains on: generated sprites or moons, or a sprite sheet of your own.",
        field: Field::Choice {
            names: &["sprites", "moons", "sheet"],
            get: |d| d.kind.name(),
            set: |d, name| {
                if let Ok(kind) = name.parse() {
                    d.kind = kind
                }
            },
        },
    },
    Setting {
        key: "count",
        flag: None,
        label: "How many",
        unit: "",
        help: "Images generated (a sheet has as many as it has tiles).",
        field: whole!(count: usize, 10, COUNT_MAX),
    },
    // Checked against the dataset kind's own range by `Link::fix`.
    Setting {
        key: "size",
        flag: None,
        label: "Sprite size",
        unit: "px",
        help: "Side of a sprite, or of a sheet's tile.",
        field: whole!(size: usize, sheet::MIN_TILE as u64, sheet::MAX_TILE as u64),
    },
    Setting {
        key: "colors",
        flag: None,
        label: "Colours",
        unit: "",
        help: "Palette size a sheet is quantised to.",
        field: whole!(colors: usize, sheet::MIN_COLORS as u64, sheet::MAX_COLORS as u64),
    },
    Setting {
        key: "dseed",
        flag: None,
        label: "Data seed",
        unit: "",
        help: "Seed of the images and of the train/held-out split.",
        field: whole!(seed: u64, 0, SEED_MAX),
    },
];

/// The run's keys, every model lab's.
const RUN_SETTINGS: &[Setting<Link>] = &[
    Setting {
        key: "seed",
        flag: None,
        label: "Seed",
        unit: "",
        help: "Seed of the model: initial weights, minibatches, noise.",
        field: whole!(seed: u64, 0, SEED_MAX),
    },
    Setting {
        key: "steps",
        flag: None,
        label: "Steps",
        unit: "",
        help: "Training steps a link replays.",
        field: whole!(steps: u32, 0, 1_000_000),
    },
];

/// The VAE lab's own key, beside its model's.
const VAE_LAB_SETTINGS: &[Setting<Link>] = &[Setting {
    key: "compare",
    flag: None,
    label: "Train a plain autoencoder alongside",
    unit: "",
    help: "The baseline the lecture compares with: the same network with no noise and no KL.",
    field: switch!(compare),
}];

/// The PixelRNN lab's own key, beside its model's.
const RNN_LAB_SETTINGS: &[Setting<Link>] = &[Setting {
    key: "temp",
    flag: None,
    label: "Temperature",
    unit: "",
    help: "Sampling temperature: 1 paints from the model's own distribution, 0 always the likeliest colour.",
    field: crate::number!(temperature, 0.0, 5.0),
}];

/// The keys of the VAE lab's interpolation pair: held-out image indices, given together.
const PAIR_KEYS: [&str; 2] = ["a", "b"];

/// A lab's setting, wherever it is declared: the link reads and writes it in the part of
/// itself that the declaration's config is.
#[derive(Clone, Copy)]
pub enum LabSetting {
    Data(&'static Setting<DataLink>),
    Link(&'static Setting<Link>),
    Vae(&'static Setting<VaeConfig>),
    Gan(&'static Setting<GanConfig>),
    Rnn(&'static Setting<PixelRnnConfig>),
}

/// What a form needs to show one setting.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct About {
    pub key: &'static str,
    pub label: &'static str,
    pub unit: &'static str,
    pub help: &'static str,
    pub input: Input,
}

/// The form control a setting is edited with.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Input {
    /// A number box; `whole` steps by one, otherwise any number is allowed.
    Number {
        min: f64,
        max: f64,
        whole: bool,
    },
    Checkbox,
    Select(&'static [&'static str]),
}

fn about<C>(s: &Setting<C>) -> About {
    let input = match &s.field {
        Field::Whole { min, max, .. } => Input::Number { min: *min as f64, max: *max as f64, whole: true },
        Field::Number { min, max, .. } => Input::Number { min: *min as f64, max: *max as f64, whole: false },
        Field::Switch { .. } => Input::Checkbox,
        Field::Choice { names, .. } => Input::Select(names),
    };
    About { key: s.key, label: s.label, unit: s.unit, help: s.help, input }
}

impl LabSetting {
    pub fn key(self) -> &'static str {
        self.about().key
    }

    pub fn about(self) -> About {
        match self {
            LabSetting::Data(s) => about(s),
            LabSetting::Link(s) => about(s),
            LabSetting::Vae(s) => about(s),
            LabSetting::Gan(s) => about(s),
            LabSetting::Rnn(s) => about(s),
        }
    }

    fn text(self, link: &Link) -> String {
        match self {
            LabSetting::Data(s) => s.text(&link.data),
            LabSetting::Link(s) => s.text(link),
            LabSetting::Vae(s) => s.text(&link.vae),
            LabSetting::Gan(s) => s.text(&link.gan),
            LabSetting::Rnn(s) => s.text(&link.rnn),
        }
    }

    fn apply(self, link: &mut Link, text: &str) -> Result<(), String> {
        match self {
            LabSetting::Data(s) => s.apply(&mut link.data, text),
            LabSetting::Link(s) => s.apply(link, text),
            LabSetting::Vae(s) => s.apply(&mut link.vae, text),
            LabSetting::Gan(s) => s.apply(&mut link.gan, text),
            LabSetting::Rnn(s) => s.apply(&mut link.rnn, text),
        }
    }
}

impl Lab {
    /// Every setting the lab reads, in the form's order: the dataset's, the model's, the
    /// lab's own, then the run's.
    pub fn settings(self) -> Vec<LabSetting> {
        let data = DATA_SETTINGS.iter().map(LabSetting::Data);
        let run = RUN_SETTINGS.iter().map(LabSetting::Link);
        let own = |list: &'static [Setting<Link>]| list.iter().map(LabSetting::Link);
        let model: Vec<LabSetting> = match self {
            Lab::Vae => VaeConfig::SETTINGS.iter().map(LabSetting::Vae).chain(own(VAE_LAB_SETTINGS)).collect(),
            Lab::Gan => GanConfig::SETTINGS.iter().map(LabSetting::Gan).collect(),
            Lab::PixelRnn => {
                PixelRnnConfig::SETTINGS.iter().map(LabSetting::Rnn).chain(own(RNN_LAB_SETTINGS)).collect()
            }
            Lab::Kernels => return Vec::new(),
        };
        data.chain(model).chain(run).collect()
    }

    /// The settings of the lab's model form: the model's, the lab's own, and the seed (the
    /// dataset has a fieldset of its own; the steps a link replays have no control).
    pub fn form_settings(self) -> Vec<LabSetting> {
        let in_form = |s: &LabSetting| !matches!(s, LabSetting::Data(_)) && s.key() != "steps";
        self.settings().into_iter().filter(in_form).collect()
    }

    fn setting(self, key: &str) -> Option<LabSetting> {
        self.settings().into_iter().find(|s| s.key() == key)
    }

    /// Whether the lab reads `key` (its settings, and the VAE lab's pair).
    fn reads(self, key: &str) -> bool {
        self.setting(key).is_some() || (self == Lab::Vae && PAIR_KEYS.contains(&key))
    }
}

/// The first lab (other than `lab`) that has a setting called `key`.
fn other_lab_with(lab: Lab, key: &str) -> Option<Lab> {
    Lab::ALL.into_iter().find(|&l| l != lab && l.reads(key))
}

/// Either index of the VAE lab's pair, read under the same rules as a setting.
const PAIR_INDEX: Setting<usize> = Setting {
    key: "a",
    flag: None,
    label: "Held-out image",
    unit: "",
    help: "A held-out image the VAE lab interpolates from or to.",
    field: Field::Whole { min: 0, max: COUNT_MAX, get: |i| *i as u64, set: |i, v| *i = v as usize },
};

fn read_index(text: &str) -> Result<usize, String> {
    let mut index = 0;
    PAIR_INDEX.apply(&mut index, text)?;
    Ok(index)
}

impl Link {
    /// The defaults of `lab`.
    pub fn for_lab(lab: Lab) -> Link {
        Link {
            lab,
            data: DataLink::default_for(lab),
            seed: 1,
            steps: 0,
            vae: VaeConfig::in_the_tab(),
            compare: true,
            pair: None,
            gan: GanConfig::default(),
            rnn: PixelRnnConfig::default(),
            temperature: 1.0,
        }
    }

    /// The VAE lab's model (or, with `autoencoder`, its baseline) under the link's seed.
    pub fn vae_config(&self, autoencoder: bool) -> VaeConfig {
        VaeConfig { autoencoder, seed: self.seed, ..self.vae.clone() }
    }

    /// The GAN lab's model under the link's seed.
    pub fn gan_config(&self) -> GanConfig {
        GanConfig { seed: self.seed, ..self.gan.clone() }
    }

    /// The PixelRNN lab's model under the link's seed.
    pub fn rnn_config(&self) -> PixelRnnConfig {
        PixelRnnConfig { seed: self.seed, ..self.rnn.clone() }
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
            if !lab.reads(key) {
                let why = match other_lab_with(lab, key) {
                    Some(other) if lab == Lab::Kernels => {
                        format!("is a {} setting; the Kernels tab has none", other.title())
                    }
                    Some(other) => format!("is a {} setting, not one of the {} lab", other.title(), lab.title()),
                    None => "is not a setting genlab knows".into(),
                };
                notices.push(notice(key, value, why, "ignored it"));
                continue;
            }
            if let Err(problem) = link.set_key(key, value) {
                let used = match lab.setting(key) {
                    Some(setting) => format!("used {}", setting.text(&defaults)),
                    None => "used the default pair".into(),
                };
                notices.push(notice(key, value, problem, used));
            }
        }
        // `a` and `b` only mean something together.
        let given = |k: &str| pairs.iter().any(|(key, _)| key == k);
        if lab == Lab::Vae && given("a") != given("b") {
            let (k, missing) = if given("a") { ("a", "b") } else { ("b", "a") };
            let v = pairs.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str()).unwrap_or("");
            notices.push(notice(k, v, format!("needs {missing} too"), "picked the default pair"));
            link.pair = None;
        }
        notices.extend(link.fix());
        (link, notices)
    }

    /// Sets one key the lab reads from text; on error nothing changes.
    fn set_key(&mut self, key: &str, text: &str) -> Result<(), String> {
        if let Some(setting) = self.lab.setting(key) {
            return setting.apply(self, text);
        }
        let index = read_index(text)?;
        let (a, b) = self.pair.unwrap_or((0, 0));
        self.pair = Some(if key == "a" { (index, b) } else { (a, index) });
        Ok(())
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
            let batch = self.batch_mut();
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
        if let (Some((a, b)), Some(held)) = (self.pair, self.data.heldout_count()) {
            if self.lab == Lab::Vae && (a >= held || b >= held) {
                let (k, v) = if a >= held { ("a", a) } else { ("b", b) };
                notices.push(notice(
                    k,
                    &v.to_string(),
                    format!("is not one of the {held} held-out images (0 to {})", held - 1),
                    "picked the default pair",
                ));
                self.pair = None;
            }
        }
        notices
    }

    /// The batch size of the lab's model.
    pub fn batch_mut(&mut self) -> &mut usize {
        match self.lab {
            Lab::Vae => &mut self.vae.batch,
            Lab::Gan => &mut self.gan.batch,
            _ => &mut self.rnn.batch,
        }
    }

    /// Every key this link's lab reads, in the form's order (`lab` itself not included).
    pub fn keys(&self) -> Vec<&'static str> {
        let pair = if self.lab == Lab::Vae { &PAIR_KEYS[..] } else { &[] };
        self.lab.settings().into_iter().map(LabSetting::key).chain(pair.iter().copied()).collect()
    }

    /// The value of `key` as a link writes it, if the lab reads that key (the pair's keys
    /// are empty while no pair is picked).
    pub fn value(&self, key: &str) -> Option<String> {
        if let Some(setting) = self.lab.setting(key) {
            return Some(setting.text(self));
        }
        let index = PAIR_KEYS.iter().position(|k| *k == key).filter(|_| self.lab == Lab::Vae)?;
        Some(self.pair.map(|p| if index == 0 { p.0 } else { p.1 }.to_string()).unwrap_or_default())
    }

    /// Sets `key` from text under the same rules as a link (the page's form uses this, so a
    /// typed value and a linked one are checked alike). On error nothing changes and the
    /// message says what is allowed. Call [`Link::fix`] afterwards.
    pub fn set_value(&mut self, key: &str, text: &str) -> Result<(), String> {
        if !self.lab.reads(key) {
            return Err(format!("{key} is not a {} setting", self.lab.title()));
        }
        self.set_key(key, text).map_err(|problem| format!("{key} {problem}"))
    }

    /// The link as a query string (without `#` or `?`): the lab, then every setting the lab
    /// reads, so that opening it later restores exactly this setup even if defaults change.
    /// Numbers are written in their shortest form that reads back to the same value. Of the
    /// dataset's keys, only those its kind uses are written.
    pub fn to_query(&self) -> String {
        let unused_by_kind = |key: &str| match self.data.kind {
            DatasetKind::Sprites => key == "colors",
            DatasetKind::Moons => key == "size" || key == "colors",
            DatasetKind::Sheet => key == "count",
        };
        let mut pairs: Vec<(&str, String)> = vec![("lab", self.lab.name().into())];
        for setting in self.lab.settings() {
            if !(matches!(setting, LabSetting::Data(_)) && unused_by_kind(setting.key())) {
                pairs.push((setting.key(), setting.text(self)));
            }
        }
        if let (Lab::Vae, Some((a, b))) = (self.lab, self.pair) {
            pairs.extend([("a", a.to_string()), ("b", b.to_string())]);
        }
        pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
    }
}
