//! The page's canvas draws image grids with a render shader, display.wgsl
//! (`web/canvas.rs`). It is no compute kernel, but its uniform is declared here as every
//! kernel's is, so that the shader reads the Rust layout and the native tests compile it.

kernel_params! {
    /// display.wgsl's uniform.
    pub(crate) struct Params {
        pub(crate) count: u32,
        pub(crate) height: u32,
        pub(crate) width: u32,
        pub(crate) channels: u32,
        pub(crate) cols: u32,
        pub(crate) scale: u32,
        pub(crate) gap: u32,
        /// Index of the first value of image 0 in `pixels`.
        pub(crate) first: u32,
        /// Ringed cells, or -1.
        pub(crate) ring_a: i32,
        pub(crate) ring_b: i32,
        /// The colours start on a 16-byte boundary, as WGSL lays out a vec4.
        pub(crate) _pad0: u32,
        pub(crate) _pad1: u32,
        pub(crate) background: [f32; 4],
        pub(crate) accent_a: [f32; 4],
        pub(crate) accent_b: [f32; 4],
    }
}

/// display.wgsl as compiled: its `Params` first.
pub fn source() -> String {
    format!("{}{}", Params::LAYOUT.wgsl(), include_str!("../../shaders/display.wgsl"))
}
