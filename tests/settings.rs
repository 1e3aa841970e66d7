//! Every declared setting of every model, through every place it goes: config → link →
//! config, the form's text → link → form, and the command line's flags.
#![cfg(not(target_arch = "wasm32"))] // native only; the browser suite is tests/browser.rs

use std::process::Command;

use genlab::link::{Input, Lab, LabSetting, Link};
use genlab::models::gan::GanConfig;
use genlab::models::pixel_rnn::PixelRnnConfig;
use genlab::models::vae::VaeConfig;
use genlab::settings::{copy_settings, Declared, Field, Setting};

/// `config` with `setting` moved to another value inside its range.
fn changed<C: Clone>(setting: &Setting<C>, config: &C) -> C {
    let mut out = config.clone();
    match &setting.field {
        Field::Whole { min, max, get, set } => set(&mut out, if get(config) == *max { *min } else { *max }),
        Field::Number { min, max, get, set, .. } => {
            set(&mut out, if get(config) == *max { (min + max) / 2.0 } else { *max })
        }
        Field::Switch { get, set } => set(&mut out, !get(config)),
        Field::Choice { names, get, set, .. } => {
            let other = names.iter().find(|n| **n != get(config)).expect("a choice has two names");
            set(&mut out, other)
        }
    }
    out
}

/// The link of `lab` holding `config` as its model, written and read back; no notices.
fn through_a_link(lab: Lab, put: impl Fn(&mut Link)) -> Link {
    let mut link = Link::for_lab(lab);
    put(&mut link);
    let query = link.to_query();
    let (back, notices) = Link::parse(&query);
    assert!(notices.is_empty(), "{query}: {notices:?}");
    back
}

/// Each setting alone, then all at once, from the config through a link to the config.
fn round_trip<C: Declared + Clone + PartialEq + std::fmt::Debug>(
    lab: Lab,
    start: C,
    model: impl Fn(&Link) -> C,
    put: impl Fn(&mut Link, &C),
) {
    let mut all = start.clone();
    for setting in C::SETTINGS {
        let one = changed(setting, &start);
        assert_eq!(model(&through_a_link(lab, |l| put(l, &one))), one, "{} alone", setting.key);
        all = changed(setting, &all);
    }
    assert_ne!(all, start, "every setting moved");
    assert_eq!(model(&through_a_link(lab, |l| put(l, &all))), all, "all of {lab:?}'s settings at once");
}

#[test]
fn every_model_setting_goes_from_config_to_link_and_back() {
    round_trip(Lab::Vae, VaeConfig::in_the_tab(), |l| l.vae.clone(), |l, c| copy_settings(c, &mut l.vae));
    round_trip(Lab::Gan, GanConfig::default(), |l| l.gan.clone(), |l, c| copy_settings(c, &mut l.gan));
    round_trip(Lab::PixelRnn, PixelRnnConfig::default(), |l| l.rnn.clone(), |l, c| copy_settings(c, &mut l.rnn));
}

#[test]
fn a_link_builds_the_model_config_with_its_seed() {
    let link = Link { seed: 77, ..Link::for_lab(Lab::Vae) };
    assert_eq!(link.vae_config(true), VaeConfig { seed: 77, autoencoder: true, ..link.vae.clone() });
    assert_eq!(link.gan_config().seed, 77);
    assert_eq!(link.rnn_config(), PixelRnnConfig { seed: 77, ..link.rnn.clone() });
}

/// What the page's form sends for a setting: another value than the link's, as the control
/// writes it (a checkbox 1 or 0, a list one of its names, a number box its number).
fn form_text(setting: LabSetting, link: &Link) -> String {
    fn text<C: Clone>(s: &Setting<C>, config: &C) -> String {
        s.text(&changed(s, config))
    }
    match setting {
        LabSetting::Data(s) => text(s, &link.data),
        LabSetting::Link(s) => text(s, link),
        LabSetting::Vae(s) => text(s, &link.vae),
        LabSetting::Gan(s) => text(s, &link.gan),
        LabSetting::Rnn(s) => text(s, &link.rnn),
    }
}

#[test]
fn every_form_field_sets_the_link_and_shows_what_it_set() {
    for lab in Lab::ALL {
        let form = lab.form_settings();
        assert_eq!(form.is_empty(), !lab.has_model(), "{lab:?}");
        for setting in form {
            let about = setting.about();
            let mut link = Link::for_lab(lab);
            let text = form_text(setting, &link);
            match about.input {
                Input::Checkbox => assert!(text == "1" || text == "0", "{}: {text}", about.key),
                Input::Select { names, titles } => {
                    assert!(names.contains(&text.as_str()), "{}: {text}", about.key);
                    assert_eq!(names.len(), titles.len(), "{}: a title for each name", about.key);
                }
                Input::Number { min, max, .. } => {
                    let v: f64 = text.parse().unwrap();
                    assert!((min..=max).contains(&v), "{}: {v} outside the box's {min}..={max}", about.key);
                }
            }
            link.set_value(about.key, &text).unwrap_or_else(|e| panic!("{lab:?} {}: {e}", about.key));
            assert!(link.fix().is_empty(), "{lab:?} {}={text}", about.key);
            assert_eq!(link.value(about.key).as_deref(), Some(text.as_str()), "the form shows it back");
            let (back, notices) = Link::parse(&link.to_query());
            assert!(notices.is_empty(), "{notices:?}");
            assert_eq!(back, link, "{lab:?} {}={text}", about.key);
            assert!(!about.label.is_empty() && !about.help.is_empty(), "{}: a label and help", about.key);
        }
    }
}

fn genlab(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_genlab")).args(args).output().expect("genlab runs");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

/// Every declared flag is offered with its config's default.
fn help_lists<C: Declared>(model: &str) {
    let (ok, help, _) = genlab(&["train", model, "--help"]);
    assert!(ok, "train {model} --help");
    let defaults = C::default();
    for setting in C::SETTINGS {
        let flag = setting.flag.expect("every model setting has a flag");
        let line = help
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("--{flag} ")))
            .unwrap_or_else(|| panic!("train {model} --help lacks --{flag}:\n{help}"));
        let default = format!("[default: {}]", setting.text(&defaults));
        assert!(help.contains(&default), "--{flag} {default}: {line}");
    }
}

#[test]
fn the_command_line_offers_every_model_setting_with_its_default() {
    help_lists::<VaeConfig>("vae");
    help_lists::<GanConfig>("gan");
    help_lists::<PixelRnnConfig>("pixelrnn");
}

#[test]
fn a_malformed_flag_is_refused_in_the_link_words_before_any_work() {
    let out = std::env::temp_dir().join("genlab-settings-test-never-written");
    let out = out.to_str().unwrap();
    for (args, says) in [
        (vec!["train", "vae", "--hidden", "abc"], r#"--hidden "abc" is not a whole number"#),
        (vec!["train", "gan", "--g-lr", "fast"], r#"--g-lr "fast" is not a number"#),
        (vec!["train", "gan", "--d-spectral-norm", "maybe"], r#"--d-spectral-norm "maybe" is not 1 or 0"#),
        (vec!["train", "pixelrnn", "--lr", "inf"], r#"--lr "inf" is not a finite number"#),
    ] {
        let args: Vec<&str> = args.into_iter().chain(["--out", out]).collect();
        let (ok, _, stderr) = genlab(&args);
        assert!(!ok, "{args:?} was accepted");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(!std::path::Path::new(out).exists(), "nothing written");
    }
}
