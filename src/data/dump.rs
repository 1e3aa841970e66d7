//! Dataset dumps: a [`Dataset`] written as a safetensors file that loads back into the same
//! dataset. For N images of H×W a dump holds
//! - `rgb`: u8 [N, H, W, 3] (greyscale replicated to three channels);
//! - `split`: u8 [N], 0 train / 1 held out;
//! - palette kinds: `indices` u8 [N, H, W] and `palette` u8 [K, 3];
//! - moons: `phase` f32 [N] and `pixels` f32 [N, H, W, 1] (exact greyscale values);
//!
//! and metadata `format` = `genlab-dataset`, `version` = `1`, `kind`, `seed`.

use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

use super::{Dataset, DatasetKind};
use crate::error::Result;
use crate::io::safetensors::{bad, f32_bytes, f32_from, parse, serialize, Owned};

/// Metadata `format` of a dataset dump.
pub const DATASET_FORMAT: &str = "genlab-dataset";
/// Metadata `version` of a dataset dump.
pub const DATASET_VERSION: &str = "1";

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
