//! Reading and writing a link: the query string, its notices, and the checks that make a
//! link's settings agree with each other.

use super::{DataLink, Lab, LabSetting, Link, Notice, COUNT_MAX, MAX_LINK_CHARS, MAX_PAIRS, PAIR_KEYS, SHOWN_CHARS};
use crate::data::DatasetKind;
use crate::settings::{Field, Setting};

/// At most [`SHOWN_CHARS`] characters of `s`, with an ellipsis when cut.
fn shorten(s: &str) -> String {
    if s.chars().count() <= SHOWN_CHARS {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(SHOWN_CHARS).collect();
        out.push('…');
        out
    }
}

fn notice(key: &str, given: &str, problem: impl Into<String>, used: impl Into<String>) -> Notice {
    Notice { key: shorten(key), given: shorten(given), problem: problem.into(), used: used.into() }
}

/// Decodes `%XX` escapes and `+` (a space in query strings). None if an escape is broken
/// or the bytes are not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// The first lab (other than `lab`) that has a setting called `key`.
fn other_lab_with(lab: Lab, key: &str) -> Option<Lab> {
    Lab::ALL.into_iter().find(|&l| l != lab && l.reads(key))
}

/// Either index of the VAE lab's pair, read under the same rules as a setting.
const PAIR_INDEX: Setting<usize> = Setting {
    key: "a",
    flag: None,
    label: "Held-out image",
    unit: "",
    help: "A held-out image the VAE lab interpolates from or to.",
    field: Field::Whole { min: 0, max: COUNT_MAX, get: |i| *i as u64, set: |i, v| *i = v as usize },
};

fn read_index(text: &str) -> Result<usize, String> {
    let mut index = 0;
    PAIR_INDEX.apply(&mut index, text)?;
    Ok(index)
}

impl Link {
    /// Reads a link (with or without its leading `#` or `?`). Never fails: whatever is
    /// wrong is listed in the notices and replaced.
    pub fn parse(text: &str) -> (Link, Vec<Notice>) {
        let mut notices = Vec::new();
        let text = text.strip_prefix(['#', '?']).unwrap_or(text);
        let text = if text.chars().count() > MAX_LINK_CHARS {
            notices.push(notice(
                "link",
                "",
                format!("is {} characters long", text.chars().count()),
                format!("read only its first {MAX_LINK_CHARS}"),
            ));
            let end = text.char_indices().nth(MAX_LINK_CHARS).map_or(text.len(), |(i, _)| i);
            &text[..end]
        } else {
            text
        };

        // Pairs in order; a key given twice keeps its first value.
        let mut pairs: Vec<(String, String)> = Vec::new();
        for (n, part) in text.split('&').filter(|p| !p.is_empty()).enumerate() {
            if n == MAX_PAIRS {
                notices.push(notice(
                    "link",
                    "",
                    format!("has more than {MAX_PAIRS} settings"),
                    format!("read only the first {MAX_PAIRS}"),
                ));
                break;
            }
            let (raw_key, raw_value) = part.split_once('=').unwrap_or((part, ""));
            let (Some(key), Some(value)) = (percent_decode(raw_key), percent_decode(raw_value)) else {
                notices.push(notice(raw_key, raw_value, "has a broken %-escape", "ignored it"));
                continue;
            };
            if pairs.iter().any(|(k, _)| *k == key) {
                notices.push(notice(&key, &value, "is given more than once", "used the first value"));
                continue;
            }
            pairs.push((key, value));
        }

        let lab = match pairs.iter().find(|(k, _)| k == "lab") {
            None => Lab::Vae,
            Some((_, v)) => Lab::from_name(v).unwrap_or_else(|| {
                notices.push(notice("lab", v, "is not a lab (pixelrnn, vae, gan or kernels)", "opened the VAE lab"));
                Lab::Vae
            }),
        };
        let mut link = Link::for_lab(lab);
        let defaults = link.clone();
        for (key, value) in &pairs {
            if key == "lab" {
                continue;
            }
            if !lab.reads(key) {
                let why = match other_lab_with(lab, key) {
                    Some(other) if lab == Lab::Kernels => {
                        format!("is a {} setting; the Kernels tab has none", other.title())
                    }
                    Some(other) => format!("is a {} setting, not one of the {} lab", other.title(), lab.title()),
                    None => "is not a setting genlab knows".into(),
                };
                notices.push(notice(key, value, why, "ignored it"));
                continue;
            }
            if let Err(problem) = link.set_key(key, value) {
                let used = match lab.setting(key) {
                    Some(setting) => format!("used {}", setting.text(&defaults)),
                    None => "used the default pair".into(),
                };
                notices.push(notice(key, value, problem, used));
            }
        }
        // `a` and `b` only mean something together.
        let given = |k: &str| pairs.iter().any(|(key, _)| key == k);
        if lab == Lab::Vae && given("a") != given("b") {
            let (k, missing) = if given("a") { ("a", "b") } else { ("b", "a") };
            let v = pairs.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str()).unwrap_or("");
            notices.push(notice(k, v, format!("needs {missing} too"), "picked the default pair"));
            link.pair = None;
        }
        notices.extend(link.fix());
        (link, notices)
    }

    /// Sets one key the lab reads from text; on error nothing changes.
    fn set_key(&mut self, key: &str, text: &str) -> Result<(), String> {
        if let Some(setting) = self.lab.setting(key) {
            return setting.apply(self, text);
        }
        let index = read_index(text)?;
        let (a, b) = self.pair.unwrap_or((0, 0));
        self.pair = Some(if key == "a" { (index, b) } else { (a, index) });
        Ok(())
    }

    /// Makes the settings agree with each other: a dataset the lab can use, a size in the
    /// kind's range, batches no larger than the training split, an interpolation pair inside
    /// the held-out split. Returns what it changed. The page calls this after every edit too.
    pub fn fix(&mut self) -> Vec<Notice> {
        let mut notices = Vec::new();
        if !self.lab.has_model() {
            return notices;
        }
        if !self.lab.accepts(self.data.kind) {
            let fallback = DataLink::default_for(self.lab).kind;
            notices.push(notice(
                "data",
                self.data.kind.name(),
                format!("has no palette, and the {} lab predicts palette colours", self.lab.title()),
                format!("used {fallback}"),
            ));
            self.data.kind = fallback;
        }
        let (min, max) = self.data.size_range();
        if !(min..=max).contains(&self.data.size) {
            let what = if self.data.kind == DatasetKind::Sheet { "tile" } else { "sprite" };
            let used = self.data.size.clamp(min, max);
            notices.push(notice(
                "size",
                &self.data.size.to_string(),
                format!("is outside the {what} sizes {min} to {max}"),
                format!("used {used}"),
            ));
            self.data.size = used;
        }
        if let Some(train) = self.data.train_count() {
            let batch = self.batch_mut();
            if *batch > train {
                notices.push(notice(
                    "batch",
                    &batch.to_string(),
                    format!("is more than the {train} training images"),
                    format!("used {train}"),
                ));
                *batch = train;
            }
        }
        if let (Some((a, b)), Some(held)) = (self.pair, self.data.heldout_count()) {
            if self.lab == Lab::Vae && (a >= held || b >= held) {
                let (k, v) = if a >= held { ("a", a) } else { ("b", b) };
                notices.push(notice(
                    k,
                    &v.to_string(),
                    format!("is not one of the {held} held-out images (0 to {})", held - 1),
                    "picked the default pair",
                ));
                self.pair = None;
            }
        }
        notices
    }

    /// The batch size of the lab's model.
    fn batch_mut(&mut self) -> &mut usize {
        match self.lab {
            Lab::Vae => &mut self.vae.batch,
            Lab::Gan => &mut self.gan.batch,
            _ => &mut self.rnn.batch,
        }
    }

    /// Every key this link's lab reads, in the form's order (`lab` itself not included).
    pub fn keys(&self) -> Vec<&'static str> {
        let pair = if self.lab == Lab::Vae { &PAIR_KEYS[..] } else { &[] };
        self.lab.settings().into_iter().map(LabSetting::key).chain(pair.iter().copied()).collect()
    }

    /// The value of `key` as a link writes it, if the lab reads that key (the pair's keys
    /// are empty while no pair is picked).
    pub fn value(&self, key: &str) -> Option<String> {
        if let Some(setting) = self.lab.setting(key) {
            return Some(setting.text(self));
        }
        let index = PAIR_KEYS.iter().position(|k| *k == key).filter(|_| self.lab == Lab::Vae)?;
        Some(self.pair.map(|p| if index == 0 { p.0 } else { p.1 }.to_string()).unwrap_or_default())
    }

    /// Sets `key` from text under the same rules as a link (the page's form uses this, so a
    /// typed value and a linked one are checked alike). On error nothing changes and the
    /// message says what is allowed. Call [`Link::fix`] afterwards.
    pub fn set_value(&mut self, key: &str, text: &str) -> Result<(), String> {
        if !self.lab.reads(key) {
            return Err(format!("{key} is not a {} setting", self.lab.title()));
        }
        self.set_key(key, text).map_err(|problem| format!("{key} {problem}"))
    }

    /// The link as a query string (without `#` or `?`): the lab, then every setting the lab
    /// reads, so that opening it later restores exactly this setup even if defaults change.
    /// Numbers are written in their shortest form that reads back to the same value. Of the
    /// dataset's keys, only those its kind uses are written.
    pub fn to_query(&self) -> String {
        let mut pairs: Vec<(&str, String)> = vec![("lab", self.lab.name().into())];
        for setting in self.lab.settings() {
            if !matches!(setting, LabSetting::Data(_)) || self.data.uses(setting.key()) {
                pairs.push((setting.key(), setting.text(self)));
            }
        }
        if let (Lab::Vae, Some((a, b))) = (self.lab, self.pair) {
            pairs.extend([("a", a.to_string()), ("b", b.to_string())]);
        }
        pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
    }
}
