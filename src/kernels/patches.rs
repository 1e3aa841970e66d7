//! Image patches (im2col) and their adjoint (col2im): a convolution as one matrix
//! multiplication, so the tuned matmul kernel does a convolution's arithmetic and its
//! gradients (see `Tape::conv2d`).

use crate::error::{Error, Result};
use crate::gpu::{grid_1d, Gpu, Tensor};
use crate::kernels::{batch_of, source};

kernel_specs! {
    shader: "patches.wgsl", sources: [source::GRID, source::PATCHES], params: Params;
    IM2COL = "im2col" [src: Read, dst: ReadWrite];
    COL2IM = "col2im" [src: Read, dst: ReadWrite];
}

/// The shape of a convolution's input and window: NHWC images of `height × width ×
/// channels`, a `kernel × kernel` window moved by `stride`, `pad` zero pixels round the edge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PatchGeometry {
    pub height: usize,
    pub width: usize,
    pub channels: usize,
    pub kernel: usize,
    pub stride: usize,
    pub pad: usize,
}

impl PatchGeometry {
    /// Refuses windows that do not fit the padded image, and zero sizes.
    pub fn validate(&self) -> Result<()> {
        let PatchGeometry { height, width, channels, kernel, stride, pad } = *self;
        if height == 0 || width == 0 || channels == 0 || kernel == 0 || stride == 0 {
            return Err(Error::Invalid(format!("patch geometry {self:?} has a zero size")));
        }
        if pad >= kernel {
            return Err(Error::Invalid(format!(
                "padding {pad} is not smaller than the {kernel}×{kernel} window: some windows would see only padding"
            )));
        }
        if height + 2 * pad < kernel || width + 2 * pad < kernel {
            return Err(Error::Invalid(format!(
                "a {kernel}×{kernel} window does not fit a {height}×{width} image padded by {pad}"
            )));
        }
        Ok(())
    }

    /// Output rows (window positions down the image).
    pub fn out_height(&self) -> usize {
        (self.height + 2 * self.pad - self.kernel) / self.stride + 1
    }

    /// Output columns (window positions across the image).
    pub fn out_width(&self) -> usize {
        (self.width + 2 * self.pad - self.kernel) / self.stride + 1
    }

    /// Values per image: height · width · channels.
    pub fn image_len(&self) -> usize {
        self.height * self.width * self.channels
    }

    /// Values per patch: kernel² · channels.
    pub fn patch_len(&self) -> usize {
        self.kernel * self.kernel * self.channels
    }

    /// Window positions per image: out_height · out_width.
    pub fn positions(&self) -> usize {
        self.out_height() * self.out_width()
    }
}

kernel_params! {
    struct Params {
        batch: u32,
        height: u32,
        width: u32,
        channels: u32,
        /// K: the window is K×K
        kernel: u32,
        /// S
        stride: u32,
        /// P
        pad: u32,
        /// OH = (H + 2P − K)/S + 1
        out_h: u32,
        /// OW
        out_w: u32,
    }
}

fn params(geometry: &PatchGeometry, batch: usize) -> Params {
    Params {
        batch: batch as u32,
        height: geometry.height as u32,
        width: geometry.width as u32,
        channels: geometry.channels as u32,
        kernel: geometry.kernel as u32,
        stride: geometry.stride as u32,
        pad: geometry.pad as u32,
        out_h: geometry.out_height() as u32,
        out_w: geometry.out_width() as u32,
    }
}

/// Patches of `images` (`[B, H·W·C]`, or any shape of B whole images): `[B·OH·OW, K·K·C]`.
pub fn im2col(gpu: &Gpu, images: &Tensor, geometry: &PatchGeometry) -> Result<Tensor> {
    geometry.validate()?;
    let batch = batch_of("im2col", images, geometry.image_len(), "images")?;
    let out = Tensor::uninit(gpu, [batch * geometry.positions(), geometry.patch_len()])?;
    gpu.dispatch(&IM2COL, &params(geometry, batch), &[images, &out], grid_1d(out.len(), 256));
    Ok(out)
}

/// The adjoint of [`im2col`]: each image value gets the sum of the patch entries that
/// copied it. `patches` is `[B·OH·OW, K·K·C]`; the result is `[B, H·W·C]`.
pub fn col2im(gpu: &Gpu, patches: &Tensor, geometry: &PatchGeometry) -> Result<Tensor> {
    geometry.validate()?;
    let per_image = geometry.positions() * geometry.patch_len();
    let batch = batch_of("col2im", patches, per_image, "images' patches")?;
    let out = Tensor::uninit(gpu, [batch, geometry.image_len()])?;
    gpu.dispatch(&COL2IM, &params(geometry, batch), &[patches, &out], grid_1d(out.len(), 256));
    Ok(out)
}

pub mod cpu {
    use super::PatchGeometry;

    /// The image index read by patch entry (`row`, `col`), or `None` for padding.
    fn source(g: &PatchGeometry, row: usize, col: usize) -> Option<usize> {
        let (b, position) = (row / g.positions(), row % g.positions());
        let (oy, ox) = (position / g.out_width(), position % g.out_width());
        let (ky, kx, c) = (col / (g.kernel * g.channels), (col / g.channels) % g.kernel, col % g.channels);
        let y = (oy * g.stride + ky).checked_sub(g.pad).filter(|&y| y < g.height)?;
        let x = (ox * g.stride + kx).checked_sub(g.pad).filter(|&x| x < g.width)?;
        Some(b * g.image_len() + (y * g.width + x) * g.channels + c)
    }

    pub fn im2col(images: &[f32], g: &PatchGeometry) -> Vec<f32> {
        let rows = images.len() / g.image_len() * g.positions();
        let cols = g.patch_len();
        (0..rows * cols).map(|i| source(g, i / cols, i % cols).map_or(0.0, |s| images[s])).collect()
    }

    /// Scatter-add, the plain way (the kernel gathers instead).
    pub fn col2im(patches: &[f32], g: &PatchGeometry) -> Vec<f32> {
        let cols = g.patch_len();
        let batch = patches.len() / (g.positions() * cols);
        let mut images = vec![0.0; batch * g.image_len()];
        for (i, &v) in patches.iter().enumerate() {
            if let Some(s) = source(g, i / cols, i % cols) {
                images[s] += v;
            }
        }
        images
    }
}

/// The self-test's cases: these kernels against their [`cpu`] twins, on awkward sizes.
pub mod cases {
    use crate::error::Result;
    use crate::gpu::{Gpu, Tensor};
    use crate::kernels::check::{check, test_data, worst, Check};
    use crate::kernels::patches::{self, PatchGeometry};

    /// im2col, and col2im of patches of the same shape.
    #[derive(Clone, Debug)]
    pub struct PatchesCase {
        batch: usize,
        geometry: PatchGeometry,
    }

    impl PatchesCase {
        pub async fn run(&self, gpu: &Gpu) -> Result<Check> {
            let PatchesCase { batch, geometry: g } = *self;
            let images = test_data(19, batch * g.image_len(), 1.0);
            let it = Tensor::from_slice(gpu, [batch, g.image_len()], &images)?;
            let patches = gpu.read(&patches::im2col(gpu, &it, &g)?).await?;
            let d_patches = test_data(20, patches.len(), 1.0);
            let dt = Tensor::from_slice(gpu, [batch * g.positions(), g.patch_len()], &d_patches)?;
            let d_images = gpu.read(&patches::col2im(gpu, &dt, &g)?).await?;
            let error = worst(&[
                (&patches, &patches::cpu::im2col(&images, &g)),
                (&d_images, &patches::cpu::col2im(&d_patches, &g)),
            ]);
            let shape = format!(
                "{batch}×{}×{}×{}, {}×{} window, stride {}, pad {}",
                g.height, g.width, g.channels, g.kernel, g.kernel, g.stride, g.pad
            );
            // im2col copies; col2im sums at most ⌈K/S⌉² values, in another order than the twin.
            Ok(check("im2col + col2im".into(), shape, error, 1e-6))
        }
    }

    fn geometry(
        height: usize,
        width: usize,
        channels: usize,
        kernel: usize,
        stride: usize,
        pad: usize,
    ) -> PatchGeometry {
        PatchGeometry { height, width, channels, kernel, stride, pad }
    }

    /// DCGAN's 4×4 stride-2 window on a sprite, a moon-sized odd case, and a window as large as
    /// the padded image.
    pub fn all(_small: bool) -> Vec<PatchesCase> {
        vec![
            PatchesCase { batch: 3, geometry: geometry(16, 16, 3, 4, 2, 1) },
            PatchesCase { batch: 2, geometry: geometry(7, 5, 2, 3, 2, 2) },
            PatchesCase { batch: 1, geometry: geometry(2, 3, 1, 4, 1, 1) },
        ]
    }
}
