//! The speed benchmark's machinery (native, lavapipe in CI): case names, the protocol's
//! figures and the per-family profile. Figures are checked for sense, never for speed.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use genlab::bench::{self, Case};
use genlab::gpu::{block_on, ProfileMethod};

#[test]
fn case_names_parse_and_bad_ones_are_refused_in_words() {
    let cases = bench::parse_cases("vae_step, gan,lstm_step,matmul_1024").unwrap();
    assert_eq!(cases, vec![Case::VaeStep, Case::GanStep, Case::LstmStep, Case::Matmul(1024)]);
    assert_eq!(
        cases.iter().map(ToString::to_string).collect::<Vec<_>>(),
        ["vae_step", "gan_step", "lstm_step", "matmul_1024"]
    );
    for bad in ["", "vae_stepp", "matmul_0", "matmul_x", "matmul_100000"] {
        let err = bench::parse_cases(bad).unwrap_err().to_string();
        assert!(err.contains("vae_step"), "'{bad}' gave: {err}");
    }
}

#[test]
fn a_timed_case_reports_its_steps_launches_and_losses() {
    let gpu = common::gpu();
    let report = block_on(bench::run(&gpu, &[Case::Matmul(70), Case::VaeStep], 2));
    assert_eq!(report.engine, "genlab");
    let json = serde_json::to_value(&report).unwrap();
    let cases = json["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 2);
    let matmul = &cases[0];
    assert_eq!(matmul["case"], "matmul_70");
    assert_eq!(matmul["launches_per_step"], 1);
    assert!(matmul["loss_before"].is_null());
    let (min, median, max) =
        (matmul["min_ms"].as_f64().unwrap(), matmul["median_ms"].as_f64().unwrap(), matmul["max_ms"].as_f64().unwrap());
    assert!(0.0 < min && min <= median && median <= max, "{matmul}");
    assert!(matmul["gflops"].as_f64().unwrap() > 0.0);
    let vae = &cases[1];
    assert_eq!(vae["case"], "vae_step");
    let (before, after) = (vae["loss_before"].as_f64().unwrap(), vae["loss_after"].as_f64().unwrap());
    // 784 sigmoid BCE terms at about ln 2 each at the start, and lower after two Adam steps.
    assert!(before > 400.0 && after < before, "loss {before} → {after}");
    assert!(vae["launches_per_step"].as_u64().unwrap() > 10);
}

#[test]
fn the_profile_accounts_for_every_launch_of_a_step() {
    let gpu = common::gpu();
    let profile = block_on(bench::profile(&gpu, Case::GanStep)).unwrap();
    let kernels: u32 = profile.families.iter().filter(|f| f.name != "copies").map(|f| f.count).sum();
    assert_eq!(kernels as u64, profile.launches, "{}", profile.table());
    let matmul = profile.families.iter().find(|f| f.name == "matmul").expect("a matmul family");
    assert!(matmul.ms > 0.0 && profile.sum_ms >= matmul.ms);
    if profile.method == ProfileMethod::Timestamps {
        // Kernels timed on the GPU cannot add up to more than the step took, give or take
        // the scheduling noise of a shared machine.
        assert!(profile.sum_ms < 3.0 * profile.step_ms + 50.0, "{}", profile.table());
    }
    // The slowest kernels are named `shader::entry`: matmul::matmul (tiled), matmul::matmul_direct,
    // or matmul_quad::matmul_quad, by the adapter.
    assert!(profile.table().contains("::matmul"), "{}", profile.table());
}
