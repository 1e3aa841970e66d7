//! A model's parameters to and from safetensors: one f32 tensor per parameter, named by the
//! parameter (`encoder.0.weight` …), and string metadata saying which model and config.
//! Loading checks every name and shape before touching anything, so a wrong or broken file
//! leaves the model exactly as it was.

use std::collections::BTreeMap;
use std::rc::Rc;

use crate::error::{Error, Result};
use crate::gpu::{Gpu, Tensor};
use crate::io::safetensors::{load_tensors, save_tensors};
use crate::nn::snapshot::Snapshot;
use crate::nn::Param;

/// Where a weights file's values come from.
#[derive(Clone, Copy)]
pub enum Source<'a> {
    /// Read back from the GPU now.
    Gpu(&'a Gpu),
    /// A snapshot's copies: a file can still be written when the GPU that held them is gone.
    Snapshot(&'a Snapshot),
}

impl<'a> From<&'a Gpu> for Source<'a> {
    fn from(gpu: &'a Gpu) -> Source<'a> {
        Source::Gpu(gpu)
    }
}

impl<'a> From<&'a Snapshot> for Source<'a> {
    fn from(snapshot: &'a Snapshot) -> Source<'a> {
        Source::Snapshot(snapshot)
    }
}

impl Source<'_> {
    async fn values(&self, tensor: &Tensor) -> Result<Vec<f32>> {
        match self {
            Source::Gpu(gpu) => tensor.to_vec(gpu).await,
            Source::Snapshot(snapshot) => snapshot.values_of(tensor).map(<[f32]>::to_vec).ok_or_else(|| {
                Error::Invalid("the checkpoint does not hold this model's tensors: it is of another model".into())
            }),
        }
    }
}

/// Reads every parameter back and writes a safetensors file with `metadata`.
pub async fn save(source: Source<'_>, params: &[Rc<Param>], metadata: &[(&str, &str)]) -> Result<Vec<u8>> {
    let named: Vec<(&str, &Tensor)> = params.iter().map(|p| (p.name.as_str(), &p.value)).collect();
    save_named(source, &named, metadata).await
}

/// Reads tensors back and writes them under the given names (for a part of a model saved
/// as if it were another, such as a GAN's averaged generator saved as its generator).
pub async fn save_named(source: Source<'_>, tensors: &[(&str, &Tensor)], metadata: &[(&str, &str)]) -> Result<Vec<u8>> {
    let mut values = Vec::with_capacity(tensors.len());
    for (_, t) in tensors {
        values.push(source.values(t).await?);
    }
    let tensors: Vec<(&str, &[usize], &[f32])> =
        tensors.iter().zip(&values).map(|((name, t), v)| (*name, t.shape().dims(), v.as_slice())).collect();
    save_tensors(&tensors, metadata)
}

/// The metadata of a weights file, without loading its tensors onto the GPU.
pub fn metadata(bytes: &[u8]) -> Result<BTreeMap<String, String>> {
    Ok(load_tensors(bytes)?.metadata)
}

/// Overwrites every parameter with the tensor of the same name in `bytes`. All names and
/// shapes are checked first; any mismatch is reported and nothing is changed.
pub fn load(gpu: &Gpu, params: &[Rc<Param>], bytes: &[u8]) -> Result<BTreeMap<String, String>> {
    let named: Vec<(&str, &Tensor)> = params.iter().map(|p| (p.name.as_str(), &p.value)).collect();
    load_named(gpu, &named, bytes)
}

/// Overwrites each tensor with the file's tensor of the given name (parameters, and state
/// that is not a parameter, such as a power iteration's vector). The file must hold exactly
/// these names; all names and shapes are checked first, and any mismatch is reported with
/// nothing changed.
pub fn load_named(gpu: &Gpu, tensors: &[(&str, &Tensor)], bytes: &[u8]) -> Result<BTreeMap<String, String>> {
    let file = load_tensors(bytes)?;
    let mut staged = Vec::with_capacity(tensors.len());
    for &(name, target) in tensors {
        let Some(t) = file.get(name) else {
            return Err(Error::Tensors(format!(
                "the file has no tensor {name:?}: it was saved by another model or another configuration"
            )));
        };
        if t.shape != target.shape().dims() {
            return Err(Error::Tensors(format!(
                "tensor {name:?} has shape {:?} in the file but {} in this model: \
                 make the model with the configuration the file was saved with",
                t.shape,
                target.shape()
            )));
        }
        if let Some(i) = t.data.iter().position(|v| !v.is_finite()) {
            return Err(Error::Tensors(format!("tensor {name:?} holds {} at position {i}", t.data[i])));
        }
        staged.push(Tensor::from_slice(gpu, target.shape().clone(), &t.data)?);
    }
    let expected: std::collections::HashSet<&str> = tensors.iter().map(|&(name, _)| name).collect();
    if let Some(extra) = file.tensors.iter().find(|t| !expected.contains(t.name.as_str())) {
        return Err(Error::Tensors(format!(
            "the file has a tensor {:?} this model does not: it was saved by another model",
            extra.name
        )));
    }
    for (&(_, target), value) in tensors.iter().zip(&staged) {
        gpu.copy(value, target)?;
    }
    gpu.submit();
    Ok(file.metadata)
}
