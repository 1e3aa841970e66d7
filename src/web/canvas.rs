//! Image grids drawn straight from GPU buffers. A [`GridView`] owns one `<canvas>` with a
//! `webgpu` context; drawing binds a tensor of `[n, h, w, c]` pixels as a storage buffer and
//! runs shaders/display.wgsl over the canvas, so samples go from the model's output buffer to
//! the screen without a round trip through JavaScript.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use wasm_bindgen::JsCast;
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement};

use crate::error::{Error, Result};
use crate::gpu::{Gpu, Tensor};
use crate::kernels::display::{self, Params};

/// The background behind and between images: the cards' colour (#f6f7fa; the canvas is
/// not sRGB-encoded, so these are the CSS values / 255).
pub const BACKGROUND: [f32; 4] = [0.965, 0.969, 0.980, 1.0];
/// Ring colours of the two picked images (A: teal #13948a, B: rose #d6457a; as in the CSS).
pub const ACCENT_A: [f32; 4] = [0.075, 0.580, 0.541, 1.0];
pub const ACCENT_B: [f32; 4] = [0.839, 0.271, 0.478, 1.0];

/// How to lay out a grid of images.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Layout {
    pub count: usize,
    pub height: usize,
    pub width: usize,
    pub channels: usize,
    pub cols: usize,
    /// Screen pixels per image pixel (CSS pixels; multiplied by the device pixel ratio).
    pub scale: usize,
    /// Background pixels between and around images (CSS pixels).
    pub gap: usize,
    /// Cells ringed in the accent colours.
    pub ring_a: Option<usize>,
    pub ring_b: Option<usize>,
}

impl Layout {
    pub fn new(count: usize, (height, width, channels): (usize, usize, usize), cols: usize, scale: usize) -> Layout {
        Layout { count, height, width, channels, cols: cols.max(1), scale, gap: 2, ring_a: None, ring_b: None }
    }

    pub fn rows(&self) -> usize {
        self.count.div_ceil(self.cols).max(1)
    }

    /// Canvas size in CSS pixels.
    pub fn css_size(&self) -> (usize, usize) {
        let (cell_w, cell_h) = (self.width * self.scale, self.height * self.scale);
        (self.cols * (cell_w + self.gap) + self.gap, self.rows() * (cell_h + self.gap) + self.gap)
    }

    /// The cell under a point given in CSS pixels from the canvas's top-left corner.
    pub fn cell_at(&self, x: f64, y: f64) -> Option<usize> {
        let (cell_w, cell_h) =
            ((self.width * self.scale + self.gap) as f64, (self.height * self.scale + self.gap) as f64);
        let (col, row) = ((x - self.gap as f64 / 2.0) / cell_w, (y - self.gap as f64 / 2.0) / cell_h);
        if col < 0.0 || row < 0.0 || col as usize >= self.cols {
            return None;
        }
        let i = row as usize * self.cols + col as usize;
        (i < self.count).then_some(i)
    }
}

/// The display pipeline, built once per canvas format and shared by every grid.
pub struct Display {
    gpu: Gpu,
    module: wgpu::ShaderModule,
    layout: wgpu::BindGroupLayout,
    pipeline_layout: wgpu::PipelineLayout,
    pipelines: RefCell<HashMap<wgpu::TextureFormat, wgpu::RenderPipeline>>,
}

impl Display {
    pub fn new(gpu: &Gpu) -> Rc<Display> {
        let device = gpu.device();
        // Compiled once; each canvas format gets its own pipeline from it.
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("display.wgsl"),
            source: wgpu::ShaderSource::Wgsl(display::source().into()),
        });
        // The grid's layout (uniform) and the images (a read-only storage buffer, which
        // fragment shaders may read in WebGPU).
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("display"),
            entries: &[
                wgpu::BindGroupLayoutEntry {
                    binding: 0,
                    visibility: wgpu::ShaderStages::FRAGMENT,
                    ty: wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Uniform,
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                    count: None,
                },
                wgpu::BindGroupLayoutEntry {
                    binding: 1,
                    visibility: wgpu::ShaderStages::FRAGMENT,
                    ty: wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Storage { read_only: true },
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                    count: None,
                },
            ],
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("display"),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        Rc::new(Display { gpu: gpu.clone(), module, layout, pipeline_layout, pipelines: RefCell::default() })
    }

    fn pipeline(&self, format: wgpu::TextureFormat) -> wgpu::RenderPipeline {
        self.pipelines
            .borrow_mut()
            .entry(format)
            .or_insert_with(|| {
                self.gpu.device().create_render_pipeline(&wgpu::RenderPipelineDescriptor {
                    label: Some("display"),
                    layout: Some(&self.pipeline_layout),
                    vertex: wgpu::VertexState {
                        module: &self.module,
                        entry_point: Some("vs_main"),
                        compilation_options: Default::default(),
                        buffers: &[],
                    },
                    primitive: wgpu::PrimitiveState::default(),
                    depth_stencil: None,
                    multisample: wgpu::MultisampleState::default(),
                    fragment: Some(wgpu::FragmentState {
                        module: &self.module,
                        entry_point: Some("fs_main"),
                        compilation_options: Default::default(),
                        targets: &[Some(wgpu::ColorTargetState {
                            format,
                            blend: None,
                            write_mask: wgpu::ColorWrites::ALL,
                        })],
                    }),
                    multiview_mask: None,
                    cache: None,
                })
            })
            .clone()
    }
}

/// One canvas that shows a grid of images.
pub struct GridView {
    pub canvas: HtmlCanvasElement,
    display: Rc<Display>,
    surface: wgpu::Surface<'static>,
    format: wgpu::TextureFormat,
    alpha: wgpu::CompositeAlphaMode,
    uniforms: wgpu::Buffer,
    /// Backing-store size the surface is configured for.
    configured: Option<(u32, u32)>,
    pub layout: Option<Layout>,
}

/// Whole device pixels per CSS pixel (at least 1), so that image pixels stay square blocks.
pub fn pixel_ratio() -> usize {
    web_sys::window().map_or(1.0, |w| w.device_pixel_ratio()).round().max(1.0) as usize
}

/// `overlay` sized to `width × height` CSS pixels at the screen's pixel ratio and cleared,
/// with its 2-D context drawing in CSS pixels; None where the browser gives no context.
pub fn clear_overlay(overlay: &HtmlCanvasElement, width: f64, height: f64) -> Option<CanvasRenderingContext2d> {
    let ratio = pixel_ratio() as f64;
    let (backing_width, backing_height) = ((width * ratio) as u32, (height * ratio) as u32);
    if overlay.width() != backing_width || overlay.height() != backing_height {
        overlay.set_width(backing_width);
        overlay.set_height(backing_height);
        let style = overlay.style();
        let _ = style.set_property("width", &format!("{width}px"));
        let _ = style.set_property("height", &format!("{height}px"));
    }
    let context = overlay.get_context("2d").ok().flatten()?.dyn_into::<CanvasRenderingContext2d>().ok()?;
    let _ = context.set_transform(ratio, 0.0, 0.0, ratio, 0.0, 0.0);
    context.clear_rect(0.0, 0.0, width, height);
    Some(context)
}

impl GridView {
    pub fn new(display: &Rc<Display>, canvas: HtmlCanvasElement) -> Result<GridView> {
        let gpu = &display.gpu;
        let (surface, caps) = gpu.canvas_surface(canvas.clone())?;
        let format = *caps
            .formats
            .iter()
            .find(|f| !f.is_srgb())
            .or(caps.formats.first())
            .ok_or_else(|| Error::Device("the canvas offers no texture format".into()))?;
        let alpha = if caps.alpha_modes.contains(&wgpu::CompositeAlphaMode::Opaque) {
            wgpu::CompositeAlphaMode::Opaque
        } else {
            caps.alpha_modes.first().copied().unwrap_or(wgpu::CompositeAlphaMode::Auto)
        };
        let uniforms = gpu.device().create_buffer(&wgpu::BufferDescriptor {
            label: Some("display params"),
            size: std::mem::size_of::<Params>() as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        Ok(GridView {
            canvas,
            display: display.clone(),
            surface,
            format,
            alpha,
            uniforms,
            configured: None,
            layout: None,
        })
    }

    /// A view on the canvas with id `id`.
    pub fn for_id(display: &Rc<Display>, id: &str) -> Result<GridView> {
        let canvas = super::dom::by_id(id)
            .map_err(|e| Error::Invalid(format!("{e:?}")))?
            .dyn_into::<HtmlCanvasElement>()
            .map_err(|_| Error::Invalid(format!("#{id} is not a canvas")))?;
        GridView::new(display, canvas)
    }

    /// Draws `layout.count` images of `images` (which holds at least that many, starting at
    /// image `first`). Work recorded on the GPU so far is submitted first, so the images are
    /// whatever the model last wrote.
    pub fn draw(&mut self, images: &Tensor, layout: Layout, first: usize) -> Result<()> {
        let image_len = layout.height * layout.width * layout.channels;
        if layout.count == 0 || (first + layout.count) * image_len > images.len() {
            return Err(Error::Invalid(format!(
                "cannot show {} images of {}×{}×{} from image {first} of a tensor of {} values",
                layout.count,
                layout.height,
                layout.width,
                layout.channels,
                images.len()
            )));
        }
        let gpu = &self.display.gpu;
        gpu.submit();
        let ratio = pixel_ratio();
        let device_layout = Layout { scale: layout.scale * ratio, gap: layout.gap * ratio, ..layout };
        let (w, h) = device_layout.css_size();
        let (css_w, css_h) = layout.css_size();
        if self.configured != Some((w as u32, h as u32)) {
            self.canvas.set_width(w as u32);
            self.canvas.set_height(h as u32);
            let style = self.canvas.style();
            let _ = style.set_property("width", &format!("{css_w}px"));
            let _ = style.set_property("height", &format!("{css_h}px"));
            self.surface.configure(
                gpu.device(),
                &wgpu::SurfaceConfiguration {
                    usage: wgpu::TextureUsages::RENDER_ATTACHMENT,
                    format: self.format,
                    color_space: Default::default(),
                    width: w as u32,
                    height: h as u32,
                    desired_maximum_frame_latency: 2,
                    present_mode: wgpu::PresentMode::Fifo,
                    alpha_mode: self.alpha,
                    view_formats: vec![],
                },
            );
            self.configured = Some((w as u32, h as u32));
        }
        self.layout = Some(layout);
        let ring = |c: Option<usize>| c.filter(|&c| c < layout.count).map_or(-1, |c| c as i32);
        let params = Params {
            count: layout.count as u32,
            height: layout.height as u32,
            width: layout.width as u32,
            channels: layout.channels as u32,
            cols: layout.cols as u32,
            scale: device_layout.scale as u32,
            gap: device_layout.gap as u32,
            first: (first * image_len) as u32,
            ring_a: ring(layout.ring_a),
            ring_b: ring(layout.ring_b),
            _pad0: 0,
            _pad1: 0,
            background: BACKGROUND,
            accent_a: ACCENT_A,
            accent_b: ACCENT_B,
        };
        gpu.queue().write_buffer(&self.uniforms, 0, bytemuck::bytes_of(&params));
        let frame = match self.surface.get_current_texture() {
            wgpu::CurrentSurfaceTexture::Success(t) | wgpu::CurrentSurfaceTexture::Suboptimal(t) => t,
            // Passing states: skip this frame, configure afresh next time.
            wgpu::CurrentSurfaceTexture::Timeout
            | wgpu::CurrentSurfaceTexture::Occluded
            | wgpu::CurrentSurfaceTexture::Outdated => {
                self.configured = None;
                return Ok(());
            }
            other => return Err(Error::Device(format!("the canvas gave no texture to draw into: {other:?}"))),
        };
        let view = frame.texture.create_view(&wgpu::TextureViewDescriptor::default());
        let bind_group = gpu.device().create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("display"),
            layout: &self.display.layout,
            entries: &[
                wgpu::BindGroupEntry { binding: 0, resource: self.uniforms.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 1, resource: images.raw().as_entire_binding() },
            ],
        });
        let mut encoder =
            gpu.device().create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("display") });
        {
            let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
                label: Some("display"),
                color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                    view: &view,
                    depth_slice: None,
                    resolve_target: None,
                    ops: wgpu::Operations {
                        load: wgpu::LoadOp::Clear(wgpu::Color::WHITE),
                        store: wgpu::StoreOp::Store,
                    },
                })],
                depth_stencil_attachment: None,
                timestamp_writes: None,
                occlusion_query_set: None,
                multiview_mask: None,
            });
            pass.set_pipeline(&self.display.pipeline(self.format));
            pass.set_bind_group(0, &bind_group, &[]);
            pass.draw(0..3, 0..1);
        }
        gpu.queue().submit([encoder.finish()]);
        gpu.queue().present(frame);
        Ok(())
    }

    /// Draws again with a new layout of the same images (e.g. moved rings), if any were drawn.
    pub fn layout_of(&self) -> Option<Layout> {
        self.layout
    }
}
