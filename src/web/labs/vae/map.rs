//! The VAE lab's latent maps (2-D latents): the overlay over each decoded plane, with the
//! held-out codes as dots, the cells judged moons tinted, and the point a drag moves.

use std::cell::RefCell;
use std::rc::Rc;

use web_sys::{HtmlCanvasElement, PointerEvent};

use super::{MAP, PRIOR_EXTENT};
use crate::error::Result;
use crate::web::canvas::clear_overlay;
use crate::web::dom;
use crate::web::labs::{Cmd, Queue};

/// What a latent map's overlay shows; shared with its pointer handlers.
pub(super) struct MapState {
    pub(super) overlay: HtmlCanvasElement,
    /// Half-width of the decoded grid (codes of cell centres span ±extent).
    pub(super) extent: f32,
    /// CSS pixels per cell.
    pub(super) cell: f64,
    pub(super) point: (f32, f32),
    /// Held-out codes and a hue for each (moon phase; None: one colour).
    pub(super) dots: Vec<(f32, f32, Option<f32>)>,
    /// Which cells decode to a real moon, row by row, as last judged (empty: not judged).
    pub(super) moons: Vec<bool>,
}

impl MapState {
    fn size(&self) -> f64 {
        self.cell * MAP as f64
    }

    /// Code of a point in CSS pixels (first latent dimension downwards, second to the right,
    /// as `latent_grid` lays them out).
    fn code_at(&self, x: f64, y: f64) -> (f32, f32) {
        let e = self.extent as f64;
        let z = |p: f64| (-e + 2.0 * e * (p / self.cell - 0.5) / (MAP - 1) as f64) as f32;
        (z(y), z(x))
    }

    fn pixel_of(&self, z: f32) -> f64 {
        let e = self.extent as f64;
        self.cell * ((z as f64 + e) / (2.0 * e) * (MAP - 1) as f64 + 0.5)
    }

    pub(super) fn draw(&self) {
        let size = self.size();
        let Some(c) = clear_overlay(&self.overlay, size, size) else { return };
        // Cells that decode to a moon, tinted: the untinted ones are the map's holes.
        c.set_fill_style_str("rgba(46, 180, 110, 0.28)");
        for (i, _) in self.moons.iter().enumerate().filter(|(_, &moon)| moon) {
            let (row, col) = ((i / MAP) as f64, (i % MAP) as f64);
            c.fill_rect(col * self.cell, row * self.cell, self.cell, self.cell);
        }
        for &(z0, z1, hue) in &self.dots {
            let (x, y) = (self.pixel_of(z1), self.pixel_of(z0));
            if !(0.0..size).contains(&x) || !(0.0..size).contains(&y) {
                continue;
            }
            let fill = match hue {
                Some(h) => format!("hsla({:.0}, 75%, 50%, 0.85)", h * 360.0),
                None => "rgba(109, 74, 214, 0.75)".into(),
            };
            c.set_fill_style_str(&fill);
            c.begin_path();
            let _ = c.arc(x, y, 2.5, 0.0, std::f64::consts::TAU);
            c.fill();
        }
        let (x, y) = (self.pixel_of(self.point.1), self.pixel_of(self.point.0));
        c.set_line_width(2.0);
        c.set_stroke_style_str("#ffffff");
        c.begin_path();
        let _ = c.arc(x, y, 7.0, 0.0, std::f64::consts::TAU);
        c.stroke();
        c.set_line_width(1.5);
        c.set_stroke_style_str("#1d1f24");
        c.begin_path();
        let _ = c.arc(x, y, 8.5, 0.0, std::f64::consts::TAU);
        c.stroke();
        c.begin_path();
        c.move_to(x - 12.0, y);
        c.line_to(x - 4.0, y);
        c.move_to(x + 4.0, y);
        c.line_to(x + 12.0, y);
        c.move_to(x, y - 12.0);
        c.line_to(x, y - 4.0);
        c.move_to(x, y + 4.0);
        c.line_to(x, y + 12.0);
        c.stroke();
    }
}

/// Both maps' overlays, with the drags on them queued as points to decode.
pub(super) fn wire(queue: &Queue) -> Result<[Rc<RefCell<MapState>>; 2]> {
    let map_state = |i: usize| -> Result<Rc<RefCell<MapState>>> {
        Ok(Rc::new(RefCell::new(MapState {
            overlay: dom::get(&format!("vae-map-overlay{i}"))?,
            extent: PRIOR_EXTENT,
            cell: 28.0,
            point: (0.0, 0.0),
            dots: Vec::new(),
            moons: Vec::new(),
        })))
    };
    let map_state = [map_state(0)?, map_state(1)?];
    for (i, state) in map_state.iter().enumerate() {
        let overlay = state.borrow().overlay.clone();
        let move_to = {
            let (state, q) = (state.clone(), queue.clone());
            move |e: &PointerEvent| {
                let code = {
                    let mut s = state.borrow_mut();
                    let code = s.code_at(e.offset_x() as f64, e.offset_y() as f64);
                    s.point = code;
                    s.draw();
                    code
                };
                q.push(Cmd::Point(i, code.0, code.1));
            }
        };
        // The primary button drags the point.
        dom::on_drag(&overlay, 1, move_to);
    }
    Ok(map_state)
}
