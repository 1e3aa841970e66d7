//! Files: PNG decoding and encoding with contact sheets ([`png`]), and safetensors files of
//! named tensors ([`safetensors`]). Everything works on byte buffers, so the same code
//! serves the native CLI and the browser.

pub mod png;
pub mod safetensors;
