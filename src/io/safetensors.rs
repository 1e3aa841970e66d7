//! safetensors files: named f32 tensors with string metadata (model weights), and dataset
//! dumps that load back into a [`Dataset`].
//!
//! A dataset dump holds, for N images of H×W:
//! - `rgb`: u8 [N, H, W, 3] (greyscale replicated to three channels);
//! - `split`: u8 [N], 0 train / 1 held out;
//! - palette kinds: `indices` u8 [N, H, W] and `palette` u8 [K, 3];
//! - moons: `phase` f32 [N] and `pixels` f32 [N, H, W, 1] (exact greyscale values);
//!
//! and metadata `format` = `genlab-dataset`, `version` = `1`, `kind`, `seed`.

use std::collections::{BTreeMap, HashSet};

use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

use crate::data::{Dataset, DatasetKind};
use crate::error::{Error, Result};

/// Metadata `format` of a dataset dump.
pub const DATASET_FORMAT: &str = "genlab-dataset";
/// Metadata `version` of a dataset dump.
pub const DATASET_VERSION: &str = "1";

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

fn bad(why: String) -> Error {
    Error::Tensors(why)
}

/// A tensor owned as little-endian bytes, ready to serialise.
struct Owned {
    name: String,
    dtype: Dtype,
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

fn serialize(tensors: Vec<Owned>, metadata: &[(&str, &str)]) -> Result<Vec<u8>> {
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

fn parse(bytes: &[u8]) -> Result<(SafeTensors<'_>, BTreeMap<String, String>)> {
    let unreadable = |e: safetensors::SafeTensorError| {
        bad(format!("not a safetensors file, or a corrupt or truncated one ({e}): write it again"))
    };
    let st = SafeTensors::deserialize(bytes).map_err(unreadable)?;
    let (_, meta) = SafeTensors::read_metadata(bytes).map_err(unreadable)?;
    let metadata = meta.metadata().iter().flat_map(|m| m.iter()).map(|(k, v)| (k.clone(), v.clone())).collect();
    Ok((st, metadata))
}

fn f32_bytes(data: &[f32]) -> Vec<u8> {
    data.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn f32_from(bytes: &[u8]) -> Vec<f32> {
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

/// A dataset dump (see the module docs).
pub fn save_dataset(ds: &Dataset) -> Result<Vec<u8>> {
    ds.validate()?;
    let (n, h, w) = (ds.count, ds.height, ds.width);
    let u8t =
        |name: &str, shape: Vec<usize>, bytes: Vec<u8>| Owned { name: name.into(), dtype: Dtype::U8, shape, bytes };
    let mut tensors = vec![u8t("rgb", vec![n, h, w, 3], ds.rgb_u8()), u8t("split", vec![n], ds.split.clone())];
    if let (Some(ix), Some(pal)) = (&ds.indices, &ds.palette) {
        tensors.push(u8t("indices", vec![n, h, w], ix.clone()));
        tensors.push(u8t("palette", vec![pal.len(), 3], pal.iter().flatten().copied().collect()));
    }
    if let Some(phase) = &ds.phase {
        tensors.push(Owned { name: "phase".into(), dtype: Dtype::F32, shape: vec![n], bytes: f32_bytes(phase) });
    }
    if !ds.kind.has_palette() {
        tensors.push(Owned {
            name: "pixels".into(),
            dtype: Dtype::F32,
            shape: vec![n, h, w, ds.channels],
            bytes: f32_bytes(&ds.pixels),
        });
    }
    let seed = ds.seed.to_string();
    serialize(
        tensors,
        &[("format", DATASET_FORMAT), ("version", DATASET_VERSION), ("kind", ds.kind.name()), ("seed", &seed)],
    )
}

/// A tensor of the dump that must be there, with its dtype and rank.
fn tensor<'a>(st: &SafeTensors<'a>, name: &str, dtype: Dtype, rank: usize) -> Result<TensorView<'a>> {
    let view = st
        .tensor(name)
        .map_err(|_| bad(format!("dataset dump has no {name:?} tensor; write it again with save_dataset")))?;
    if view.dtype() != dtype || view.shape().len() != rank {
        return Err(bad(format!(
            "dataset tensor {name:?} is {:?} of shape {:?}; expected {dtype:?} with {rank} \
             dimensions",
            view.dtype(),
            view.shape()
        )));
    }
    Ok(view)
}

/// Reads a dump written by [`save_dataset`] back into a [`Dataset`], checking every tensor's
/// dtype and shape and the dataset's invariants.
pub fn load_dataset(bytes: &[u8]) -> Result<Dataset> {
    let (st, meta) = parse(bytes)?;
    let format = meta.get("format").map(String::as_str);
    if format != Some(DATASET_FORMAT) {
        return Err(bad(format!(
            "not a genlab dataset dump (metadata format is {format:?}, expected \
             {DATASET_FORMAT:?}); for model weights use load_tensors"
        )));
    }
    let version = meta.get("version").map(String::as_str);
    if version != Some(DATASET_VERSION) {
        return Err(bad(format!(
            "dataset dump version {version:?} is not supported (this build reads \
             {DATASET_VERSION:?}); write it again with this version"
        )));
    }
    let kind: DatasetKind =
        meta.get("kind").ok_or_else(|| bad("dataset dump has no kind in its metadata".into()))?.parse()?;
    let seed: u64 = meta
        .get("seed")
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("dataset dump has no valid seed in its metadata".into()))?;

    let rgb = tensor(&st, "rgb", Dtype::U8, 4)?;
    let &[n, h, w, c] = rgb.shape() else { unreachable!("rank checked") };
    if c != 3 {
        return Err(bad(format!("dataset tensor \"rgb\" has {c} channels, expected 3")));
    }
    let split = tensor(&st, "split", Dtype::U8, 1)?;
    if split.shape() != [n] {
        return Err(bad(format!("dataset tensor \"split\" has shape {:?}, expected [{n}]", split.shape())));
    }
    let ds = if kind.has_palette() {
        let ix = tensor(&st, "indices", Dtype::U8, 3)?;
        if ix.shape() != [n, h, w] {
            return Err(bad(format!(
                "dataset tensor \"indices\" has shape {:?}, expected [{n}, {h}, {w}]",
                ix.shape()
            )));
        }
        let pal = tensor(&st, "palette", Dtype::U8, 2)?;
        if pal.shape()[1] != 3 || pal.shape()[0] == 0 || pal.shape()[0] > 256 {
            return Err(bad(format!(
                "dataset tensor \"palette\" has shape {:?}, expected [K, 3] with 1 <= K <= 256",
                pal.shape()
            )));
        }
        let palette: Vec<[u8; 3]> = pal.data().chunks_exact(3).map(|c| [c[0], c[1], c[2]]).collect();
        let mut ds = Dataset::from_indices(kind, seed, h, w, palette, ix.data().to_vec())?;
        ds.split = split.data().to_vec();
        ds
    } else {
        let phase = tensor(&st, "phase", Dtype::F32, 1)?;
        if phase.shape() != [n] {
            return Err(bad(format!("dataset tensor \"phase\" has shape {:?}, expected [{n}]", phase.shape())));
        }
        let pixels = tensor(&st, "pixels", Dtype::F32, 4)?;
        if pixels.shape() != [n, h, w, 1] {
            return Err(bad(format!(
                "dataset tensor \"pixels\" has shape {:?}, expected [{n}, {h}, {w}, 1]",
                pixels.shape()
            )));
        }
        Dataset {
            kind,
            seed,
            count: n,
            height: h,
            width: w,
            channels: 1,
            pixels: f32_from(pixels.data()),
            indices: None,
            palette: None,
            phase: Some(f32_from(phase.data())),
            split: split.data().to_vec(),
        }
    };
    ds.validate()?;
    if ds.rgb_u8() != rgb.data() {
        return Err(bad("dataset tensor \"rgb\" disagrees with the dataset's pixels; the file was changed".into()));
    }
    Ok(ds)
}
