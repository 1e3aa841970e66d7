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
use crate::{choice, switch, whole};

mod query;

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

    /// Whether this kind of dataset reads the key: a sheet has as many images as tiles (no
    /// `count`), moons have one size and no palette (no `size`, no `colors`), generated
    /// sprites have the fixed palette (no `colors`). Links leave the others out and the
    /// form hides them.
    pub fn uses(&self, key: &str) -> bool {
        match self.kind {
            DatasetKind::Sprites => key != "colors",
            DatasetKind::Moons => key != "size" && key != "colors",
            DatasetKind::Sheet => key != "count",
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
        field: choice!(
            kind,
            &["sprites", "moons", "sheet"],
            &["monster sprites", "moon phases (28×28, grey)", "your sprite sheet"]
        ),
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
    /// A list of names, each shown by its title.
    Select {
        names: &'static [&'static str],
        titles: &'static [&'static str],
    },
}

/// The f64 that reads as `v` does: 0.9999, not 0.9998999834060669 (a number box's bounds).
fn shortest(v: f32) -> f64 {
    v.to_string().parse().unwrap_or(v as f64)
}

fn about<C>(s: &Setting<C>) -> About {
    let input = match &s.field {
        Field::Whole { min, max, .. } => Input::Number { min: *min as f64, max: *max as f64, whole: true },
        Field::Number { min, max, .. } => Input::Number { min: shortest(*min), max: shortest(*max), whole: false },
        Field::Switch { .. } => Input::Checkbox,
        Field::Choice { names, titles, .. } => Input::Select { names, titles },
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

    /// The settings of the lab's dataset form.
    pub fn data_settings(self) -> Vec<LabSetting> {
        self.settings().into_iter().filter(|s| matches!(s, LabSetting::Data(_))).collect()
    }

    /// The names a list offers for `setting`, each with its title: every name, except that
    /// a lab's list of datasets holds only those it can use.
    pub fn choices(self, setting: LabSetting) -> Vec<(&'static str, &'static str)> {
        let Input::Select { names, titles } = setting.about().input else { return Vec::new() };
        let usable = |name: &&str| match setting {
            LabSetting::Data(_) => name.parse::<DatasetKind>().map_or(true, |kind| self.accepts(kind)),
            _ => true,
        };
        names.iter().zip(titles).filter(|(name, _)| usable(name)).map(|(n, t)| (*n, *t)).collect()
    }

    fn setting(self, key: &str) -> Option<LabSetting> {
        self.settings().into_iter().find(|s| s.key() == key)
    }

    /// Whether the lab reads `key` (its settings, and the VAE lab's pair).
    fn reads(self, key: &str) -> bool {
        self.setting(key).is_some() || (self == Lab::Vae && PAIR_KEYS.contains(&key))
    }
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
}
