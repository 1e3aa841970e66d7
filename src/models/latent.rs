//! Paths through a latent space between two codes: the straight line, and the great-circle
//! arc (slerp) that keeps a Gaussian code's length typical along the way.

/// A path: `steps` codes from the first code to the second, both ends included.
pub type CodePath = fn(&[f32], &[f32], usize) -> Vec<Vec<f32>>;

/// `steps` codes evenly spaced on the straight line from `a` to `b`, both ends included.
pub fn lerp_codes(a: &[f32], b: &[f32], steps: usize) -> Vec<Vec<f32>> {
    (0..steps).map(|i| lerp_point(a, b, fraction(i, steps))).collect()
}

/// `steps` codes of the spherical interpolation from `a` to `b`, both ends included (see
/// [`slerp_point`]).
pub fn slerp_codes(a: &[f32], b: &[f32], steps: usize) -> Vec<Vec<f32>> {
    (0..steps).map(|i| slerp_point(a, b, fraction(i, steps) as f64)).collect()
}

/// The point `t` of the way along the straight line from `a` to `b`.
pub fn lerp_point(a: &[f32], b: &[f32], t: f32) -> Vec<f32> {
    a.iter().zip(b).map(|(&x, &y)| x + t * (y - x)).collect()
}

/// The point `t` of the way along the spherical interpolation from `a` to `b`,
/// `sin((1−t)ω)/sin ω · a + sin(tω)/sin ω · b` with ω the angle between them (White 2016,
/// "Sampling Generative Networks"); the straight line where a and b are (anti)parallel.
///
/// Why not the line: under a Gaussian prior in D dimensions almost every code has a length
/// near √D, and the straight line between two such codes dips towards the origin (halfway
/// between two orthogonal ones, to 0.71 of that length), where the prior puts almost no
/// codes. The arc keeps the length, so it stays where the model was trained.
pub fn slerp_point(a: &[f32], b: &[f32], t: f64) -> Vec<f32> {
    let norm = |v: &[f32]| v.iter().map(|&x| (x as f64).powi(2)).sum::<f64>().sqrt();
    let (na, nb) = (norm(a), norm(b));
    let dot: f64 = a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum();
    let cos = if na > 0.0 && nb > 0.0 { (dot / (na * nb)).clamp(-1.0, 1.0) } else { 1.0 };
    let omega = cos.acos();
    let (wa, wb) = if omega.sin().abs() < 1e-6 {
        (1.0 - t, t)
    } else {
        (((1.0 - t) * omega).sin() / omega.sin(), (t * omega).sin() / omega.sin())
    };
    a.iter().zip(b).map(|(&x, &y)| (wa * x as f64 + wb * y as f64) as f32).collect()
}

/// Step `i` of `steps` as a fraction of the way, 0 and 1 included.
fn fraction(i: usize, steps: usize) -> f32 {
    i as f32 / (steps - 1).max(1) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn length(v: &[f32]) -> f32 {
        v.iter().map(|x| x * x).sum::<f32>().sqrt()
    }

    #[test]
    fn the_line_and_the_arc_start_and_end_at_the_codes() {
        let (a, b) = ([3.0, -1.0, 0.5], [-2.0, 4.0, 1.0]);
        for codes in [lerp_codes(&a, &b, 7), slerp_codes(&a, &b, 7)] {
            assert_eq!(codes.len(), 7);
            assert!(codes[0].iter().zip(&a).all(|(x, y)| (x - y).abs() < 1e-5), "{:?}", codes[0]);
            assert!(codes[6].iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-5), "{:?}", codes[6]);
        }
        assert_eq!(lerp_codes(&a, &b, 3)[1], vec![0.5, 1.5, 0.75]);
    }

    #[test]
    fn the_arc_keeps_the_length_the_line_loses() {
        // Two orthogonal codes of length 2: the line's midpoint has length √2, the arc's 2.
        let (a, b) = ([2.0, 0.0, 0.0, 0.0], [0.0, 0.0, 2.0, 0.0]);
        assert!((length(&lerp_codes(&a, &b, 3)[1]) - 2f32.sqrt()).abs() < 1e-5);
        for code in slerp_codes(&a, &b, 9) {
            assert!((length(&code) - 2.0).abs() < 1e-5, "{code:?}");
        }
        assert_eq!(slerp_codes(&a, &b, 5)[3], slerp_point(&a, &b, 0.75));
    }

    #[test]
    fn opposite_codes_fall_back_to_the_line() {
        let (a, b) = ([1.0, 2.0], [-1.0, -2.0]);
        assert_eq!(slerp_codes(&a, &b, 3)[1], vec![0.0, 0.0]);
        assert_eq!(slerp_point(&[0.0, 0.0], &b, 0.5), vec![-0.5, -1.0]);
    }
}
