//! PNG decoding (any colour type and bit depth, to 8-bit RGBA), encoding (8-bit grey, RGB,
//! RGBA) and contact sheets of image batches.

use std::io::Cursor;

use png::{BitDepth, ColorType, Transformations};

use crate::error::{Error, Result};

/// The eight bytes every PNG file starts with.
pub const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];

/// Colour of the gaps and border of a contact sheet.
pub const GAP_COLOR: [u8; 3] = [40, 44, 52];

/// A decoded image: 8-bit RGBA, row-major.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RgbaImage {
    pub width: usize,
    pub height: usize,
    /// [height, width, 4].
    pub rgba: Vec<u8>,
}

fn corrupt(e: png::DecodingError) -> Error {
    Error::Image(format!("the PNG is corrupt or truncated ({e}): save or download it again"))
}

/// Decodes a PNG of any colour type (grey, grey+alpha, RGB, RGBA, palette, with tRNS
/// transparency) and bit depth (1 to 16; 16-bit is reduced to 8) to 8-bit RGBA. Refuses
/// images wider or taller than `max_side` before decoding their pixels. Only the first frame
/// of an animated PNG is read.
pub fn decode(bytes: &[u8], max_side: usize) -> Result<RgbaImage> {
    if !bytes.starts_with(&PNG_SIGNATURE) {
        return Err(Error::Image(
            "not a PNG file (it does not start with the PNG signature): export the image as \
             PNG"
            .into(),
        ));
    }
    let mut decoder = png::Decoder::new_with_limits(
        Cursor::new(bytes),
        png::Limits {
            bytes: 1 << 30, // the side limit below is the real bound
        },
    );
    decoder.set_transformations(Transformations::EXPAND | Transformations::STRIP_16);
    let (w, h) = {
        let info = decoder.read_header_info().map_err(corrupt)?;
        (info.width as usize, info.height as usize)
    };
    if w > max_side || h > max_side {
        return Err(Error::Image(format!(
            "the image is {w}×{h} px, larger than the {max_side}×{max_side} limit: crop it or \
             split it into smaller images"
        )));
    }
    let mut reader = decoder.read_info().map_err(corrupt)?;
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| Error::Image(format!("a {w}×{h} image is too large to decode here")))?;
    let mut buf = vec![0u8; size];
    let frame = reader.next_frame(&mut buf).map_err(corrupt)?;
    if frame.bit_depth != BitDepth::Eight {
        return Err(Error::Image(format!(
            "unexpected bit depth {:?} after expansion; re-save the image as 8-bit PNG",
            frame.bit_depth
        )));
    }
    let channels = match frame.color_type {
        ColorType::Grayscale => 1,
        ColorType::GrayscaleAlpha => 2,
        ColorType::Rgb => 3,
        ColorType::Rgba => 4,
        ColorType::Indexed => {
            return Err(Error::Image("palette PNG was not expanded; re-save the image as RGB(A) PNG".into()))
        }
    };
    let (w, h) = (frame.width as usize, frame.height as usize);
    let mut rgba = Vec::with_capacity(w * h * 4);
    for row in buf.chunks(frame.line_size).take(h) {
        for p in row[..w * channels].chunks_exact(channels) {
            rgba.extend_from_slice(&match channels {
                1 => [p[0], p[0], p[0], 255],
                2 => [p[0], p[0], p[0], p[1]],
                3 => [p[0], p[1], p[2], 255],
                _ => [p[0], p[1], p[2], p[3]],
            });
        }
    }
    Ok(RgbaImage { width: w, height: h, rgba })
}

fn encode(width: usize, height: usize, color: ColorType, channels: usize, data: &[u8]) -> Result<Vec<u8>> {
    if width == 0 || height == 0 || width > u32::MAX as usize || height > u32::MAX as usize {
        return Err(Error::Image(format!("cannot encode a {width}×{height} image")));
    }
    if data.len() != width * height * channels {
        return Err(Error::Image(format!(
            "{} bytes do not make a {width}×{height} image with {channels} channel(s) ({} bytes)",
            data.len(),
            width * height * channels
        )));
    }
    let fail = |e: png::EncodingError| Error::Image(format!("PNG encoding failed: {e}"));
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width as u32, height as u32);
    encoder.set_color(color);
    encoder.set_depth(BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(fail)?;
    writer.write_image_data(data).map_err(fail)?;
    writer.finish().map_err(fail)?;
    Ok(out)
}

/// An 8-bit RGB PNG from [height, width, 3] bytes.
pub fn encode_rgb(width: usize, height: usize, rgb: &[u8]) -> Result<Vec<u8>> {
    encode(width, height, ColorType::Rgb, 3, rgb)
}

/// An 8-bit RGBA PNG from [height, width, 4] bytes.
pub fn encode_rgba(width: usize, height: usize, rgba: &[u8]) -> Result<Vec<u8>> {
    encode(width, height, ColorType::Rgba, 4, rgba)
}

/// An 8-bit greyscale PNG from [height, width] bytes.
pub fn encode_grey(width: usize, height: usize, grey: &[u8]) -> Result<Vec<u8>> {
    encode(width, height, ColorType::Grayscale, 1, grey)
}

/// [0, 1] to 0..=255, rounded; values outside are clamped (NaN gives 0).
pub fn to_u8(v: f32) -> u8 {
    if v.is_nan() {
        0
    } else {
        (v.clamp(0.0, 1.0) * 255.0).round() as u8
    }
}

/// A batch of images: [count, height, width, channels] values in [0, 1] (clamped when drawn),
/// channels 1 (grey) or 3 (RGB).
#[derive(Clone, Copy, Debug)]
pub struct Images<'a> {
    pub pixels: &'a [f32],
    pub height: usize,
    pub width: usize,
    pub channels: usize,
}

impl Images<'_> {
    /// Number of whole images.
    pub fn count(&self) -> usize {
        self.pixels.len().checked_div(self.height * self.width * self.channels).unwrap_or(0)
    }
}

/// A contact sheet as raw RGB: the images in a grid of `cols` columns, each scaled up
/// `scale`× (nearest neighbour), with `gap` pixels of [`GAP_COLOR`] between and around them.
/// Returns (width, height, [height, width, 3] bytes).
pub fn contact_sheet_rgb(images: Images<'_>, cols: usize, scale: usize, gap: usize) -> Result<(usize, usize, Vec<u8>)> {
    let Images { pixels, height, width, channels } = images;
    if channels != 1 && channels != 3 {
        return Err(Error::Invalid(format!(
            "contact sheet: {channels} channels; images must be greyscale (1) or RGB (3)"
        )));
    }
    let n = height * width * channels;
    if n == 0 || pixels.is_empty() || pixels.len() % n != 0 {
        return Err(Error::Invalid(format!(
            "contact sheet: {} values do not make whole {height}×{width}×{channels} images",
            pixels.len()
        )));
    }
    if cols == 0 || scale == 0 {
        return Err(Error::Invalid("contact sheet: cols and scale must be at least 1".into()));
    }
    let count = pixels.len() / n;
    let cols = cols.min(count);
    let rows = count.div_ceil(cols);
    let (cw, ch) = (width * scale + gap, height * scale + gap);
    let (sw, sh) = (cols * cw + gap, rows * ch + gap);
    let mut out = Vec::with_capacity(sw * sh * 3);
    for _ in 0..sw * sh {
        out.extend_from_slice(&GAP_COLOR);
    }
    for (i, img) in pixels.chunks_exact(n).enumerate() {
        let (ox, oy) = (gap + (i % cols) * cw, gap + (i / cols) * ch);
        for y in 0..height * scale {
            for x in 0..width * scale {
                let p = &img[((y / scale) * width + x / scale) * channels..][..channels];
                let rgb = if channels == 1 { [to_u8(p[0]); 3] } else { [to_u8(p[0]), to_u8(p[1]), to_u8(p[2])] };
                let o = ((oy + y) * sw + ox + x) * 3;
                out[o..o + 3].copy_from_slice(&rgb);
            }
        }
    }
    Ok((sw, sh, out))
}

/// [`contact_sheet_rgb`] encoded as a PNG.
pub fn contact_sheet(images: Images<'_>, cols: usize, scale: usize, gap: usize) -> Result<Vec<u8>> {
    let (w, h, rgb) = contact_sheet_rgb(images, cols, scale, gap)?;
    encode_rgb(w, h, &rgb)
}
