//! The CPU data module: generated sprites and moons, sprite sheets, PNG and safetensors.
#![cfg(not(target_arch = "wasm32"))] // native only; the browser suite is tests/browser.rs

use std::collections::HashSet;

use genlab::data::dump::{load_dataset, save_dataset};
use genlab::data::moons::{lit_fraction, MOON_DARK_SIDE};
use genlab::data::sprites::{BACKGROUND, OUTLINE, SPRITE_PALETTE, WHITE};
use genlab::data::{
    generate_sprite, make_split, moons, moons_at_phases, nearest_moon_distance, render_moon, sheet_from_png, sprites,
    Dataset, DatasetKind, MoonJitter, MoonManifold, MoonPose, SheetOptions, MOON_SIZE,
};
use genlab::io::png::{contact_sheet, decode, encode_rgb, encode_rgba, Images, GAP_COLOR};
use genlab::io::safetensors::{load_tensors, save_tensors};
use genlab::Error;

/// A tiny deterministic generator for test inputs (not the library's).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u32 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) as u32
    }
    fn f32(&mut self) -> f32 {
        self.next() as f32 / (1u64 << 31) as f32
    }
}

fn is_symmetric(img: &[u8], size: usize) -> bool {
    img.chunks(size).all(|row| row.iter().eq(row.iter().rev()))
}

fn message(e: Error) -> String {
    e.to_string()
}

// ---------------------------------------------------------------- sprites

#[test]
fn sprites_are_deterministic_per_seed_and_index() {
    let a = sprites(300, 16, 7).unwrap();
    let b = sprites(300, 16, 7).unwrap();
    assert_eq!(a, b, "same seed, same dataset");
    let c = sprites(300, 16, 8).unwrap();
    assert_ne!(a.indices, c.indices, "another seed, other sprites");
    // Sprite i does not depend on how many are made.
    let small = sprites(20, 16, 7).unwrap();
    let plane = 16 * 16;
    assert_eq!(small.indices.as_ref().unwrap()[..], a.indices.as_ref().unwrap()[..20 * plane]);
    assert_eq!(generate_sprite(7, 5, 16).unwrap(), a.image_indices(5).unwrap());
}

#[test]
fn five_thousand_sprites_from_one_seed_are_distinct() {
    // The raw generator, without the dataset's redraw of repeats.
    let mut seen = HashSet::new();
    for i in 0..5000 {
        assert!(seen.insert(generate_sprite(1, i, 16).unwrap()), "sprite {i} repeats an earlier one");
    }
    // The dataset guarantees it even at the smallest size.
    let ds = sprites(2000, 8, 1).unwrap();
    let distinct: HashSet<&[u8]> = (0..ds.count).map(|i| ds.image_indices(i).unwrap()).collect();
    assert_eq!(distinct.len(), ds.count);
}

#[test]
fn sprites_use_the_palette_and_look_like_monsters() {
    let ds = sprites(1000, 16, 3).unwrap();
    let pal = ds.palette.as_ref().unwrap();
    assert!(pal.len() <= 16);
    assert_eq!(pal[..], SPRITE_PALETTE[..]);
    assert_eq!((ds.channels, ds.height, ds.width, ds.kind), (3, 16, 16, DatasetKind::Sprites));
    let mut shaded = 0;
    for i in 0..ds.count {
        let img = ds.image_indices(i).unwrap();
        assert!(img.iter().all(|&k| (k as usize) < pal.len()));
        assert!(is_symmetric(img, 16), "sprite {i} is not left-right symmetric");
        // Only background and outline on the border; an outline, eyes, a body.
        for k in 0..16 {
            for v in [img[k], img[15 * 16 + k], img[k * 16], img[k * 16 + 15]] {
                assert!(v == BACKGROUND || v == OUTLINE, "sprite {i} reaches the border");
            }
        }
        assert_eq!(img[0], BACKGROUND);
        assert!(img.contains(&OUTLINE));
        assert!(img.contains(&WHITE), "sprite {i} has no eyes");
        let body = img.iter().filter(|&&k| k >= 4).count();
        assert!(body >= 30, "sprite {i} has only {body} body pixels");
        // Shading: some hue appears in all three tones.
        if (0..4).any(|h| (0..3).all(|t| img.contains(&(4 + 3 * h + t)))) {
            shaded += 1;
        }
        // Every pixel's RGB is its palette colour.
        let px = ds.image(i);
        for (j, &k) in img.iter().enumerate() {
            let c = pal[k as usize];
            for ch in 0..3 {
                assert_eq!(px[j * 3 + ch], c[ch] as f32 / 255.0);
            }
        }
    }
    assert!(shaded >= 950, "only {shaded} of 1000 sprites have three tones of a hue");
    // Variety: each body hue is used.
    let hues: HashSet<u8> = ds.indices.as_ref().unwrap().iter().filter(|&&k| k >= 4).map(|k| (k - 4) / 3).collect();
    assert_eq!(hues.len(), 4);
}

#[test]
fn sprite_sizes_8_to_32_are_accepted_and_others_refused() {
    for size in [8, 9, 20, 32] {
        let ds = sprites(40, size, 2).unwrap();
        assert_eq!((ds.height, ds.width), (size, size));
        assert_eq!(ds.pixels.len(), 40 * size * size * 3);
        for i in 0..ds.count {
            let img = ds.image_indices(i).unwrap();
            assert!(is_symmetric(img, size), "size {size}: sprite {i} is not symmetric");
            assert!(img.contains(&WHITE), "size {size}: sprite {i} has no eyes");
        }
    }
    for size in [0, 7, 33, 64] {
        let e = message(sprites(4, size, 2).unwrap_err());
        assert!(e.contains("8 to 32"), "{e}");
        assert!(generate_sprite(2, 0, size).is_err());
    }
}

// ---------------------------------------------------------------- split

#[test]
fn split_holds_out_a_tenth_deterministically() {
    let s = make_split(1000, 5);
    assert_eq!(s, make_split(1000, 5));
    assert_ne!(s, make_split(1000, 6));
    assert_eq!(s.iter().filter(|&&v| v == 1).count(), 100);
    assert!(s.iter().all(|&v| v <= 1));
    assert_eq!(make_split(2, 0).iter().filter(|&&v| v == 1).count(), 1);
    assert_eq!(make_split(1, 0), vec![0]);

    let ds = sprites(50, 16, 9).unwrap();
    let (train, held) = (ds.train_indices(), ds.heldout_indices());
    assert_eq!((train.len(), held.len()), (45, 5));
    let all: HashSet<usize> = train.iter().chain(&held).copied().collect();
    assert_eq!(all.len(), 50);
    let h = ds.heldout();
    assert_eq!(h.count, 5);
    assert!(h.split.iter().all(|&v| v == 1));
    assert_eq!(h.image(0), ds.image(held[0]));
    assert_eq!(h.image_indices(4).unwrap(), ds.image_indices(held[4]).unwrap());
    h.validate().unwrap();
    ds.train().validate().unwrap();
}

// ---------------------------------------------------------------- moons

fn mean(v: &[f32]) -> f32 {
    v.iter().sum::<f32>() / v.len() as f32
}

#[test]
fn moon_phases_wax_then_wane() {
    let steps = 40;
    let means: Vec<f32> =
        (0..=steps).map(|k| mean(&render_moon(k as f32 / steps as f32, &MoonPose::CENTERED))).collect();
    for k in 0..steps / 2 {
        assert!(means[k + 1] > means[k], "brightness falls while waxing at step {k}");
    }
    for k in steps / 2..steps {
        assert!(means[k + 1] < means[k], "brightness rises while waning at step {k}");
    }
    // The lit share of the disc follows (1 − cos 2πp)/2.
    // Measured as the brightness above new moon, over that of full moon above new moon.
    let new = render_moon(0.0, &MoonPose::CENTERED);
    let full = render_moon(0.5, &MoonPose::CENTERED);
    let span: f32 = full.iter().zip(&new).map(|(f, n)| f - n).sum();
    for k in 0..=20 {
        let p = k as f32 / 20.0;
        let img = render_moon(p, &MoonPose::CENTERED);
        let frac = img.iter().zip(&new).map(|(v, n)| v - n).sum::<f32>() / span;
        assert!((frac - lit_fraction(p)).abs() < 0.04, "phase {p}: lit {frac} vs {}", lit_fraction(p));
    }
    // New moon is a faint disc, first quarter lit on the right, last quarter on the left.
    assert!(new.iter().all(|&v| v <= MOON_DARK_SIDE + 1e-6));
    assert!(new.iter().filter(|&&v| v > 0.1).count() > 250);
    let half = |img: &[f32], right: bool| -> f32 {
        let cols = if right { 14..28 } else { 0..14 };
        (0..28).flat_map(|y| cols.clone().map(move |x| (y, x))).map(|(y, x)| img[y * 28 + x]).sum()
    };
    let first = render_moon(0.25, &MoonPose::CENTERED);
    let last = render_moon(0.75, &MoonPose::CENTERED);
    assert!(half(&first, true) > 3.0 * half(&first, false));
    assert!(half(&last, false) > 3.0 * half(&last, true));
}

#[test]
fn moon_datasets_carry_phases_and_stay_in_the_image() {
    let ds = moons(300, 4, &MoonJitter::DEFAULT).unwrap();
    assert_eq!((ds.count, ds.height, ds.width, ds.channels), (300, 28, 28, 1));
    assert_eq!(ds, moons(300, 4, &MoonJitter::DEFAULT).unwrap());
    assert_ne!(ds.pixels, moons(300, 5, &MoonJitter::DEFAULT).unwrap().pixels);
    let phase = ds.phase.as_ref().unwrap();
    assert!(phase.iter().all(|p| (0.0..1.0).contains(p)));
    // Phases spread over the cycle.
    let mut bins = [0; 4];
    phase.iter().for_each(|p| bins[(p * 4.0) as usize] += 1);
    assert!(bins.iter().all(|&b| b > 40), "{bins:?}");
    for i in 0..ds.count {
        let img = ds.image(i);
        for k in 0..28 {
            for v in [img[k], img[27 * 28 + k], img[k * 28], img[k * 28 + 27]] {
                assert_eq!(v, 0.0, "moon {i} touches the border");
            }
        }
    }
    // Unjittered moons are exactly the rendered ones.
    let plain = moons(10, 4, &MoonJitter::NONE).unwrap();
    for i in 0..10 {
        let p = plain.phase.as_ref().unwrap()[i];
        assert_eq!(plain.image(i), &render_moon(p, &MoonPose::CENTERED)[..]);
    }
    let bad = MoonJitter { shift_px: 5.0, ..MoonJitter::DEFAULT };
    assert!(moons(4, 0, &bad).is_err());
}

#[test]
fn moons_at_k_phases_are_jittered_copies_of_k_evenly_spaced_phases() {
    let ds = moons_at_phases(40, 4, 4, &MoonJitter::DEFAULT).unwrap();
    let phase = ds.phase.as_ref().unwrap();
    // The full moon, then a quarter cycle on each time: waning half, new, waxing half.
    for (i, &p) in phase.iter().enumerate() {
        assert!((p - [0.5, 0.75, 0.0, 0.25][i % 4]).abs() < 1e-6, "moon {i}: phase {p}");
    }
    // Poses are those of the continuum's moons with the same seed: only the phase differs.
    let continuum = moons(40, 4, &MoonJitter::DEFAULT).unwrap();
    assert_eq!(ds.split, continuum.split);
    let jittered = (0..4).filter(|&i| ds.image(i) != ds.image(i + 4)).count();
    assert_eq!(jittered, 4, "copies of one phase differ by their jitter");
    assert!(moons_at_phases(10, 0, 1, &MoonJitter::DEFAULT).is_err());
}

#[test]
fn nearest_moon_distance_separates_moons_from_non_moons() {
    let ds = moons(8, 11, &MoonJitter::DEFAULT).unwrap();
    let manifold = MoonManifold::new(MoonJitter::DEFAULT).unwrap();
    for i in 0..ds.count {
        let m = manifold.nearest(ds.image(i)).unwrap();
        assert!(m.distance < 0.005, "true moon {i} at distance {}", m.distance);
        let p = ds.phase.as_ref().unwrap()[i];
        let dp = (m.phase - p).abs().min(1.0 - (m.phase - p).abs());
        assert!(dp < 0.01, "moon {i}: phase {p}, found {}", m.phase);
        assert!(nearest_moon_distance(ds.image(i)).unwrap() < 0.005);
    }
    let blank = vec![0.0; MOON_SIZE * MOON_SIZE];
    let d_blank = nearest_moon_distance(&blank).unwrap();
    assert!(d_blank > 0.06, "blank image at {d_blank}");
    let mut rng = Lcg(3);
    let noise: Vec<f32> = (0..MOON_SIZE * MOON_SIZE).map(|_| rng.f32()).collect();
    let d_noise = nearest_moon_distance(&noise).unwrap();
    assert!(d_noise > 0.3, "noise at {d_noise}");
    // The average of a waxing and a waning crescent is no moon.
    let a = render_moon(0.15, &MoonPose::CENTERED);
    let b = render_moon(0.85, &MoonPose::CENTERED);
    let mix: Vec<f32> = a.iter().zip(&b).map(|(x, y)| (x + y) / 2.0).collect();
    let d_mix = nearest_moon_distance(&mix).unwrap();
    assert!(d_mix > 0.05, "mixture at {d_mix}");
    // Without jitter, only centred moons count: a shifted one is off that manifold.
    let plain = MoonManifold::new(MoonJitter::NONE).unwrap();
    assert!(plain.distance(&a).unwrap() < 1e-4);
    let shifted = render_moon(0.15, &MoonPose { dx: 1.5, ..MoonPose::CENTERED });
    assert!(plain.distance(&shifted).unwrap() > 0.02);
    assert!(nearest_moon_distance(&[0.0; 10]).is_err());
}

#[test]
fn the_quick_moon_distance_is_mostly_the_refined_one() {
    let ds = moons(24, 12, &MoonJitter::DEFAULT).unwrap();
    let manifold = MoonManifold::new(MoonJitter::DEFAULT).unwrap();
    let mut mix = render_moon(0.15, &MoonPose::CENTERED);
    for (m, b) in mix.iter_mut().zip(render_moon(0.85, &MoonPose::CENTERED)) {
        *m = (*m + b) / 2.0;
    }
    let blank = vec![0.0; MOON_SIZE * MOON_SIZE];
    let (mut quick_time, mut refined_time, mut quick_moons) = (0.0, 0.0, Vec::new());
    for (name, image) in (0..ds.count)
        .map(|i| (format!("moon {i}"), ds.image(i)))
        .chain([("crescent mixture".to_string(), &mix[..]), ("blank".to_string(), &blank[..])])
    {
        let t = std::time::Instant::now();
        let quick = manifold.quick_distance(image).unwrap();
        quick_time += t.elapsed().as_secs_f64();
        let t = std::time::Instant::now();
        let refined = manifold.distance(image).unwrap();
        refined_time += t.elapsed().as_secs_f64();
        assert!(quick >= refined - 1e-4 && quick < refined + 0.04, "{name}: quick {quick}, refined {refined}");
        if name.starts_with("moon") {
            quick_moons.push(quick);
        }
    }
    eprintln!("quick {:.1} ms, refined {:.1} ms per image", quick_time * 1e3 / 26.0, refined_time * 1e3 / 26.0);
    // Most true moons come out at 0, as refined.
    quick_moons.sort_by(f32::total_cmp);
    assert!(quick_moons[quick_moons.len() * 3 / 4] < 1e-3, "{quick_moons:?}");
    assert!(manifold.quick_distance(&mix).unwrap() > 0.1);
    assert!(manifold.quick_distance(&[0.0; 10]).is_err());
}

// ---------------------------------------------------------------- PNG

#[test]
fn png_decodes_every_colour_type_to_rgba() {
    fn png_of(
        w: u32,
        h: u32,
        color: png::ColorType,
        depth: png::BitDepth,
        data: &[u8],
        palette: Option<(&[u8], &[u8])>,
    ) -> Vec<u8> {
        let mut out = Vec::new();
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(color);
        enc.set_depth(depth);
        if let Some((plte, trns)) = palette {
            enc.set_palette(plte.to_vec());
            enc.set_trns(trns.to_vec());
        }
        let mut wr = enc.write_header().unwrap();
        wr.write_image_data(data).unwrap();
        wr.finish().unwrap();
        out
    }
    use png::{BitDepth as D, ColorType as C};
    // 2×1 images.
    let grey = decode(&png_of(2, 1, C::Grayscale, D::Eight, &[10, 200], None), 4096).unwrap();
    assert_eq!(grey.rgba, [10, 10, 10, 255, 200, 200, 200, 255]);
    let ga = decode(&png_of(2, 1, C::GrayscaleAlpha, D::Eight, &[10, 0, 200, 255], None), 4096).unwrap();
    assert_eq!(ga.rgba, [10, 10, 10, 0, 200, 200, 200, 255]);
    let bits = decode(&png_of(2, 1, C::Grayscale, D::One, &[0b0100_0000], None), 4096).unwrap();
    assert_eq!(bits.rgba, [0, 0, 0, 255, 255, 255, 255, 255]);
    let rgb16 =
        decode(&png_of(2, 1, C::Rgb, D::Sixteen, &[1, 0, 2, 0, 3, 0, 255, 255, 128, 0, 0, 0], None), 4096).unwrap();
    assert_eq!(rgb16.rgba, [1, 2, 3, 255, 255, 128, 0, 255]);
    let rgba16 = decode(&png_of(1, 1, C::Rgba, D::Sixteen, &[9, 9, 8, 8, 7, 7, 0, 0], None), 4096).unwrap();
    assert_eq!(rgba16.rgba, [9, 8, 7, 0]);
    let plte = [255, 0, 0, 0, 255, 0];
    let indexed = decode(&png_of(2, 1, C::Indexed, D::Eight, &[1, 0], Some((&plte, &[0]))), 4096).unwrap();
    assert_eq!(indexed.rgba, [0, 255, 0, 255, 255, 0, 0, 0]);
    // Our encoder round-trips.
    let rgb: Vec<u8> = (0..5 * 3 * 3).map(|v| (v * 7) as u8).collect();
    let back = decode(&encode_rgb(5, 3, &rgb).unwrap(), 4096).unwrap();
    assert_eq!((back.width, back.height), (5, 3));
    assert_eq!(back.rgba.chunks(4).flat_map(|p| p[..3].to_vec()).collect::<Vec<_>>(), rgb);
    assert!(encode_rgb(5, 3, &rgb[1..]).is_err());
}

#[test]
fn contact_sheet_lays_out_a_grid() {
    // Five 3×4 RGB images with distinct flat colours.
    let (h, w) = (3, 4);
    let px: Vec<f32> =
        (0..5).flat_map(|i| (0..h * w).flat_map(move |_| [i as f32 / 4.0, 0.5, 1.0 - i as f32 / 4.0])).collect();
    let images = Images { pixels: &px, height: h, width: w, channels: 3 };
    let sheet = decode(&contact_sheet(images, 2, 2, 1).unwrap(), 4096).unwrap();
    assert_eq!((sheet.width, sheet.height), (2 * (8 + 1) + 1, 3 * (6 + 1) + 1));
    let at = |x: usize, y: usize| sheet.rgba[(y * sheet.width + x) * 4..][..3].to_vec();
    assert_eq!(at(0, 0), GAP_COLOR);
    assert_eq!(at(1, 1), [0, 128, 255]); // image 0
    assert_eq!(at(1 + 9 + 7, 1 + 5), [64, 128, 191]); // image 1, bottom-right pixel
    assert_eq!(at(1, 1 + 2 * 7), [255, 128, 0]); // image 4
    assert_eq!(at(10, 15), GAP_COLOR); // the empty sixth cell
                                       // Greyscale works too.
    let grey = vec![0.25f32; 2 * 28 * 28];
    let g =
        decode(&contact_sheet(Images { pixels: &grey, height: 28, width: 28, channels: 1 }, 8, 1, 0).unwrap(), 4096)
            .unwrap();
    assert_eq!((g.width, g.height), (56, 28));
    assert_eq!(&g.rgba[..4], &[64, 64, 64, 255]);
    assert!(contact_sheet(Images { pixels: &grey[1..], height: 28, width: 28, channels: 1 }, 8, 1, 0).is_err());
}

// ---------------------------------------------------------------- sprite sheets

/// A `tx`×`ty` sheet of `tile`-px tiles: random blobs of `colours` on transparent (or on
/// `background` when given); tile 1 is left empty and tile 2 a single colour.
fn make_sheet(
    tile: usize,
    tx: usize,
    ty: usize,
    colours: &[[u8; 3]],
    background: Option<[u8; 3]>,
) -> (usize, usize, Vec<u8>) {
    let (w, h) = (tile * tx, tile * ty);
    let mut rgba = vec![0u8; w * h * 4];
    if let Some(bg) = background {
        for p in rgba.chunks_mut(4) {
            p.copy_from_slice(&[bg[0], bg[1], bg[2], 255]);
        }
    }
    let mut rng = Lcg(42);
    for t in 0..tx * ty {
        let (ox, oy) = (t % tx * tile, t / tx * tile);
        if t == 1 {
            continue;
        }
        for y in 2..tile - 2 {
            for x in 2..tile - 2 {
                let c = if t == 2 { colours[0] } else { colours[rng.next() as usize % colours.len()] };
                let o = ((oy + y) * w + ox + x) * 4;
                rgba[o..o + 4].copy_from_slice(&[c[0], c[1], c[2], 255]);
            }
        }
        if t == 2 && background.is_none() {
            // Make tile 2 a single colour all over.
            for y in 0..tile {
                for x in 0..tile {
                    let o = ((oy + y) * w + ox + x) * 4;
                    rgba[o..o + 4].copy_from_slice(&[colours[0][0], colours[0][1], colours[0][2], 255]);
                }
            }
        }
    }
    (w, h, rgba)
}

const FIVE: [[u8; 3]; 5] = [[230, 40, 40], [40, 200, 60], [30, 60, 220], [250, 220, 40], [20, 20, 20]];

#[test]
fn sheet_with_transparency_recovers_its_colours() {
    let (w, h, rgba) = make_sheet(16, 4, 2, &FIVE, None);
    let png = encode_rgba(w, h, &rgba).unwrap();
    let ds = sheet_from_png(&png, &SheetOptions { tile: 16, colors: 6, seed: 1 }).unwrap();
    assert_eq!(ds.kind, DatasetKind::Sheet);
    assert_eq!(ds.count, 6, "the empty and the one-colour tile are skipped");
    let pal = ds.palette.as_ref().unwrap();
    assert_eq!(pal[0], SPRITE_PALETTE[0], "transparent is the background");
    let got: HashSet<[u8; 3]> = pal[1..].iter().copied().collect();
    assert_eq!(got, FIVE.iter().copied().collect::<HashSet<_>>());
    // Every pixel maps back to its own colour; transparent ones to index 0.
    let kept: Vec<usize> = (0..8).filter(|&t| t != 1 && t != 2).collect();
    for (i, &t) in kept.iter().enumerate() {
        let ix = ds.image_indices(i).unwrap();
        let (ox, oy) = (t % 4 * 16, t / 4 * 16);
        for y in 0..16 {
            for x in 0..16 {
                let p = &rgba[((oy + y) * w + ox + x) * 4..][..4];
                let k = ix[y * 16 + x] as usize;
                if p[3] == 0 {
                    assert_eq!(k, 0);
                } else {
                    assert_eq!(pal[k], [p[0], p[1], p[2]]);
                }
            }
        }
    }
    // Deterministic.
    assert_eq!(ds, sheet_from_png(&png, &SheetOptions { tile: 16, colors: 6, seed: 1 }).unwrap());
}

#[test]
fn sheet_without_transparency_takes_the_border_colour_as_background() {
    let bg = [200, 190, 255];
    let (w, h, rgba) = make_sheet(8, 3, 3, &FIVE, Some(bg));
    let rgb: Vec<u8> = rgba.chunks(4).flat_map(|p| p[..3].to_vec()).collect();
    let png = encode_rgb(w, h, &rgb).unwrap();
    let ds = sheet_from_png(&png, &SheetOptions { tile: 8, colors: 6, seed: 3 }).unwrap();
    assert_eq!(ds.count, 8, "the background-only tile is skipped");
    let pal = ds.palette.as_ref().unwrap();
    assert_eq!(pal[0], bg);
    assert_eq!(pal.len(), 6);
    assert_eq!(ds.image_indices(0).unwrap()[0], 0);
}

#[test]
fn sheet_quantises_near_colours_to_their_groups() {
    // Ten colours in five tight pairs; K = 6 (background + 5) merges each pair.
    let ten: Vec<[u8; 3]> = FIVE.iter().flat_map(|c| [*c, c.map(|v| v.saturating_add(4))]).collect();
    let (w, h, rgba) = make_sheet(16, 4, 4, &ten, None);
    let ds =
        sheet_from_png(&encode_rgba(w, h, &rgba).unwrap(), &SheetOptions { tile: 16, colors: 6, seed: 9 }).unwrap();
    let pal = ds.palette.as_ref().unwrap();
    assert_eq!(pal.len(), 6);
    for c in FIVE {
        let near = pal[1..].iter().any(|p| (0..3).all(|i| (p[i] as i32 - c[i] as i32 - 2).abs() <= 2));
        assert!(near, "no palette colour near the pair around {c:?}: {pal:?}");
    }
    // A palette of 2: background and one mean colour.
    let two =
        sheet_from_png(&encode_rgba(w, h, &rgba).unwrap(), &SheetOptions { tile: 16, colors: 2, seed: 9 }).unwrap();
    assert_eq!(two.palette.unwrap().len(), 2);
}

/// A PNG whose header claims `w`×`h` pixels (signature and IHDR only).
fn png_header(w: u32, h: u32) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, w, h);
    enc.set_color(png::ColorType::Rgba);
    drop(enc.write_header().unwrap());
    out
}

#[test]
fn sheet_refusals_say_why() {
    let opts = SheetOptions { tile: 16, colors: 8, seed: 0 };
    let err = |bytes: &[u8], o: &SheetOptions| message(sheet_from_png(bytes, o).unwrap_err());

    let e = err(b"GIF89a this is not a png at all", &opts);
    assert!(e.contains("not a PNG"), "{e}");
    assert!(err(&[], &opts).contains("not a PNG"));

    let (w, h, rgba) = make_sheet(16, 2, 2, &FIVE, None);
    let good = encode_rgba(w, h, &rgba).unwrap();
    let e = err(&good[..good.len() / 2], &opts);
    assert!(e.contains("corrupt or truncated"), "{e}");
    let mut flipped = good.clone();
    let n = flipped.len();
    flipped[n - 30] ^= 0xff; // inside the image data: the checksum fails
    assert!(sheet_from_png(&flipped, &opts).is_err());

    let e = err(&png_header(5000, 64), &opts);
    assert!(e.contains("5000×64") && e.contains("4096×4096"), "{e}");
    let e = err(&png_header(100_000, 100_000), &opts);
    assert!(e.contains("limit"), "{e}");

    let e = err(&encode_rgba(20, 16, &vec![255; 20 * 16 * 4]).unwrap(), &opts);
    assert!(e.contains("does not divide into 16×16 tiles") && e.contains("16 or 32"), "{e}");

    let blank = encode_rgba(32, 32, &vec![0; 32 * 32 * 4]).unwrap();
    let e = err(&blank, &opts);
    assert!(e.contains("no non-empty tile"), "{e}");
    let flat = encode_rgb(32, 32, &vec![90; 32 * 32 * 3]).unwrap();
    assert!(err(&flat, &opts).contains("no non-empty tile"));

    for k in [0, 1, 168, 300] {
        let e = err(&good, &SheetOptions { colors: k, ..opts });
        assert!(e.contains("2 to 167"), "K = {k}: {e}");
    }
    assert!(sheet_from_png(&good, &SheetOptions { colors: 167, ..opts }).is_ok());
    for t in [0, 3, 65] {
        let e = err(&good, &SheetOptions { tile: t, ..opts });
        assert!(e.contains("tile size"), "{e}");
    }
}

// ---------------------------------------------------------------- safetensors

#[test]
fn dataset_dumps_round_trip_and_are_valid_safetensors() {
    let (w, h, rgba) = make_sheet(16, 2, 2, &FIVE, None);
    let sheet =
        sheet_from_png(&encode_rgba(w, h, &rgba).unwrap(), &SheetOptions { tile: 16, colors: 6, seed: 4 }).unwrap();
    let sets = [sprites(50, 16, 12).unwrap(), moons(30, 12, &MoonJitter::DEFAULT).unwrap(), sheet];
    for ds in &sets {
        let bytes = save_dataset(ds).unwrap();
        assert_eq!(&load_dataset(&bytes).unwrap(), ds, "{} round trip", ds.kind);

        // Read with the safetensors crate itself.
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let n = ds.count;
        let rgb = st.tensor("rgb").unwrap();
        assert_eq!(rgb.dtype(), safetensors::Dtype::U8);
        assert_eq!(rgb.shape(), [n, ds.height, ds.width, 3]);
        assert_eq!(rgb.data(), &ds.rgb_u8()[..]);
        assert_eq!(st.tensor("split").unwrap().shape(), [n]);
        let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
        let meta = meta.metadata().clone().unwrap();
        assert_eq!(meta.get("kind").map(String::as_str), Some(ds.kind.name()));
        assert_eq!(meta.get("seed").map(String::as_str), Some(ds.seed.to_string().as_str()));
        if ds.kind == DatasetKind::Moons {
            let phase = st.tensor("phase").unwrap();
            assert_eq!((phase.dtype(), phase.shape()), (safetensors::Dtype::F32, &[n][..]));
            assert!(st.tensor("indices").is_err());
        } else {
            assert_eq!(st.tensor("indices").unwrap().shape(), [n, ds.height, ds.width]);
            let pal = st.tensor("palette").unwrap();
            assert_eq!(pal.shape(), [ds.num_colors().unwrap(), 3]);
            assert!(st.tensor("phase").is_err());
        }
    }
}

#[test]
fn broken_dataset_dumps_are_refused() {
    let ds = sprites(10, 16, 1).unwrap();
    let bytes = save_dataset(&ds).unwrap();
    let err = |b: &[u8]| message(load_dataset(b).unwrap_err());
    assert!(err(&bytes[..bytes.len() - 10]).contains("corrupt or truncated"));
    assert!(err(b"hello").contains("not a safetensors file"));
    // Weights are not a dataset.
    let weights = save_tensors(&[("w", &[2], &[1.0, 2.0])], &[]).unwrap();
    assert!(err(&weights).contains("not a genlab dataset"));

    // Rebuild the dump without one tensor, or with one of the wrong shape.
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let meta: Vec<(String, String)> = {
        let (_, m) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
        m.metadata().clone().unwrap().into_iter().collect()
    };
    let rebuild = |drop: &str, reshape: Option<(&str, Vec<usize>)>| -> Vec<u8> {
        let mut views = Vec::new();
        for (name, v) in st.tensors() {
            if name == drop {
                continue;
            }
            let shape = match &reshape {
                Some((n, s)) if *n == name => s.clone(),
                _ => v.shape().to_vec(),
            };
            views.push((name, safetensors::tensor::TensorView::new(v.dtype(), shape, v.data()).unwrap()));
        }
        safetensors::serialize(views, Some(meta.iter().cloned().collect())).unwrap()
    };
    let e = err(&rebuild("indices", None));
    assert!(e.contains("\"indices\""), "{e}");
    let e = err(&rebuild("", Some(("indices", vec![10, 256]))));
    assert!(e.contains("\"indices\""), "{e}");
    let e = err(&rebuild("", Some(("palette", vec![8, 6]))));
    assert!(e.contains("\"palette\""), "{e}");
    let e = err(&rebuild("", Some(("split", vec![5, 2]))));
    assert!(e.contains("\"split\""), "{e}");
    // Consistent shapes but indices past the palette.
    let mut tampered = ds.clone();
    tampered.indices.as_mut().unwrap()[0] = 40;
    assert!(save_dataset(&tampered).is_err(), "an invalid dataset is not written");
}

#[test]
fn named_tensors_round_trip() {
    let a: Vec<f32> = (0..12).map(|v| v as f32 * 0.5 - 2.0).collect();
    let b = [f32::MIN_POSITIVE, -0.0, 1e30];
    let bytes =
        save_tensors(&[("layer.w", &[3, 4], &a), ("layer.b", &[3], &b)], &[("model", "vae"), ("step", "7")]).unwrap();
    let loaded = load_tensors(&bytes).unwrap();
    assert_eq!(loaded.tensors.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["layer.b", "layer.w"]);
    let w = loaded.get("layer.w").unwrap();
    assert_eq!((w.shape.as_slice(), w.data.as_slice()), (&[3, 4][..], &a[..]));
    assert_eq!(
        loaded.get("layer.b").unwrap().data.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        b.map(f32::to_bits)
    );
    assert_eq!(loaded.metadata.get("model").map(String::as_str), Some("vae"));
    assert_eq!(loaded.metadata.get("step").map(String::as_str), Some("7"));
    // The safetensors crate reads it too.
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(st.tensor("layer.w").unwrap().dtype(), safetensors::Dtype::F32);

    assert!(message(save_tensors(&[("x", &[5], &a)], &[]).unwrap_err()).contains("do not fill"));
    assert!(message(save_tensors(&[("x", &[1], &[1.0]), ("x", &[1], &[2.0])], &[]).unwrap_err()).contains("twice"));
    let u8_file = save_dataset(&sprites(2, 8, 0).unwrap()).unwrap();
    assert!(message(load_tensors(&u8_file).unwrap_err()).contains("only F32"));
    assert!(load_tensors(&bytes[..20]).is_err());
}

/// The same tensors and metadata always make the same bytes, whatever order the metadata
/// comes in (the writer holds it in a HashMap), with the header's keys sorted and padded.
#[test]
fn saved_files_are_byte_for_byte_repeatable() {
    let w = [1.0f32, -2.0, 3.5];
    let pairs = [("model", "gan"), ("header", "{\"z\":32}"), ("parts", "generator"), ("zeta", "1"), ("alpha", "2")];
    let first = save_tensors(&[("w", &[3], &w), ("b", &[1], &[0.5])], &pairs).unwrap();
    for turn in 1..pairs.len() {
        let mut shuffled = pairs;
        shuffled.rotate_left(turn);
        let again = save_tensors(&[("w", &[3], &w), ("b", &[1], &[0.5])], &shuffled).unwrap();
        assert_eq!(again, first, "metadata order {shuffled:?}");
    }
    let n = u64::from_le_bytes(first[..8].try_into().unwrap()) as usize;
    assert_eq!(n % 8, 0, "the header is padded to 8 bytes");
    let header = std::str::from_utf8(&first[8..8 + n]).unwrap().trim_end();
    let keys = ["\"__metadata__\"", "\"alpha\"", "\"header\"", "\"model\"", "\"parts\"", "\"zeta\"", "\"b\"", "\"w\""];
    let at: Vec<usize> = keys.iter().map(|k| header.find(k).unwrap_or_else(|| panic!("{k} in {header}"))).collect();
    assert!(at.windows(2).all(|p| p[0] < p[1]), "keys in sorted order: {header}");
    let loaded = load_tensors(&first).unwrap();
    assert_eq!(loaded.get("w").unwrap().data, w);
    assert_eq!(loaded.metadata.len(), pairs.len());
}

#[test]
fn dataset_helpers() {
    let ds = moons(5, 2, &MoonJitter::NONE).unwrap();
    let rgb = ds.rgb_u8();
    assert_eq!(rgb.len(), 5 * 28 * 28 * 3);
    assert!(rgb.chunks(3).all(|p| p[0] == p[1] && p[1] == p[2]));
    assert_eq!(ds.image_rgb_u8(3), rgb[3 * 28 * 28 * 3..4 * 28 * 28 * 3]);
    assert_eq!(ds.images().count(), 5);
    assert!(ds.image_indices(0).is_none() && ds.num_colors().is_none());
    assert_eq!("moons".parse::<DatasetKind>().unwrap(), DatasetKind::Moons);
    assert!("mnist".parse::<DatasetKind>().is_err());
    let mut broken: Dataset = ds.clone();
    broken.pixels[7] = 1.5;
    assert!(broken.validate().is_err());
    assert_eq!(genlab::io::png::to_u8(0.5), 128);
}

#[test]
#[ignore = "writes preview contact sheets to the temp folder"]
fn preview() {
    let dir = std::env::temp_dir();
    let ds = sprites(64, 16, 1).unwrap();
    std::fs::write(dir.join("sprites.png"), contact_sheet(ds.images(), 8, 6, 4).unwrap()).unwrap();
    for s in [8, 20, 32] {
        let ds = sprites(32, s, 1).unwrap();
        std::fs::write(dir.join(format!("sprites{s}.png")), contact_sheet(ds.images(), 8, 96 / s, 4).unwrap()).unwrap();
    }
    let ds = moons(64, 1, &MoonJitter::DEFAULT).unwrap();
    std::fs::write(dir.join("moons.png"), contact_sheet(ds.images(), 8, 4, 4).unwrap()).unwrap();
}

/// The same fingerprint tests/browser.rs checks in Chromium: sprite 0 of seed 7 is the same
/// bytes on every platform.
#[test]
fn sprite_fingerprint_matches_the_browser_suite() {
    let fingerprint = genlab::data::generate_sprite(7, 0, 16)
        .unwrap()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3));
    assert_eq!(fingerprint, 0x9516_9f9a_bccf_8eeb, "fingerprint {fingerprint:#x}");
}
