//! How one sprite is drawn, as palette indices: a body from a random superellipse (round
//! to boxy, pear to head-heavy) whose rim is roughened with noise and smoothed by one
//! cellular-automaton step, drawn on the left half and mirrored; then the limbs, the eyes (a
//! pair or one big eye), a mouth (line, smile, open with teeth or tongue, fangs), sometimes
//! cheeks, a belly patch or spots; then shading (light top edge, dark bottom and lower
//! sides) and an outline around everything.

use super::{tone, BACKGROUND, HUES, OUTLINE, PINK, WHITE};
use crate::data::rng::Rng;

// Parts of a sprite before colouring.
const EMPTY: u8 = 0;
const BODY: u8 = 1;
const LIMB: u8 = 2;
const ACCENT: u8 = 3;
const STEM: u8 = 4;
const EYE: u8 = 5;
const PUPIL: u8 = 6;
const MOUTH: u8 = 7;
const TOOTH: u8 = 8;
/// Cheeks and tongues (pink).
const BLUSH: u8 = 9;
const BELLY: u8 = 10;
const SPOT: u8 = 11;

/// A square grid of parts; every write is mirrored left–right and kept off the one-pixel
/// border (which is left for the outline).
struct Canvas {
    s: i32,
    cells: Vec<u8>,
}

impl Canvas {
    fn new(s: usize) -> Canvas {
        Canvas { s: s as i32, cells: vec![EMPTY; s * s] }
    }

    fn inside(&self, x: i32, y: i32) -> bool {
        x >= 1 && y >= 1 && x <= self.s - 2 && y <= self.s - 2
    }

    fn get(&self, x: i32, y: i32) -> u8 {
        if x < 0 || y < 0 || x >= self.s || y >= self.s {
            EMPTY
        } else {
            self.cells[(y * self.s + x) as usize]
        }
    }

    fn solid(&self, x: i32, y: i32) -> bool {
        self.get(x, y) != EMPTY
    }

    /// Sets (x, y) and its mirror image, if inside the drawable area.
    fn set(&mut self, x: i32, y: i32, v: u8) {
        if self.inside(x, y) {
            let m = self.s - 1 - x;
            self.cells[(y * self.s + x) as usize] = v;
            self.cells[(y * self.s + m) as usize] = v;
        }
    }

    /// Sets (x, y) only where it is still empty.
    fn add(&mut self, x: i32, y: i32, v: u8) {
        if self.get(x, y) == EMPTY {
            self.set(x, y, v);
        }
    }

    /// Left half columns: 0..=last_left (the centre column too when the side is odd).
    fn last_left(&self) -> i32 {
        (self.s - 1) / 2
    }

    fn col_top(&self, x: i32, part: u8) -> Option<i32> {
        (0..self.s).find(|&y| self.get(x, y) == part)
    }

    fn col_bottom(&self, x: i32, part: u8) -> Option<i32> {
        (0..self.s).rev().find(|&y| self.get(x, y) == part)
    }

    fn row_left(&self, y: i32, part: u8) -> Option<i32> {
        (0..self.s).find(|&x| self.get(x, y) == part)
    }

    fn count(&self, part: u8) -> usize {
        self.cells.iter().filter(|&&c| c == part).count()
    }

    fn all(&self, x0: i32, y0: i32, x1: i32, y1: i32, part: u8) -> bool {
        (y0..=y1).all(|y| (x0..=x1).all(|x| self.get(x, y) == part))
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Top {
    None,
    Horns,
    Antennae,
    Ears,
    Spikes,
    Crest,
}

#[derive(Clone, Copy, PartialEq)]
enum Bottom {
    None,
    Legs,
    Tentacles,
    Feet,
}

fn round(v: f32) -> i32 {
    v.round() as i32
}

/// One `size`×`size` sprite from `rng`: palette indices, row-major.
pub(super) fn draw(rng: &mut Rng, size: usize) -> Vec<u8> {
    let s = size as i32;
    let u = size as f32 / 16.0;
    let cx = (s - 1) as f32 / 2.0;
    let mut c = Canvas::new(size);

    let top = [Top::None, Top::Horns, Top::Antennae, Top::Ears, Top::Spikes, Top::Crest]
        [rng.weighted(&[0.2, 0.22, 0.2, 0.14, 0.12, 0.12])];
    let bottom = [Bottom::None, Bottom::Legs, Bottom::Tentacles, Bottom::Feet][rng.weighted(&[0.15, 0.5, 0.17, 0.18])];
    let arms = rng.chance(0.5);

    let top_room = match top {
        Top::None => 0,
        Top::Spikes => 1,
        Top::Crest | Top::Ears => round(rng.range_f32(1.0, 2.5) * u).max(1),
        Top::Horns | Top::Antennae => round(rng.range_f32(2.0, 3.6) * u).max(2),
    };
    let bottom_room = match bottom {
        Bottom::None => 0,
        Bottom::Feet => round(u).max(1),
        Bottom::Legs => round(rng.range_f32(1.5, 3.6) * u).max(1),
        Bottom::Tentacles => round(rng.range_f32(2.0, 3.6) * u).max(2),
    };
    let y_bot = s - 2 - bottom_room;
    let avail = (y_bot - (1 + top_room) + 1).max(3);
    let bh = round(avail as f32 * rng.range_f32(0.72, 1.0)).clamp(3, avail);
    let y_top = y_bot - bh + 1;

    // Half-width of the body from the centre line to the centre of its outermost column.
    let mut side_room = if arms { round(rng.range_f32(1.5, 3.2) * u).max(1) } else { 0 };
    let min_half = 3.6 * u;
    side_room = side_room.min(((cx - 1.0 - min_half).floor() as i32).max(0));
    let max_half = cx - 1.0 - side_room as f32;
    let bw = rng.range_f32(0.6, 1.0) * (max_half - min_half).max(0.0) + min_half.min(max_half);

    // Body: superellipse with taper, a noisy rim, one smoothing step.
    let p = rng.range_f32(1.5, 4.5);
    let taper = rng.range_f32(-0.4, 0.4);
    let rim = rng.range_f32(0.7, 0.9);
    let yc = (y_top + y_bot) as f32 / 2.0;
    let hh = bh as f32 / 2.0;
    for y in y_top..=y_bot {
        for x in 1..=c.last_left() {
            let ny = (y as f32 - yc) / hh;
            let w = bw * (1.0 + taper * ny) + 0.5;
            let nx = (x as f32 - cx).abs() / w.max(1.0);
            let d = (nx.abs().powf(p) + ny.abs().powf(p)).powf(1.0 / p);
            let fill = if d < rim {
                true
            } else if d < 1.12 {
                rng.chance(((1.12 - d) / (1.12 - rim)).clamp(0.0, 1.0) * 0.95)
            } else {
                false
            };
            if fill {
                c.set(x, y, BODY);
            }
        }
    }
    smooth(&mut c, y_top, y_bot);
    keep_centre_component(&mut c, cx.floor() as i32, yc.round() as i32);
    fill_holes(&mut c);
    if c.count(BODY) < (bh as f32 * bw * 1.2) as usize {
        // Too ragged: fall back to the plain shape.
        for y in y_top..=y_bot {
            for x in 1..=c.last_left() {
                let ny = (y as f32 - yc) / hh;
                let w = bw * (1.0 + taper * ny) + 0.5;
                let nx = (x as f32 - cx).abs() / w.max(1.0);
                if nx.powf(p) + ny.abs().powf(p) < 1.0 {
                    c.set(x, y, BODY);
                }
            }
        }
    }
    let body_top = (0..s).find(|&y| c.row_left(y, BODY).is_some()).unwrap_or(y_top);
    let body_bot = (0..s).rev().find(|&y| c.row_left(y, BODY).is_some()).unwrap_or(y_bot);
    let body_h = body_bot - body_top + 1;

    // Face first (it needs plain body around it), then limbs.
    let eyes = draw_eyes(&mut c, rng, u, body_top, body_h);
    if let Some(eyes) = eyes {
        if rng.chance(0.85) {
            draw_mouth(&mut c, rng, u, eyes.bottom);
        }
        if eyes.pair && rng.chance(0.3) {
            draw_cheeks(&mut c, &eyes);
        }
    }

    match bottom {
        Bottom::None => {}
        Bottom::Legs => draw_legs(&mut c, rng, u),
        Bottom::Tentacles => draw_tentacles(&mut c, rng),
        Bottom::Feet => draw_feet(&mut c, rng, u),
    }
    if arms && side_room > 0 {
        draw_arms(&mut c, rng, side_room, body_top, body_h);
    }
    match top {
        Top::None => {}
        Top::Horns => draw_horns(&mut c, rng, top_room),
        Top::Antennae => draw_antennae(&mut c, rng, top_room),
        Top::Ears => draw_ears(&mut c, rng, top_room),
        Top::Spikes => draw_spikes(&mut c, rng),
        Top::Crest => draw_crest(&mut c, rng, top_room),
    }
    if rng.chance(0.35) {
        draw_belly(&mut c, rng, cx, body_top, body_h);
    }
    if rng.chance(0.25) {
        draw_spots(&mut c, rng);
    }

    colour(&c, rng, body_top, body_h)
}

/// One cellular-automaton step over the body rows: a body cell survives with at least three
/// body neighbours (of eight), an empty cell becomes body with at least six.
fn smooth(c: &mut Canvas, y0: i32, y1: i32) {
    let old = Canvas { s: c.s, cells: c.cells.clone() };
    for y in y0..=y1 {
        for x in 1..=c.last_left() {
            let mut n = 0;
            for dy in -1..=1 {
                for dx in -1..=1 {
                    if (dx, dy) != (0, 0) && old.get(x + dx, y + dy) == BODY {
                        n += 1;
                    }
                }
            }
            let was = old.get(x, y) == BODY;
            let now = if was { n >= 3 } else { n >= 6 };
            c.set(x, y, if now { BODY } else { EMPTY });
        }
    }
}

/// Keeps the 4-connected body component holding (x, y) (a centre cell, so the component is
/// its own mirror image).
fn keep_centre_component(c: &mut Canvas, x: i32, y: i32) {
    if c.get(x, y) != BODY {
        return;
    }
    let s = c.s;
    let mut keep = vec![false; (s * s) as usize];
    let mut stack = vec![(x, y)];
    keep[(y * s + x) as usize] = true;
    while let Some((px, py)) = stack.pop() {
        for (dx, dy) in [(1, 0), (-1, 0), (0, 1), (0, -1)] {
            let (qx, qy) = (px + dx, py + dy);
            if c.get(qx, qy) == BODY && !keep[(qy * s + qx) as usize] {
                keep[(qy * s + qx) as usize] = true;
                stack.push((qx, qy));
            }
        }
    }
    for (cell, k) in c.cells.iter_mut().zip(keep) {
        if *cell == BODY && !k {
            *cell = EMPTY;
        }
    }
}

/// Empty cells not reachable from the border become body.
fn fill_holes(c: &mut Canvas) {
    let s = c.s;
    let mut outside = vec![false; (s * s) as usize];
    let mut stack: Vec<(i32, i32)> = Vec::new();
    for i in 0..s {
        for (x, y) in [(i, 0), (i, s - 1), (0, i), (s - 1, i)] {
            if !outside[(y * s + x) as usize] && !c.solid(x, y) {
                outside[(y * s + x) as usize] = true;
                stack.push((x, y));
            }
        }
    }
    while let Some((px, py)) = stack.pop() {
        for (dx, dy) in [(1, 0), (-1, 0), (0, 1), (0, -1)] {
            let (qx, qy) = (px + dx, py + dy);
            if qx >= 0 && qy >= 0 && qx < s && qy < s {
                let k = (qy * s + qx) as usize;
                if !outside[k] && !c.solid(qx, qy) {
                    outside[k] = true;
                    stack.push((qx, qy));
                }
            }
        }
    }
    for (cell, o) in c.cells.iter_mut().zip(outside) {
        if *cell == EMPTY && !o {
            *cell = BODY;
        }
    }
}

/// Eyes: a pair, or one big eye in the middle. Returns the last row of the eyes.
fn draw_eyes(c: &mut Canvas, rng: &mut Rng, u: f32, body_top: i32, body_h: i32) -> Option<Eyes> {
    let centre_left = c.last_left(); // last column of the left half
    let cyclops = rng.chance(0.18);
    let tall = rng.chance(0.45);
    let target_y = body_top as f32 + body_h as f32 * rng.range_f32(0.15, 0.45);
    let target_gap = rng.range_f32(0.0, 3.0 * u);
    let pupil_inner = rng.chance(0.7);
    let pupil_top = rng.chance(0.15);
    // Attempts (cyclops, half-width or width, height, ring of body needed around the eye):
    // the chosen style, a normal pair, a small pair, a small pair that may touch the
    // outline, a small middle eye that may touch it.
    let big = round(2.0 * u).max(1);
    let normal = if u < 0.75 { (false, 1, 2, 1) } else { (false, big, big + tall as i32, 1) };
    let first = if cyclops { (true, big, round(2.6 * u).max(2), 1) } else { normal };
    let attempts = [first, normal, (false, 1, 2, 1), (false, 1, 2, 0), (true, 1, 2, 0)];
    for (is_cyclops, ew, eh, ring) in attempts {
        // Candidate left-eye positions (x0 = left column, y0 = top row).
        let mut best: Option<(f32, i32, i32)> = None;
        for y0 in 1..c.s - 1 - eh {
            let x_range: Vec<i32> = if is_cyclops {
                // One eye straddling the centre: its left half ends at the centre column.
                vec![centre_left - ew + 1]
            } else {
                // The right column of the left eye stays left of the centre gap.
                (1..=centre_left - ew).collect()
            };
            for x0 in x_range {
                let x1 = if is_cyclops { c.s - 1 - x0 } else { x0 + ew - 1 };
                let y1 = y0 + eh - 1;
                if !c.all(x0 - ring, y0 - ring, x1 + ring, y1 + ring, BODY) {
                    continue;
                }
                let gap = (centre_left - x1) as f32;
                let score = (y0 as f32 - target_y).abs() + 0.7 * (gap - target_gap).abs();
                if best.is_none_or(|(b, _, _)| score < b) {
                    best = Some((score, x0, y0));
                }
            }
        }
        let Some((_, x0, y0)) = best else { continue };
        let y1 = y0 + eh - 1;
        if is_cyclops {
            let x1 = c.s - 1 - x0;
            for y in y0..=y1 {
                for x in x0..=x1 {
                    c.set(x, y, EYE);
                }
            }
            // Pupil: the middle column(s), lower rows.
            let pw = (ew / 2 - 1).max(0);
            let ph = ((eh + 1) / 2).max(1);
            let py0 = if pupil_top { y0 } else { y1 - ph + 1 };
            for y in py0..py0 + ph {
                for x in centre_left - pw..=centre_left {
                    c.set(x, y, PUPIL);
                }
            }
        } else {
            let x1 = x0 + ew - 1;
            for y in y0..=y1 {
                for x in x0..=x1 {
                    c.set(x, y, EYE);
                }
            }
            let pw = (ew / 2).max(1);
            let ph = (eh / 2).max(1);
            let px0 = if pupil_inner { x1 - pw + 1 } else { x0 };
            let py0 = if pupil_top { y0 } else { y1 - ph + 1 };
            for y in py0..py0 + ph {
                for x in px0..px0 + pw {
                    c.set(x, y, PUPIL);
                }
            }
        }
        return Some(Eyes { left: x0, bottom: y1, pair: !is_cyclops });
    }
    None
}

/// Where the eyes went: the left eye's first column and the eyes' last row.
struct Eyes {
    left: i32,
    bottom: i32,
    pair: bool,
}

/// Pink cheeks below the outer corners of a pair of eyes, where there is body all round.
fn draw_cheeks(c: &mut Canvas, eyes: &Eyes) {
    let (x, y) = (eyes.left - 1, eyes.bottom + 1);
    if (-1..=1).all(|dy| (-1..=1).all(|dx| (dx, dy) == (1, -1) || c.get(x + dx, y + dy) == BODY)) {
        c.set(x, y, BLUSH);
    }
}

/// A mouth under the eyes: a line, a smile, an open mouth with teeth or a tongue, or fangs.
fn draw_mouth(c: &mut Canvas, rng: &mut Rng, u: f32, eye_bottom: i32) {
    let centre_left = c.last_left();
    let odd = c.s % 2 == 1;
    let style = rng.weighted(&[0.3, 0.3, 0.25, 0.15]); // line, smile, open, fangs
    let want_half = rng.range(1, round(2.5 * u).max(1) as usize) as i32;
    let rows = if style == 2 { 2 } else { 1 };
    let gap = 1 + rng.below(2) as i32;
    for y in eye_bottom + 1 + gap..c.s - 2 {
        for half in (1..=want_half).rev() {
            // Columns x0..=centre (mirrored); an odd side has the centre column once.
            let x0 = centre_left - half + 1 - odd as i32;
            let x0 = x0.min(centre_left);
            let below = if style == 3 { 2 } else { 1 };
            if !c.all(x0 - 1, y - 1, c.s - x0, y + rows - 1 + below, BODY) {
                continue;
            }
            match style {
                0 => (x0..=centre_left).for_each(|x| c.set(x, y, MOUTH)),
                1 => {
                    (x0..=centre_left).for_each(|x| c.set(x, y, MOUTH));
                    if half >= 2 {
                        c.set(x0 - 1, y - 1, MOUTH);
                    }
                }
                2 => {
                    for x in x0..=centre_left {
                        c.set(x, y, MOUTH);
                        c.set(x, y + 1, MOUTH);
                    }
                    if rng.chance(0.5) {
                        c.set(x0, y, TOOTH);
                    }
                    if rng.chance(0.5) {
                        c.set(centre_left, y + 1, BLUSH);
                    }
                }
                _ => {
                    (x0..=centre_left).for_each(|x| c.set(x, y, MOUTH));
                    c.set(x0, y + 1, TOOTH);
                }
            }
            return;
        }
    }
}

fn draw_legs(c: &mut Canvas, rng: &mut Rng, u: f32) {
    let centre_left = c.last_left();
    let thick = if u >= 1.5 || rng.chance(0.3) { 2 } else { 1 };
    let splay = rng.chance(0.3);
    let feet = rng.chance(0.5);
    // Columns of the left half whose lowest body cell is in the bottom two body rows.
    let lowest = (1..=centre_left).filter_map(|x| c.col_bottom(x, BODY)).max().unwrap_or(1);
    let cols: Vec<i32> = (1..=centre_left - thick)
        .filter(|&x| (x..x + thick).all(|xx| c.col_bottom(xx, BODY).is_some_and(|b| b >= lowest - 1)))
        .collect();
    if cols.is_empty() {
        return;
    }
    let pairs = if cols.len() >= 5 && rng.chance(0.35) { 2 } else { 1 };
    let outer = cols[rng.below(cols.len().min(2))];
    let mut xs = vec![outer];
    if pairs == 2 {
        let inner: Vec<i32> = cols.iter().copied().filter(|&x| x > outer + thick).collect();
        if !inner.is_empty() {
            xs.push(inner[rng.below(inner.len())]);
        }
    }
    for x in xs {
        let start = (x..x + thick).filter_map(|xx| c.col_bottom(xx, BODY)).min().unwrap_or(lowest);
        let mut lx = x;
        for (k, y) in (start + 1..=c.s - 2).enumerate() {
            if splay && k % 2 == 1 {
                lx -= 1;
            }
            for xx in lx..lx + thick {
                c.add(xx, y, LIMB);
            }
        }
        if feet {
            c.add(lx - 1, c.s - 2, LIMB);
        }
    }
}

fn draw_tentacles(c: &mut Canvas, rng: &mut Rng) {
    let centre_left = c.last_left();
    let phase = rng.below(2) as i32;
    let lowest = (1..=centre_left).filter_map(|x| c.col_bottom(x, BODY)).max().unwrap_or(1);
    let start_x =
        (1..=centre_left).find(|&x| c.col_bottom(x, BODY).is_some_and(|b| b >= lowest - 1)).unwrap_or(centre_left);
    let mut x = start_x + rng.below(2) as i32;
    while x < centre_left {
        if let Some(b) = c.col_bottom(x, BODY) {
            for (k, y) in (b + 1..=c.s - 2).enumerate() {
                let wiggle = ((k as i32 + phase) / 2) % 2;
                c.add(x - wiggle, y, LIMB);
            }
        }
        x += 3;
    }
}

fn draw_feet(c: &mut Canvas, rng: &mut Rng, u: f32) {
    let centre_left = c.last_left();
    let w = round(rng.range_f32(1.5, 3.0) * u).max(1);
    let lowest = (1..=centre_left).filter_map(|x| c.col_bottom(x, BODY)).max().unwrap_or(1);
    let Some(x_edge) = (1..=centre_left).find(|&x| c.col_bottom(x, BODY).is_some_and(|b| b == lowest)) else {
        return;
    };
    let x0 = (x_edge - rng.below(2) as i32).max(1);
    for y in lowest + 1..=c.s - 2 {
        for x in x0..(x0 + w).min(centre_left) {
            c.add(x, y, LIMB);
        }
    }
}

fn draw_arms(c: &mut Canvas, rng: &mut Rng, reach: i32, body_top: i32, body_h: i32) {
    let y = body_top + round(body_h as f32 * rng.range_f32(0.35, 0.7));
    let Some(edge) = c.row_left(y, BODY) else { return };
    let style = rng.weighted(&[0.3, 0.3, 0.2, 0.2]); // straight, raised, lowered, claw
    let len = reach.min(edge - 1).max(1);
    let mut tip = edge;
    for k in 1..=len {
        tip = edge - k;
        c.add(tip, y, LIMB);
    }
    match style {
        1 => (1..=rng.range(1, 2) as i32).for_each(|k| c.add(tip, y - k, LIMB)),
        2 => (1..=rng.range(1, 2) as i32).for_each(|k| c.add(tip, y + k, LIMB)),
        3 => {
            c.add(tip, y - 1, LIMB);
            c.add(tip, y + 1, LIMB);
        }
        _ => {}
    }
}

fn draw_horns(c: &mut Canvas, rng: &mut Rng, len: i32) {
    let centre_left = c.last_left();
    let tops: Vec<(i32, i32)> = (1..=centre_left).filter_map(|x| c.col_top(x, BODY).map(|t| (x, t))).collect();
    let Some(&(_, highest)) = tops.iter().min_by_key(|&&(_, t)| t) else { return };
    // Candidate bases: columns whose top is within a row of the highest, away from the centre.
    let bases: Vec<i32> = tops.iter().filter(|&&(x, t)| t <= highest + 1 && x < centre_left).map(|&(x, _)| x).collect();
    if bases.is_empty() {
        return;
    }
    let x = bases[rng.below(bases.len().min(3))];
    let lean = rng.weighted(&[0.5, 0.35, 0.15]); // outward, straight up, inward
    let top = c.col_top(x, BODY).unwrap_or(highest);
    let mut hx = x;
    for k in 1..=len {
        let y = top - k;
        if k > 1 {
            hx += match lean {
                0 => -1,
                2 => 1,
                _ => 0,
            };
            hx = hx.clamp(1, centre_left - 1);
        }
        c.add(hx, y, ACCENT);
        if k == 1 && rng.chance(0.5) {
            c.add(hx + 1, y, ACCENT);
        }
    }
}

fn draw_antennae(c: &mut Canvas, rng: &mut Rng, len: i32) {
    let centre_left = c.last_left();
    let inner = rng.chance(0.5);
    let cols: Vec<i32> = (1..=centre_left - 1).filter(|&x| c.col_top(x, BODY).is_some()).collect();
    if cols.is_empty() {
        return;
    }
    let x = if inner {
        cols[cols.len() - 1 - rng.below(cols.len().min(2))]
    } else {
        cols[(cols.len() / 2).min(cols.len() - 1)]
    };
    let top = c.col_top(x, BODY).unwrap_or(1);
    let tilt = rng.chance(0.5);
    let mut ax = x;
    for k in 1..len {
        if tilt && k == len - 1 {
            ax -= 1;
        }
        c.add(ax, top - k, STEM);
    }
    c.add(ax, top - len, ACCENT);
    if len >= 3 && rng.chance(0.5) {
        c.add(ax - 1, top - len + 1, ACCENT);
    }
}

fn draw_ears(c: &mut Canvas, rng: &mut Rng, len: i32) {
    let centre_left = c.last_left();
    let cols: Vec<i32> = (1..=centre_left - 1).filter(|&x| c.col_top(x, BODY).is_some()).collect();
    if cols.len() < 2 {
        return;
    }
    let x = cols[rng.below(cols.len().div_ceil(2))];
    let top = c.col_top(x, BODY).unwrap_or(1);
    let width = (len + 1).min(centre_left - x);
    for k in 1..=len {
        let w = (width - k + 1).max(1);
        for xx in x..x + w {
            c.add(xx, top - k, BODY);
        }
    }
    // Fill the notch under the ear so it sits on the head.
    for xx in x..x + width {
        if let Some(t) = c.col_top(xx, BODY) {
            for y in top..t {
                c.add(xx, y, BODY);
            }
        }
    }
}

fn draw_spikes(c: &mut Canvas, rng: &mut Rng) {
    let centre_left = c.last_left();
    let parity = rng.below(2) as i32;
    for x in 1..=centre_left {
        if (centre_left - x) % 2 == parity {
            if let Some(t) = c.col_top(x, BODY) {
                c.add(x, t - 1, ACCENT);
            }
        }
    }
}

fn draw_crest(c: &mut Canvas, rng: &mut Rng, len: i32) {
    let centre_left = c.last_left();
    let w = 1 + rng.below(2) as i32;
    for x in centre_left - w + 1..=centre_left {
        if let Some(t) = c.col_top(x, BODY) {
            for k in 1..=len {
                c.add(x, t - k, ACCENT);
            }
        }
    }
}

fn draw_belly(c: &mut Canvas, rng: &mut Rng, cx: f32, body_top: i32, body_h: i32) {
    let by = body_top as f32 + body_h as f32 * rng.range_f32(0.6, 0.75);
    let ry = body_h as f32 * rng.range_f32(0.18, 0.3);
    let rx = rng.range_f32(1.5, 3.5) * c.s as f32 / 16.0;
    for y in 0..c.s {
        for x in 0..=c.last_left() {
            let dx = (x as f32 - cx) / rx;
            let dy = (y as f32 - by) / ry;
            let interior = [(1, 0), (-1, 0), (0, 1), (0, -1)]
                .iter()
                .all(|&(ox, oy)| matches!(c.get(x + ox, y + oy), BODY | BELLY));
            if dx * dx + dy * dy <= 1.0 && c.get(x, y) == BODY && interior {
                c.set(x, y, BELLY);
            }
        }
    }
}

fn draw_spots(c: &mut Canvas, rng: &mut Rng) {
    let n = rng.range(1, 3);
    for _ in 0..n {
        for _try in 0..20 {
            let x = rng.range(1, c.last_left() as usize) as i32;
            let y = rng.range(1, (c.s - 2) as usize) as i32;
            let free = (-1..=1).all(|dy| (-1..=1).all(|dx| c.get(x + dx, y + dy) == BODY));
            if free {
                c.set(x, y, SPOT);
                break;
            }
        }
    }
}

/// Colours the parts, shades the body and draws the outline.
fn colour(c: &Canvas, rng: &mut Rng, body_top: i32, body_h: i32) -> Vec<u8> {
    let hue = rng.below(HUES);
    let accent = if rng.chance(0.3) { hue } else { (hue + 1 + rng.below(HUES - 1)) % HUES };
    let limb_tone = if rng.chance(0.5) { tone(hue, 2) } else { tone(accent, 1) };
    let belly_tone = if accent == hue { tone(hue, 0) } else { tone(accent, 0) };
    let spot_tone = tone(hue, 2);
    let lower = body_top as f32 + body_h as f32 * 0.6;
    let s = c.s;
    let mut out = vec![BACKGROUND; (s * s) as usize];
    for y in 0..s {
        for x in 0..s {
            let i = (y * s + x) as usize;
            out[i] = match c.get(x, y) {
                EMPTY => {
                    let touches = [(1, 0), (-1, 0), (0, 1), (0, -1)].iter().any(|&(dx, dy)| c.solid(x + dx, y + dy));
                    if touches {
                        OUTLINE
                    } else {
                        BACKGROUND
                    }
                }
                BODY => {
                    if !c.solid(x, y - 1) {
                        tone(hue, 0)
                    } else if !c.solid(x, y + 1) || (y as f32 >= lower && (!c.solid(x - 1, y) || !c.solid(x + 1, y))) {
                        tone(hue, 2)
                    } else {
                        tone(hue, 1)
                    }
                }
                LIMB => limb_tone,
                ACCENT => tone(accent, 0),
                STEM => tone(hue, 2),
                EYE | TOOTH => WHITE,
                PUPIL | MOUTH => OUTLINE,
                BLUSH => PINK,
                BELLY => belly_tone,
                SPOT => spot_tone,
                _ => BACKGROUND,
            };
        }
    }
    out
}
