//! What the command line and the page ask of every model alike: its settings, a training
//! step on a dataset already on the GPU, its figures by name, and its weights file (the
//! header that says what it was trained on, written and read back).

use std::collections::BTreeMap;
use std::future::Future;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::data::device::DeviceDataset;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::models::Monitor;
use crate::nn::checkpoint::Source;
use crate::nn::snapshot::Resumable;

pub trait Model: Resumable + Sized {
    /// The settings it is made from.
    type Config: Clone;
    /// What its weights file holds besides the tensors.
    type Header: Header;
    /// The `model` metadata of its weights files.
    const TAG: &'static str;
    /// What the page and the command line call it: "VAE".
    const NAME: &'static str;
    /// The figures its monitor reports, in their order.
    const FIGURES: &'static [&'static str];

    fn config(&self) -> &Self::Config;
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
}

/// What a weights file says its model was trained on.
pub trait Header: Serialize + DeserializeOwned {
    /// Training steps the model had taken.
    fn steps(&self) -> u32;
    /// The dataset's name (sprites, moons, sheet).
    fn dataset(&self) -> &str;
    /// Refuses `data` (named `kind` to the reader) when its images are not those the model
    /// was made for.
    fn fits(&self, data: &Dataset, kind: &str) -> Result<()>;
}

/// Refuses images of another geometry than a header's `(height, width, channels)`.
pub fn check_geometry(trained: (usize, usize, usize), dataset: &str, data: &Dataset, kind: &str) -> Result<()> {
    let (h, w, c) = (data.height, data.width, data.channels);
    if trained != (h, w, c) {
        let (th, tw, tc) = trained;
        return Err(Error::Invalid(format!(
            "it was trained on {th}×{tw}×{tc} {dataset} images, this lab has {h}×{w}×{c} {kind} images: \
             switch the dataset first"
        )));
    }
    Ok(())
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
