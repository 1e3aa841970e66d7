//! The GAN's weights file: the full state, or the sampling generator alone, with the header
//! that says what it was trained on.

use super::{Gan, GanConfig, SampleShape};
use crate::error::{Error, Result};
use crate::gpu::{Gpu, Tensor};
use crate::models::model::{header_json, read_header, ImageHeader, Model};
use crate::nn::checkpoint::Source;

/// The `parts` metadata of a file that holds only the sampling generator.
const GENERATOR_ONLY: &str = "generator";

/// What a saved GAN needs besides its tensors: the config and the sample geometry
/// (`height · width · channels` values per sample; 1 × D × 1 for toy points).
pub type GanHeader = ImageHeader<GanConfig>;

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
