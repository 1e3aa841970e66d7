//! Files: PNG decoding and encoding with contact sheets ([`png`]), safetensors dumps of
//! datasets and named f32 tensors ([`safetensors`]), and the page's setup as a URL
//! ([`link`]). Everything works on byte buffers and strings, so the same code serves the
//! native CLI and the browser.

pub mod link;
pub mod png;
pub mod safetensors;
