//! The GAN's weights file: the full state, or the sampling generator alone, with the header
//! that says what it was trained on.

use std::future::Future;

use super::{Gan, GanConfig, SampleShape};
use crate::data::device::DeviceDataset;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::gpu::{Gpu, Tensor};
use crate::models::model::{check_geometry, header_json, read_header, Header, Model};
use crate::models::Monitor;
use crate::nn::checkpoint::Source;

/// The `parts` metadata of a file that holds only the sampling generator.
const GENERATOR_ONLY: &str = "generator";

/// What a saved GAN needs besides its tensors: the config and the sample geometry
/// (`height · width · channels` values per sample; 1 × D × 1 for toy points).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GanHeader {
    pub config: GanConfig,
    pub height: usize,
    pub width: usize,
    pub channels: usize,
    /// The dataset it was trained on (sprites, moons, sheet, or a toy's name).
    pub dataset: String,
    pub steps: u32,
}

impl Gan {
    /// A safetensors file: `generator.{0,1,2}.{weight,bias}` (an upsampling generator has
    /// `generator.{0,1}.*`, `generator.up.{0,1}.{weight,bias}` and `generator.image_bias`),
    /// `discriminator.conv.{weight,bias}` (with `d_conv_channels` > 0),
    /// `discriminator.{0,1,2}.{weight,bias}`, `generator_ema.{0,1,2}.{weight,bias}` (with
    /// `g_ema` > 0), `discriminator.*.weight_u` (with `d_spectral_norm`: each power
    /// iteration's vector, so the loaded D judges as the saved one did), and metadata
    /// `model` = `gan` and `header` = the [`GanHeader`] as JSON.
    pub async fn save(&self, source: impl Into<Source<'_>>, header: &GanHeader) -> Result<Vec<u8>> {
        let json = self.header_json(header)?;
        let named = self.named_tensors();
        let tensors: Vec<(&str, &Tensor)> = named.iter().map(|(name, t)| (name.as_str(), t)).collect();
        crate::nn::checkpoint::save_named(source.into(), &tensors, &[("model", Self::TAG), ("header", &json)]).await
    }

    /// Every tensor a full file holds, by name: the parameters, then each power iteration's
    /// `u`, named after its weight (`….weight_u`).
    fn named_tensors(&self) -> Vec<(String, Tensor)> {
        let mut named: Vec<(String, Tensor)> =
            self.params().iter().map(|p| (p.name.clone(), p.value.clone())).collect();
        named.extend(self.power_iteration_vectors());
        named
    }

    /// The sampling generator alone (the moving average, if any), saved as `generator.*`
    /// with metadata `parts` = `generator`: about a third of the full file, enough to draw
    /// samples (the page bundles one). Loaded, it gives a GAN whose discriminator is fresh.
    pub async fn save_generator(&self, source: impl Into<Source<'_>>, header: &GanHeader) -> Result<Vec<u8>> {
        let json = self.header_json(header)?;
        let names: Vec<String> = self.generator.params().iter().map(|p| p.name.clone()).collect();
        let sampler = self.sampler().params();
        let named: Vec<(&str, &Tensor)> = names.iter().zip(&sampler).map(|(n, p)| (n.as_str(), &p.value)).collect();
        let metadata = [("model", Self::TAG), ("parts", GENERATOR_ONLY), ("header", json.as_str())];
        crate::nn::checkpoint::save_named(source.into(), &named, &metadata).await
    }

    fn header_json(&self, header: &GanHeader) -> Result<String> {
        if SampleShape::image(header.height, header.width, header.channels) != self.shape {
            return Err(Error::Invalid(format!(
                "header geometry {}×{}×{} does not match this GAN's samples, {:?}",
                header.height, header.width, header.channels, self.shape
            )));
        }
        header_json(header)
    }

    /// A GAN rebuilt from a file written by [`Gan::save`] (or [`Gan::save_generator`], which
    /// leaves the discriminator as the seed makes it), with fresh optimiser state.
    pub fn load(gpu: &Gpu, bytes: &[u8]) -> Result<(Gan, GanHeader)> {
        let (meta, header) = read_header::<Gan>(bytes)?;
        let shape = SampleShape::image(header.height, header.width, header.channels);
        let gan = Gan::new(gpu, header.config.clone(), shape)?;
        if meta.get("parts").map(String::as_str) == Some(GENERATOR_ONLY) {
            crate::nn::checkpoint::load(gpu, &gan.generator.params(), bytes)?;
            if let Some(ema) = &gan.generator_ema {
                for (average, live) in ema.params().iter().zip(gan.generator.params()) {
                    gpu.copy(&live.value, &average.value)?;
                }
                gpu.submit();
            }
        } else {
            let named = gan.named_tensors();
            let tensors: Vec<(&str, &Tensor)> = named.iter().map(|(name, t)| (name.as_str(), t)).collect();
            crate::nn::checkpoint::load_named(gpu, &tensors, bytes)?;
        }
        Ok((gan, header))
    }
}

impl Header for GanHeader {
    fn steps(&self) -> u32 {
        self.steps
    }

    fn dataset(&self) -> &str {
        &self.dataset
    }

    fn fits(&self, data: &Dataset, kind: &str) -> Result<()> {
        check_geometry((self.height, self.width, self.channels), &self.dataset, data, kind)
    }
}

impl Model for Gan {
    type Config = GanConfig;
    type Header = GanHeader;
    const TAG: &'static str = "gan";
    const NAME: &'static str = "GAN";
    const FIGURES: &'static [&'static str] = super::FIGURES;

    fn config(&self) -> &GanConfig {
        &self.config
    }

    fn monitor(&self) -> &Monitor {
        &self.monitor
    }

    fn monitor_mut(&mut self) -> &mut Monitor {
        &mut self.monitor
    }

    /// One step on the training split.
    fn train_step(&mut self, gpu: &Gpu, data: &DeviceDataset) -> Result<()> {
        Gan::train_step(self, gpu, &data.train)
    }

    fn header(&self, data: &Dataset, steps: u32) -> GanHeader {
        GanHeader {
            config: self.config.clone(),
            height: data.height,
            width: data.width,
            channels: data.channels,
            dataset: data.kind.to_string(),
            steps,
        }
    }

    fn save<'a>(&'a self, source: Source<'a>, header: &'a GanHeader) -> impl Future<Output = Result<Vec<u8>>> + 'a {
        Gan::save(self, source, header)
    }

    fn load(gpu: &Gpu, bytes: &[u8]) -> Result<(Gan, GanHeader)> {
        Gan::load(gpu, bytes)
    }
}
