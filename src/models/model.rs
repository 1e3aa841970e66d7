//! What the command line and the page ask of every model alike: its config (declared
//! settings, seed, batch), a fresh model made for a dataset, a training step on a dataset
//! already on the GPU, its monitor (whose records name their figures), new images drawn, and
//! its weights file (the header that says what it was trained on, written and read back).

use std::collections::BTreeMap;
use std::future::Future;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::data::device::DeviceDataset;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::kernels::rng::Stream;
use crate::models::Monitor;
use crate::nn::checkpoint::Source;
use crate::nn::snapshot::Resumable;
use crate::settings::Declared;

/// A model as `genlab train` and the page's labs drive it (its snapshots come with
/// [`Resumable`]).
pub trait Model: Resumable + Sized {
    /// What its weights file holds besides the tensors.
    type Header: Header;
    /// Its settings, declared once: the link's keys, the lab's form, the command line's flags.
    type Config: Config;
    /// The `model` metadata of its weights files, and its name on the command line.
    const TAG: &'static str;
    /// What the page and the command line call it: "VAE".
    const NAME: &'static str;
    /// Steps a `genlab train` of the default settings takes unless told otherwise.
    const TRAINING_STEPS: u32;

    /// A fresh model with `config`, made for `data`'s images.
    fn for_dataset(gpu: &Gpu, config: Self::Config, data: &Dataset) -> Result<Self>;

    fn monitor(&self) -> &Monitor;
    fn monitor_mut(&mut self) -> &mut Monitor;

    /// One training step on `data`'s training split, submitted; figures reach the monitor
    /// later.
    fn train_step(&mut self, gpu: &Gpu, data: &DeviceDataset) -> Result<()>;

    /// The header of a file of this model as trained `steps` steps on `data`.
    fn header(&self, data: &Dataset, steps: u32) -> Self::Header;

    /// Its weights file, with `header`.
    fn save<'a>(&'a self, source: Source<'a>, header: &'a Self::Header) -> impl Future<Output = Result<Vec<u8>>> + 'a;

    /// The model a weights file holds, with fresh optimiser state, and the file's header.
    fn load(gpu: &Gpu, bytes: &[u8]) -> Result<(Self, Self::Header)>;

    /// `count` new images drawn with `sampling`, as pixels in [0, 1] laid out
    /// `[count, height, width, channels]` in `header`'s geometry (a palette model's in its
    /// header's colours).
    fn draw<'a>(
        &'a self,
        gpu: &'a Gpu,
        header: &'a Self::Header,
        sampling: Stream,
        count: usize,
    ) -> impl Future<Output = Result<Vec<f32>>> + 'a;
}

/// A model's config: its declared settings, and the seed of its weights, minibatches and
/// noise, which a link and `--seed` give apart from the settings.
pub trait Config: Declared + Clone {
    fn with_seed(self, seed: u64) -> Self;
    /// Examples per training step.
    fn batch(&self) -> usize;
}

/// `impl Config` for a config whose fields `seed` and `batch` are what they say.
#[macro_export]
macro_rules! model_config {
    ($config:ident) => {
        impl $crate::models::model::Config for $config {
            fn with_seed(self, seed: u64) -> $config {
                $config { seed, ..self }
            }

            fn batch(&self) -> usize {
                self.batch
            }
        }
    };
}

/// What a weights file says its model was trained on.
pub trait Header: Serialize + DeserializeOwned {
    /// Training steps the model had taken.
    fn steps(&self) -> u32;
    /// The dataset's name (sprites, moons, sheet).
    fn dataset(&self) -> &str;
    /// Refuses `data` when its images are not those the model was made for.
    fn fits(&self, data: &Dataset) -> Result<()>;
    /// Height, width and channels of the images the model makes.
    fn geometry(&self) -> (usize, usize, usize);
}

/// The header of a model of images (the VAE, the GAN): its config, the images' geometry,
/// and what it was trained on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImageHeader<C> {
    pub config: C,
    pub height: usize,
    pub width: usize,
    pub channels: usize,
    /// The dataset it was trained on (sprites, moons, sheet, or a toy's name).
    pub dataset: String,
    pub steps: u32,
}

impl<C: Clone> ImageHeader<C> {
    /// The header of a model with `config` trained `steps` steps on `data`.
    pub fn new(config: &C, data: &Dataset, steps: u32) -> ImageHeader<C> {
        ImageHeader {
            config: config.clone(),
            height: data.height,
            width: data.width,
            channels: data.channels,
            dataset: data.kind.to_string(),
            steps,
        }
    }
}

impl<C: Serialize + DeserializeOwned> Header for ImageHeader<C> {
    fn steps(&self) -> u32 {
        self.steps
    }

    fn dataset(&self) -> &str {
        &self.dataset
    }

    fn geometry(&self) -> (usize, usize, usize) {
        (self.height, self.width, self.channels)
    }

    fn fits(&self, data: &Dataset) -> Result<()> {
        let (h, w, c, kind) = (data.height, data.width, data.channels, data.kind);
        if (self.height, self.width, self.channels) != (h, w, c) {
            return Err(Error::Invalid(format!(
                "it was trained on {}×{}×{} {} images, this lab has {h}×{w}×{c} {kind} images: switch the \
                 dataset first",
                self.height, self.width, self.channels, self.dataset
            )));
        }
        Ok(())
    }
}

/// The metadata and the header of a file of model `M`; any other file is refused.
pub fn read_header<M: Model>(bytes: &[u8]) -> Result<(BTreeMap<String, String>, M::Header)> {
    let meta = crate::nn::checkpoint::metadata(bytes)?;
    if meta.get("model").map(String::as_str) != Some(M::TAG) {
        return Err(Error::Tensors(format!(
            "this file holds {} weights, not a {}'s",
            meta.get("model").map(|m| format!("{m:?}")).unwrap_or_else(|| "unlabelled".into()),
            M::NAME
        )));
    }
    let header = meta
        .get("header")
        .and_then(|h| serde_json::from_str(h).ok())
        .ok_or_else(|| Error::Tensors(format!("the {} file's header is missing or unreadable", M::NAME)))?;
    Ok((meta, header))
}

/// A header as the `header` metadata of a weights file.
pub fn header_json(header: &impl Serialize) -> Result<String> {
    serde_json::to_string(header).map_err(|e| Error::Invalid(e.to_string()))
}
