//! The page's URL state (src/link.rs): round trips, and every way a link can be wrong —
//! each reported by key with what was used instead, none able to break the setup.
#![cfg(not(target_arch = "wasm32"))] // native only; the browser suite is tests/browser.rs

use genlab::data::DatasetKind;
use genlab::link::{DataLink, Lab, Link, Notice, MAX_LINK_CHARS, MAX_PAIRS};
use genlab::models::gan::{GanConfig, Upsampler};
use genlab::models::pixel_rnn::PixelRnnConfig;
use genlab::models::vae::VaeConfig;

fn parse(s: &str) -> (Link, Vec<Notice>) {
    Link::parse(s)
}

fn clean(s: &str) -> Link {
    let (link, notices) = parse(s);
    assert!(notices.is_empty(), "{s}: unexpected notices {notices:?}");
    link
}

/// The one notice about `key`; fails if there is none or several.
fn notice_for<'a>(notices: &'a [Notice], key: &str) -> &'a Notice {
    let hits: Vec<_> = notices.iter().filter(|n| n.key == key).collect();
    assert_eq!(hits.len(), 1, "notices about {key}: {notices:?}");
    hits[0]
}

#[test]
fn an_empty_link_is_the_vae_lab_with_defaults() {
    for s in ["", "#", "?", "&&&"] {
        assert_eq!(clean(s), Link::default(), "{s:?}");
    }
    assert_eq!(Link::default().lab, Lab::Vae);
    assert_eq!(Link::default().data.kind, DatasetKind::Moons);
    assert_eq!(Link::for_lab(Lab::Gan).data.kind, DatasetKind::Sprites);
}

#[test]
fn every_lab_round_trips_with_every_setting_changed() {
    let vae = Link {
        lab: Lab::Vae,
        data: DataLink { kind: DatasetKind::Moons, count: 600, seed: 9, ..DataLink::default_for(Lab::Vae) },
        seed: 4_000_000_000,
        steps: 12_345,
        vae: VaeConfig {
            hidden: 16,
            latent: 3,
            batch: 8,
            learning_rate: 3.3e-4,
            beta: 0.25,
            kl_warmup: 0,
            ..VaeConfig::in_the_tab()
        },
        compare: false,
        pair: Some((5, 0)),
        ..Link::for_lab(Lab::Vae)
    };
    let gan = Link {
        lab: Lab::Gan,
        data: DataLink { kind: DatasetKind::Sprites, count: 333, size: 12, colors: 16, seed: 0 },
        seed: 0,
        steps: 1,
        gan: GanConfig {
            z_dim: 7,
            hidden: 33,
            batch: 5,
            g_learning_rate: 1e-5,
            d_learning_rate: 0.1,
            d_steps: 3,
            real_label: 1.0,
            d_conv_channels: 5,
            g_conv_channels: 7,
            d_minibatch_stddev: true,
            d_spectral_norm: true,
            g_pixel_norm: false,
            g_upsampler: Upsampler::Resize,
            ..GanConfig::default()
        },
        ..Link::for_lab(Lab::Gan)
    };
    let rnn = Link {
        lab: Lab::PixelRnn,
        data: DataLink { kind: DatasetKind::Sheet, count: 2000, size: 24, colors: 40, seed: 2 },
        rnn: PixelRnnConfig {
            hidden: 100,
            layers: 2,
            batch: 3,
            learning_rate: 0.123_456_79,
            ..PixelRnnConfig::default()
        },
        temperature: 0.7,
        ..Link::for_lab(Lab::PixelRnn)
    };
    let kernels = Link::for_lab(Lab::Kernels);
    for link in [vae, gan, rnn, kernels, Link::default(), Link::for_lab(Lab::Gan)] {
        let query = link.to_query();
        assert_eq!(clean(&query), link, "{query}");
        assert_eq!(clean(&format!("#{query}")), link, "with #");
        assert_eq!(clean(&format!("?{query}")), link, "with ?");
    }
}

#[test]
fn a_link_names_every_setting_of_its_lab() {
    let q = Link::default().to_query();
    for key in ["lab=vae", "data=moons", "count=", "dseed=", "seed=", "steps=0", "hidden=", "latent=", "batch=", "lr="]
    {
        assert!(q.contains(key), "{q} lacks {key}");
    }
    for key in ["beta=", "warmup=", "compare="] {
        assert!(q.contains(key), "{q} lacks {key}");
    }
    assert!(!q.contains("&a=") && !q.contains("&b="), "no pair picked, none written: {q}");
    let g = Link::for_lab(Lab::Gan).to_query();
    for key in ["z=", "glr=", "dlr=", "dsteps=", "label=", "size="] {
        assert!(g.contains(key), "{g} lacks {key}");
    }
    let r = Link::for_lab(Lab::PixelRnn).to_query();
    for key in ["lab=pixelrnn", "data=sprites", "hidden=", "layers=1", "batch=", "lr=", "temp=1"] {
        assert!(r.contains(key), "{r} lacks {key}");
    }
    // Temperature 0 (always the likeliest colour) is allowed; layers are 1 or 2.
    assert_eq!(clean("lab=pixelrnn&temp=0").temperature, 0.0);
    assert!(notice_for(&parse("lab=pixelrnn&layers=3").1, "layers").problem.contains("out of range"));
    assert_eq!(Link::for_lab(Lab::Kernels).to_query(), "lab=kernels");
}

#[test]
fn numbers_use_their_shortest_exact_form() {
    let link = Link { vae: VaeConfig { learning_rate: 0.1 + 0.2, ..VaeConfig::in_the_tab() }, ..Link::default() };
    let q = link.to_query();
    assert!(q.contains("lr=0.3"), "{q}");
    assert_eq!(clean(&q).vae.learning_rate.to_bits(), link.vae.learning_rate.to_bits());
    // Exponents and percent-escapes are read too.
    assert_eq!(clean("lr=2e-3").vae.learning_rate, 2e-3);
    assert_eq!(clean("lr=%32e-3").vae.learning_rate, 2e-3);
    assert_eq!(clean("lab=gan&label=0.9").gan.real_label, 0.9);
    assert_eq!(clean("lab=gan&gup=resize").gan.g_upsampler, Upsampler::Resize);
    let (link, notices) = parse("lab=gan&gup=bilinear");
    assert!(notice_for(&notices, "gup").problem.contains("not resize or transposed"), "{notices:?}");
    assert_eq!(link.gan.g_upsampler, GanConfig::default().g_upsampler);
}

#[test]
fn malformed_numbers_are_reported_and_replaced_by_defaults() {
    let d = Link::default();
    let cases = [
        ("hidden=abc", "hidden", "not a whole number"),
        ("hidden=-5", "hidden", "not a whole number"),
        ("hidden=12.5", "hidden", "not a whole number"),
        ("hidden=+12", "hidden", "not a whole number"),
        ("hidden= 12", "hidden", "not a whole number"),
        ("hidden=0x10", "hidden", "not a whole number"),
        ("hidden=", "hidden", "has no value"),
        ("hidden", "hidden", "has no value"),
        ("hidden=99999999999999999999999", "hidden", "too large"),
        ("hidden=0", "hidden", "out of range"),
        ("hidden=1025", "hidden", "out of range"),
        ("lr=NaN", "lr", "not a finite number"),
        ("lr=nan", "lr", "not a finite number"),
        ("lr=inf", "lr", "not a finite number"),
        ("lr=-inf", "lr", "not a finite number"),
        ("lr=1e999", "lr", "not a finite number"),
        ("lr=0", "lr", "out of range"),
        ("lr=-0.001", "lr", "out of range"),
        ("lr=2", "lr", "out of range"),
        ("lr=fast", "lr", "not a number"),
        ("lr=1,5", "lr", "not a number"),
        ("beta=-1", "beta", "out of range"),
        ("compare=maybe", "compare", "not 1 or 0"),
        ("data=mnist", "data", "not sprites, moons or sheet"),
        ("seed=4294967296", "seed", "out of range"),
        ("steps=1000001", "steps", "out of range"),
        ("count=5", "count", "out of range"),
    ];
    for (query, key, problem) in cases {
        let (link, notices) = parse(query);
        let n = notice_for(&notices, key);
        assert!(n.problem.contains(problem), "{query}: {n}");
        assert!(n.used.starts_with("used "), "{query}: {n}");
        assert_eq!(notices.len(), 1, "{query}: {notices:?}");
        // The bad value changed nothing: the rest of the link is the default.
        assert_eq!(link, d, "{query}");
    }
    // The notice says what was used instead, in the link's own words.
    let (_, notices) = parse("hidden=abc");
    assert_eq!(notices[0].used, "used 128");
    assert_eq!(notices[0].to_string(), r#"hidden="abc": is not a whole number from 1 to 1024; used 128"#);
}

#[test]
fn a_bad_value_leaves_the_good_ones_in_force() {
    let (link, notices) = parse("lab=vae&hidden=NaN&latent=4&lr=oops&batch=16&bogus=1");
    assert_eq!(notices.len(), 3, "{notices:?}");
    notice_for(&notices, "hidden");
    notice_for(&notices, "lr");
    notice_for(&notices, "bogus");
    assert_eq!(link.vae.latent, 4);
    assert_eq!(link.vae.batch, 16);
    assert_eq!(link.vae.hidden, VaeConfig::in_the_tab().hidden);
    assert_eq!(link.vae.learning_rate, VaeConfig::in_the_tab().learning_rate);
}

#[test]
fn unknown_keys_and_other_labs_settings_are_ignored_with_a_notice() {
    let (link, notices) = parse("lab=vae&colour=red&z=8&temp=0.5");
    assert_eq!(link, Link::default());
    assert!(notice_for(&notices, "colour").problem.contains("not a setting"));
    assert!(notice_for(&notices, "z").problem.contains("GAN setting"));
    assert!(notice_for(&notices, "temp").problem.contains("PixelRNN setting"));
    assert!(notices.iter().all(|n| n.used == "ignored it"));

    let (link, notices) = parse("lab=kernels&hidden=3");
    assert_eq!(link, Link::for_lab(Lab::Kernels));
    assert!(notice_for(&notices, "hidden").problem.contains("Kernels tab has none"));
}

#[test]
fn an_unknown_lab_opens_the_vae_lab() {
    let (link, notices) = parse("lab=diffusion&hidden=64");
    assert_eq!(link.lab, Lab::Vae);
    assert_eq!(link.vae.hidden, 64);
    assert!(notice_for(&notices, "lab").used.contains("VAE"));
}

#[test]
fn repeated_keys_keep_the_first_value() {
    let (link, notices) = parse("hidden=32&hidden=64");
    assert_eq!(link.vae.hidden, 32);
    assert!(notice_for(&notices, "hidden").problem.contains("more than once"));
    let (link, notices) = parse("lab=gan&lab=vae");
    assert_eq!(link.lab, Lab::Gan);
    assert_eq!(notices.len(), 1);
}

#[test]
fn broken_escapes_and_non_utf8_are_reported() {
    for q in ["hidden=%", "hidden=%4", "hidden=%zz", "hidden=%ff%fe", "hid%den=3"] {
        let (link, notices) = parse(q);
        assert_eq!(link, Link::default(), "{q}");
        assert_eq!(notices.len(), 1, "{q}: {notices:?}");
        assert!(notices[0].problem.contains("%-escape"), "{q}: {notices:?}");
    }
    // Unicode and control characters are shown escaped, never trusted.
    let (_, notices) = parse("hidden=%E2%9C%93%0A");
    assert!(notices[0].to_string().contains(r"\n"), "{}", notices[0]);
}

#[test]
fn huge_strings_are_cut_short_in_notices_and_reading_stops() {
    let long_value = "9".repeat(10_000);
    let (link, notices) = parse(&format!("hidden={long_value}&latent=3"));
    // The whole link is longer than MAX_LINK_CHARS: read up to there, so latent=3 is lost.
    let n = notice_for(&notices, "link");
    assert!(n.used.contains(&MAX_LINK_CHARS.to_string()), "{n}");
    let h = notice_for(&notices, "hidden");
    assert!(h.problem.contains("characters long"), "{h}");
    assert!(h.given.chars().count() <= 25, "given shortened: {:?}", h.given);
    assert_eq!(link.vae.hidden, VaeConfig::in_the_tab().hidden);
    assert!(notices.iter().all(|n| n.to_string().len() < 300), "{notices:?}");

    let (link, notices) = parse(&format!("latent=3&{}=1", "k".repeat(5000)));
    assert_eq!(link.vae.latent, 3);
    assert!(notices.iter().any(|n| n.key.ends_with('…')), "{notices:?}");

    // A 70-character value within a short link.
    let (_, notices) = parse(&format!("lr=0.{}", "1".repeat(70)));
    assert!(notice_for(&notices, "lr").problem.contains("characters long"));
}

#[test]
fn too_many_pairs_are_cut_off() {
    let query: String = (0..MAX_PAIRS + 10).map(|i| format!("x{i}=1&")).collect::<String>() + "latent=5";
    let (link, notices) = parse(&query);
    assert_eq!(link.vae.latent, VaeConfig::in_the_tab().latent, "past the limit: not read");
    assert!(notices.iter().any(|n| n.key == "link" && n.problem.contains("more than")));
}

#[test]
fn settings_are_made_to_agree_with_each_other() {
    // A batch larger than the training split.
    let (link, notices) = parse("count=20&batch=64");
    let train = link.data.train_count().unwrap();
    assert_eq!(train, 18);
    assert_eq!(link.vae.batch, train);
    assert!(notice_for(&notices, "batch").used.contains("18"));

    // Sprites come in 8..=32; a sheet's tiles in 4..=64.
    let (link, notices) = parse("lab=gan&data=sprites&size=48");
    assert_eq!(link.data.size, 32);
    notice_for(&notices, "size");
    assert_eq!(clean("lab=gan&data=sheet&size=48").data.size, 48);

    // The PixelRNN needs a palette.
    let (link, notices) = parse("lab=pixelrnn&data=moons");
    assert_eq!(link.data.kind, DatasetKind::Sprites);
    assert!(notice_for(&notices, "data").problem.contains("palette"));

    // The pair must be held-out images, and come as a pair.
    let held = Link::default().data.heldout_count().unwrap();
    assert_eq!(clean(&format!("a=0&b={}", held - 1)).pair, Some((0, held - 1)));
    let (link, notices) = parse(&format!("a=0&b={held}"));
    assert_eq!(link.pair, None);
    assert!(notice_for(&notices, "b").problem.contains("held-out"));
    let (link, notices) = parse("a=3");
    assert_eq!(link.pair, None);
    assert!(notice_for(&notices, "a").problem.contains("needs b"));
}

#[test]
fn fix_is_idempotent_and_silent_on_defaults() {
    for lab in Lab::ALL {
        let mut link = Link::for_lab(lab);
        assert!(link.fix().is_empty(), "{lab:?}");
    }
    let (mut link, _) = parse("count=20&batch=64&a=1&b=900&lab=vae");
    assert!(link.fix().is_empty());
}

#[test]
fn garbage_never_panics() {
    let samples = [
        "=",
        "==",
        "&=&",
        "lab",
        "lab=",
        "=vae",
        "%",
        "%%%",
        "a=b=c",
        "lab=vae=gan",
        "\u{0}",
        "😀=😀",
        "hidden=😀",
        "lr=1e",
        "lr=.",
        "lr=-",
        "lr=e5",
        "steps=18446744073709551616",
        "a=1&b=1&a=2",
    ];
    for s in samples {
        let (link, _) = parse(s);
        let (again, notices) = parse(&link.to_query());
        assert!(notices.is_empty(), "{s}: {notices:?}");
        assert_eq!(again, link, "{s}");
    }
    // Every byte value in every position of a short link.
    for b in 0u8..=255 {
        let s = format!("hidden={}&lr=0.0{}", b as char, b);
        let _ = parse(&s);
    }
}

#[test]
fn the_form_sets_values_under_the_link_rules() {
    let mut link = Link::default();
    assert!(link.keys().contains(&"hidden") && link.keys().contains(&"data") && !link.keys().contains(&"z"));
    link.set_value("hidden", "64").unwrap();
    assert_eq!(link.value("hidden").as_deref(), Some("64"));
    let e = link.set_value("hidden", "NaN").unwrap_err();
    assert!(e.contains("hidden is not a whole number"), "{e}");
    assert_eq!(link.vae.hidden, 64, "a refused value changes nothing");
    assert!(link.set_value("z", "3").unwrap_err().contains("not a VAE setting"));
    link.set_value("data", "sprites").unwrap();
    assert_eq!(link.data.kind, DatasetKind::Sprites);
    link.set_value("compare", "0").unwrap();
    assert!(!link.compare);
    assert_eq!(link.value("a").as_deref(), Some(""));
    assert_eq!(link.value("temp"), None);
    assert!(Link::for_lab(Lab::Kernels).keys().is_empty());
}
