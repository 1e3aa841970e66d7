//! safetensors files: named f32 tensors with string metadata (model weights), and the raw
//! tensors of other dtypes that dataset dumps (`data::dump`) are built from.

use std::collections::{BTreeMap, HashSet};

use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

use crate::error::{Error, Result};

/// One f32 tensor read from a file.
#[derive(Clone, Debug, PartialEq)]
pub struct NamedTensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// The f32 tensors of a file, sorted by name, with its metadata.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LoadedTensors {
    pub tensors: Vec<NamedTensor>,
    pub metadata: BTreeMap<String, String>,
}

impl LoadedTensors {
    /// The tensor called `name`.
    pub fn get(&self, name: &str) -> Option<&NamedTensor> {
        self.tensors.iter().find(|t| t.name == name)
    }
}

pub(crate) fn bad(why: String) -> Error {
    Error::Tensors(why)
}

/// A tensor owned as little-endian bytes, ready to serialise.
pub(crate) struct Owned {
    pub(crate) name: String,
    pub(crate) dtype: Dtype,
    pub(crate) shape: Vec<usize>,
    pub(crate) bytes: Vec<u8>,
}

pub(crate) fn serialize(tensors: Vec<Owned>, metadata: &[(&str, &str)]) -> Result<Vec<u8>> {
    let mut names = HashSet::new();
    for t in &tensors {
        if !names.insert(t.name.as_str()) {
            return Err(bad(format!("tensor name {:?} appears twice", t.name)));
        }
    }
    let mut views = Vec::with_capacity(tensors.len());
    for t in &tensors {
        let view = TensorView::new(t.dtype, t.shape.clone(), &t.bytes)
            .map_err(|e| bad(format!("tensor {:?}: {e}", t.name)))?;
        views.push((t.name.clone(), view));
    }
    let meta = Some(metadata.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect());
    let file = safetensors::serialize(views, meta).map_err(|e| bad(format!("writing failed: {e}")))?;
    sorted_header(file)
}

/// The same file with its JSON header's keys in sorted order. The writer takes the metadata
/// as a `HashMap`, whose order changes from run to run; sorted, the same tensors always make
/// the same bytes (an export, import, export round trip gives the file back unchanged). The
/// header stays padded with spaces to a multiple of 8 bytes, as the format asks; the tensor
/// data after it does not move.
fn sorted_header(file: Vec<u8>) -> Result<Vec<u8>> {
    let broken = || bad("the writer made an unreadable header".into());
    let n = usize::try_from(u64::from_le_bytes(file.get(..8).ok_or_else(broken)?.try_into().map_err(|_| broken())?))
        .map_err(|_| broken())?;
    let header = file.get(8..8usize.checked_add(n).ok_or_else(broken)?).ok_or_else(broken)?;
    let value: serde_json::Value = serde_json::from_slice(header).map_err(|_| broken())?;
    let mut json = serde_json::to_vec(&sort_keys(value)).map_err(|_| broken())?;
    json.resize(json.len().div_ceil(8) * 8, b' ');
    let mut out = Vec::with_capacity(8 + json.len() + file.len() - 8 - n);
    out.extend_from_slice(&(json.len() as u64).to_le_bytes());
    out.extend_from_slice(&json);
    out.extend_from_slice(&file[8 + n..]);
    Ok(out)
}

/// `value` with every object's keys inserted in sorted order (sorted whether serde_json's
/// maps keep insertion order or not).
fn sort_keys(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => {
            let sorted: BTreeMap<String, serde_json::Value> = map.into_iter().map(|(k, v)| (k, sort_keys(v))).collect();
            serde_json::Value::Object(sorted.into_iter().collect())
        }
        other => other,
    }
}

pub(crate) fn parse(bytes: &[u8]) -> Result<(SafeTensors<'_>, BTreeMap<String, String>)> {
    let unreadable = |e: safetensors::SafeTensorError| {
        bad(format!("not a safetensors file, or a corrupt or truncated one ({e}): write it again"))
    };
    let st = SafeTensors::deserialize(bytes).map_err(unreadable)?;
    let (_, meta) = SafeTensors::read_metadata(bytes).map_err(unreadable)?;
    let metadata = meta.metadata().iter().flat_map(|m| m.iter()).map(|(k, v)| (k.clone(), v.clone())).collect();
    Ok((st, metadata))
}

pub(crate) fn f32_bytes(data: &[f32]) -> Vec<u8> {
    data.iter().flat_map(|v| v.to_le_bytes()).collect()
}

pub(crate) fn f32_from(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
}

/// A safetensors file of f32 tensors `(name, shape, values)` with string metadata. Names must
/// be unique and each shape's product must equal its value count.
pub fn save_tensors(tensors: &[(&str, &[usize], &[f32])], metadata: &[(&str, &str)]) -> Result<Vec<u8>> {
    let mut owned = Vec::with_capacity(tensors.len());
    for &(name, shape, data) in tensors {
        let numel: usize = shape.iter().product();
        if numel != data.len() {
            return Err(bad(format!(
                "tensor {name:?}: {} values do not fill shape {shape:?} ({numel} elements)",
                data.len()
            )));
        }
        owned.push(Owned { name: name.to_string(), dtype: Dtype::F32, shape: shape.to_vec(), bytes: f32_bytes(data) });
    }
    serialize(owned, metadata)
}

/// Every tensor of a safetensors file, which must all be f32, sorted by name, with the
/// metadata.
pub fn load_tensors(bytes: &[u8]) -> Result<LoadedTensors> {
    let (st, metadata) = parse(bytes)?;
    let mut tensors = Vec::with_capacity(st.len());
    for (name, view) in st.tensors() {
        if view.dtype() != Dtype::F32 {
            return Err(bad(format!(
                "tensor {name:?} is {:?}; only F32 tensors can be loaded as weights",
                view.dtype()
            )));
        }
        tensors.push(NamedTensor { name, shape: view.shape().to_vec(), data: f32_from(view.data()) });
    }
    tensors.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(LoadedTensors { tensors, metadata })
}
