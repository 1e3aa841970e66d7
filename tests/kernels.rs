//! Every kernel against its CPU twin, on awkward shapes (native, lavapipe in CI).
#![cfg(not(target_arch = "wasm32"))]

mod common;

use genlab::gpu::block_on;
use genlab::kernels::matmul::{self, Epilogue, Transpose};
use genlab::kernels::rng::{self, Stream};
use genlab::kernels::{elementwise, gather, loss, reduce};
use genlab::selftest::{self, Case};
use genlab::{Error, Tensor};

fn run_all(cases: Vec<Case>) {
    let gpu = common::gpu();
    let mut failures = Vec::new();
    for case in cases {
        let check = block_on(case.run(&gpu)).expect("case runs");
        println!("{check}");
        if !check.passed {
            failures.push(check.to_string());
        }
    }
    assert!(failures.is_empty(), "failed:\n{}", failures.join("\n"));
}

#[test]
fn matmul_matches_cpu_twin_on_awkward_shapes() {
    run_all(selftest::matmul_cases(false));
}

#[test]
fn other_kernels_match_cpu_twins() {
    run_all(selftest::other_cases(false));
}

#[test]
fn philox_matches_random123_known_answers() {
    // Known-answer vectors of Philox4x32-10 from the Random123 distribution (kat_vectors).
    let cases = [
        ([0u32; 4], [0u32; 2], [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]),
        ([u32::MAX; 4], [u32::MAX; 2], [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]),
        (
            [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
            [0xa4093822, 0x299f31d0],
            [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1],
        ),
    ];
    for (counter, key, want) in cases {
        assert_eq!(rng::cpu::philox4x32(counter, key), want, "counter {counter:x?} key {key:x?}");
    }
}

#[test]
fn rng_moments_over_a_million_draws() {
    let gpu = common::gpu();
    let n = 1_000_000;
    let normal = rng::normal(&gpu, Stream::new(7), [n], 0.0, 1.0).unwrap();
    let (mean, var) = common::moments(&normal.to_vec_blocking(&gpu).unwrap());
    // Standard errors: mean 0.001, variance 0.0014; allow about four of them.
    assert!(mean.abs() < 0.004, "normal mean {mean}");
    assert!((var - 1.0).abs() < 0.006, "normal variance {var}");

    let uniform = rng::uniform(&gpu, Stream::new(8), [n], 0.0, 1.0).unwrap();
    let values = uniform.to_vec_blocking(&gpu).unwrap();
    assert!(values.iter().all(|&v| (0.0..1.0).contains(&v)));
    let (mean, var) = common::moments(&values);
    assert!((mean - 0.5).abs() < 0.0012, "uniform mean {mean}");
    assert!((var - 1.0 / 12.0).abs() < 0.0005, "uniform variance {var}");

    let index = Tensor::uninit(&gpu, [n]).unwrap();
    rng::random_index_into(&gpu, Stream::new(9), 10, &index);
    let words = block_on(gpu.read_later(&index).wait_u32()).unwrap();
    let mut counts = [0usize; 10];
    for w in &words {
        counts[*w as usize] += 1;
    }
    for c in counts {
        assert!((c as f64 - 1e5).abs() < 1500.0, "index counts {counts:?}");
    }
    assert_eq!(words, rng::cpu::random_index(Stream::new(9), n, 10), "GPU and CPU indices differ");
}

#[test]
fn streams_do_not_overlap_when_advanced() {
    let mut stream = Stream::new(3);
    let a = stream.take(10);
    let b = stream.take(10);
    assert_eq!(b.offset, 12);
    let wa = rng::cpu::words(a, 10);
    let wb = rng::cpu::words(b, 10);
    assert!(wa.iter().all(|w| !wb.contains(w)));
}

fn assert_shape_error(result: Result<Tensor, Error>, left: &str, right: &str) {
    let message = result.expect_err("bad shapes must be refused").to_string();
    assert!(message.contains(left) && message.contains(right), "message names both shapes: {message}");
}

#[test]
fn bad_shapes_are_refused_naming_both_shapes() {
    let gpu = common::gpu();
    let a = Tensor::zeros(&gpu, [2, 3]).unwrap();
    let b = Tensor::zeros(&gpu, [4, 5]).unwrap();
    assert_shape_error(matmul::matmul(&gpu, &a, &b, Transpose::NONE, Epilogue::default()), "[2, 3]", "[4, 5]");
    let bias = Tensor::zeros(&gpu, [7]).unwrap();
    assert_shape_error(elementwise::bias_act(&gpu, &a, Some(&bias), Default::default()), "[7]", "[2, 3]");
    let targets = Tensor::zeros(&gpu, [3, 2]).unwrap();
    assert_shape_error(loss::bce_with_logits(&gpu, &a, &targets, 1.0).map(|l| l.grad), "[2, 3]", "[3, 2]");
    assert_shape_error(loss::softmax_cross_entropy(&gpu, &a, &bias, 1.0).map(|l| l.grad), "[2, 3]", "[7]");
    let out = Tensor::zeros(&gpu, [5]).unwrap();
    assert_shape_error(reduce::sum_cols_into(&gpu, &a, 1.0, &out, false).map(|_| out.clone()), "[5]", "[2, 3]");
    assert_shape_error(a.reshape([4, 2]), "[2, 3]", "[4, 2]");

    let empty = Tensor::zeros(&gpu, [0, 3]).unwrap_err().to_string();
    assert!(empty.contains("[0, 3]") && empty.contains("empty"), "{empty}");
    // 8 GiB: more than any GPU binds at once, refused before anything is allocated.
    let huge = Tensor::uninit(&gpu, [1 << 20, 1 << 11]).unwrap_err().to_string();
    assert!(huge.contains("[1048576, 2048]") && huge.contains("smaller batch"), "{huge}");
    let short = Tensor::from_slice(&gpu, [2, 2], &[1.0f32; 3]).unwrap_err().to_string();
    assert!(short.contains("3 values") && short.contains("[2, 2]"), "{short}");
    assert!(loss::check_classes(&[0, 3, 16], 16).unwrap_err().to_string().contains("16"));
    assert!(gather::check_indices(&[0, 50], 50).is_err());
}

#[test]
fn output_aliasing_an_input_is_refused() {
    let gpu = common::gpu();
    let a = Tensor::zeros(&gpu, [4, 4]).unwrap();
    let err = matmul::matmul_into(&gpu, &a, &a.clone(), Transpose::NONE, Epilogue::default(), &a).unwrap_err();
    assert!(err.to_string().contains("share a buffer"));
}

#[test]
fn shaders_compile_once_and_buffers_are_reused() {
    let gpu = common::gpu();
    let a = Tensor::from_slice(&gpu, [8, 8], &selftest::test_data(1, 64, 1.0)).unwrap();
    for _ in 0..3 {
        let c = matmul::matmul(&gpu, &a, &a, Transpose::NONE, Epilogue::default()).unwrap();
        let _ = elementwise::bias_act(&gpu, &c, None, Default::default()).unwrap();
        gpu.submit();
    }
    assert_eq!(gpu.compiled_shaders(), 2, "matmul.wgsl and elementwise.wgsl, once each");
    let (in_use, free) = gpu.pool_bytes();
    // `a` is live; the two intermediates of the last round went back to the pool.
    assert!(in_use >= 256 && free > 0, "pool in use {in_use}, free {free}");
    let before = free;
    let _c = matmul::matmul(&gpu, &a, &a, Transpose::NONE, Epilogue::default()).unwrap();
    assert!(gpu.pool_bytes().1 < before, "a new intermediate came from the pool");
}
