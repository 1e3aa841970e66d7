//! The PixelRNN's weights file, with the header that says what it paints: the image size
//! and the palette its tokens index.

use super::{PixelRnn, PixelRnnConfig};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::models::model::{header_json, read_header, Header, Model};
use crate::nn::checkpoint::Source;

/// What a saved PixelRNN needs besides its tensors.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PixelRnnHeader {
    pub config: PixelRnnConfig,
    pub height: usize,
    pub width: usize,
    /// The palette the tokens index (its length is K).
    pub palette: Vec<[u8; 3]>,
    /// The dataset it was trained on (sprites, sheet).
    pub dataset: String,
    pub steps: u32,
}

impl PixelRnnHeader {
    /// Pixels in [0, 1] (`[n, 3]`) of palette tokens.
    pub fn colours(&self, tokens: &[u32]) -> Vec<f32> {
        tokens.iter().flat_map(|&t| self.palette[t as usize].map(|v| v as f32 / 255.0)).collect()
    }
}

impl PixelRnn {
    /// A safetensors file: `lstm.{l}.{w_x,w_h,bias}`, `output.{weight,bias}`, and metadata
    /// `model` = `pixelrnn` and `header` = the [`PixelRnnHeader`] as JSON.
    pub async fn save(&self, source: impl Into<Source<'_>>, header: &PixelRnnHeader) -> Result<Vec<u8>> {
        if header.palette.len() != self.classes {
            return Err(Error::Invalid(format!(
                "the header's palette has {} colours, the model predicts {}",
                header.palette.len(),
                self.classes
            )));
        }
        let json = header_json(header)?;
        crate::nn::checkpoint::save(source.into(), &self.params(), &[("model", Self::TAG), ("header", &json)]).await
    }

    /// A PixelRNN rebuilt from a file written by [`PixelRnn::save`], with fresh optimiser state.
    pub fn load(gpu: &Gpu, bytes: &[u8]) -> Result<(PixelRnn, PixelRnnHeader)> {
        let (_, header) = read_header::<PixelRnn>(bytes)?;
        let model = PixelRnn::new(gpu, header.config.clone(), header.height, header.width, header.palette.len())?;
        crate::nn::checkpoint::load(gpu, &model.params(), bytes)?;
        Ok((model, header))
    }
}

impl Header for PixelRnnHeader {
    fn steps(&self) -> u32 {
        self.steps
    }

    fn dataset(&self) -> &str {
        &self.dataset
    }

    /// Palette colours are RGB.
    fn geometry(&self) -> (usize, usize, usize) {
        (self.height, self.width, 3)
    }

    /// Sprites of the same size, in the same palette.
    fn fits(&self, data: &Dataset) -> Result<()> {
        let (h, w, kind) = (data.height, data.width, data.kind);
        if (self.height, self.width) != (h, w) {
            return Err(Error::Invalid(format!(
                "it paints {}×{} {} sprites, this lab has {h}×{w} {kind} images: switch the dataset first",
                self.height, self.width, self.dataset
            )));
        }
        let palette = data.palette.as_deref().unwrap_or_default();
        if self.palette != palette {
            return Err(Error::Invalid(format!(
                "it paints with another palette ({} colours, from {}) than this dataset's ({} colours)",
                self.palette.len(),
                self.dataset,
                palette.len()
            )));
        }
        Ok(())
    }
}
