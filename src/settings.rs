//! A model's settings, each declared once: its key in links and in the page's form, its flag
//! on the command line, its label, unit, help, range, and how it reads and writes the
//! config field it stands for. From the declarations come link parsing and writing
//! (`link.rs`), the page's form (built at start, `web/labs/controls.rs`) and the
//! command line's flags with their defaults (`cli/settings.rs`).
//!
//! The range is what the page and links accept. The command line checks a value's type by
//! the same rules but leaves its size to the model's own `validate`, so that a person can
//! try a learning rate of 10 on purpose and watch the run diverge.
//!
//! Pure Rust, no browser and no GPU.

/// How a setting's value is read, and the config field it writes.
pub enum Field<C: 'static> {
    /// A whole number in `min..=max`.
    Whole { min: u64, max: u64, get: fn(&C) -> u64, set: fn(&mut C, u64) },
    /// A finite number in `(min, max]` when `above_min`, else in `[min, max]`.
    Number { min: f32, max: f32, above_min: bool, get: fn(&C) -> f32, set: fn(&mut C, f32) },
    /// On or off: written 1 or 0.
    Switch { get: fn(&C) -> bool, set: fn(&mut C, bool) },
    /// One of a few names; `titles` are what a form's list shows for them, in order.
    Choice {
        names: &'static [&'static str],
        titles: &'static [&'static str],
        get: fn(&C) -> &'static str,
        set: fn(&mut C, &str),
    },
}

/// One setting of a config `C`.
pub struct Setting<C: 'static> {
    /// The key in links (`hidden=128`) and the form's element id (`#vae-hidden`).
    pub key: &'static str,
    /// The command line's `--flag`; None for a setting only the page has.
    pub flag: Option<&'static str>,
    /// What the form calls it.
    pub label: &'static str,
    /// Shown after the label in brackets ("px"); empty for none.
    pub unit: &'static str,
    /// Why a person would change it: the form's tooltip and the command line's help.
    pub help: &'static str,
    pub field: Field<C>,
}

/// Most characters a value may have; no setting needs more.
pub const MAX_VALUE_CHARS: usize = 64;

impl<C> Setting<C> {
    /// What the setting accepts, in words: "a whole number from 1 to 1024".
    pub fn accepts(&self) -> String {
        self.accepts_within(true)
    }

    /// What the setting accepts, with its range or (`in_range` false) without it.
    fn accepts_within(&self, in_range: bool) -> String {
        match &self.field {
            Field::Whole { .. } if !in_range => "a whole number".into(),
            Field::Number { .. } if !in_range => "a number".into(),
            Field::Whole { min, max, .. } => format!("a whole number from {min} to {max}"),
            Field::Number { min, max, above_min: true, .. } => format!("a number above {min} and at most {max}"),
            Field::Number { min, max, above_min: false, .. } => format!("a number from {min} to {max}"),
            Field::Switch { .. } => "1 or 0".into(),
            Field::Choice { names, .. } => match names {
                [] => "nothing".into(),
                [one] => (*one).into(),
                [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
            },
        }
    }

    /// The value in `config` as a link writes it: numbers in their shortest form that reads
    /// back to the same value, switches as 1 or 0.
    pub fn text(&self, config: &C) -> String {
        match &self.field {
            Field::Whole { get, .. } => get(config).to_string(),
            Field::Number { get, .. } => get(config).to_string(),
            Field::Switch { get, .. } => (get(config) as u8).to_string(),
            Field::Choice { get, .. } => get(config).to_string(),
        }
    }

    /// Reads `text` and writes it into `config`. On error `config` is unchanged and the
    /// message says what was wrong ("is out of range: use a whole number from 1 to 1024").
    pub fn apply(&self, config: &mut C, text: &str) -> Result<(), String> {
        self.apply_within(config, text, true)
    }

    /// [`Setting::apply`] with the range check left to the caller when `in_range` is false
    /// (the command line's: the model's own `validate` decides what it can train).
    pub fn apply_within(&self, config: &mut C, text: &str, in_range: bool) -> Result<(), String> {
        if text.is_empty() {
            return Err("has no value".into());
        }
        let chars = text.chars().count();
        if chars > MAX_VALUE_CHARS {
            return Err(format!("is {chars} characters long, more than any setting needs"));
        }
        let accepts = self.accepts_within(in_range);
        let out_of_range = || format!("is out of range: use {accepts}");
        match &self.field {
            Field::Whole { min, max, set, .. } => {
                if !text.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(format!("is not {accepts}"));
                }
                let v: u64 = text.parse().map_err(|_| format!("is too large: use {accepts}"))?;
                if in_range && !(min..=max).contains(&&v) {
                    return Err(out_of_range());
                }
                set(config, v);
            }
            Field::Number { min, max, above_min, set, .. } => {
                let v: f32 = text.parse().map_err(|_| format!("is not a number: use {accepts}"))?;
                if !v.is_finite() {
                    return Err(format!("is not a finite number: use {accepts}"));
                }
                let above_low = if *above_min { v > *min } else { v >= *min };
                if in_range && (!above_low || v > *max) {
                    return Err(out_of_range());
                }
                set(config, v);
            }
            Field::Switch { set, .. } => match text.to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => set(config, true),
                "0" | "false" | "no" | "off" => set(config, false),
                _ => return Err(format!("is not {accepts}")),
            },
            Field::Choice { names, set, .. } => {
                if !names.contains(&text) {
                    return Err(format!("is not {accepts}"));
                }
                set(config, text);
            }
        }
        Ok(())
    }
}

/// A config with declared settings: what the command line's flags and the page's link are
/// built from.
pub trait Declared: Default + 'static {
    const SETTINGS: &'static [Setting<Self>];
}

/// Copies every declared setting from one config to another, and nothing else: what a
/// page takes from a model file it loads, since a link holds only declared settings.
pub fn copy_settings<C: Declared>(from: &C, to: &mut C) {
    for setting in C::SETTINGS {
        match &setting.field {
            Field::Whole { get, set, .. } => set(to, get(from)),
            Field::Number { get, set, .. } => set(to, get(from)),
            Field::Switch { get, set } => set(to, get(from)),
            Field::Choice { get, set, .. } => set(to, get(from)),
        }
    }
}

/// A [`Field::Whole`] over a config field of any unsigned integer type.
#[macro_export]
macro_rules! whole {
    ($field:ident: $ty:ty, $min:expr, $max:expr) => {
        $crate::settings::Field::Whole {
            min: $min,
            max: $max,
            get: |c| c.$field as u64,
            set: |c, v| c.$field = v as $ty,
        }
    };
}

/// A [`Field::Number`] over an `f32` config field; `above` makes the minimum exclusive.
#[macro_export]
macro_rules! number {
    ($field:ident, above $min:expr, $max:expr) => {
        $crate::number!(@ $field, $min, $max, true)
    };
    ($field:ident, $min:expr, $max:expr) => {
        $crate::number!(@ $field, $min, $max, false)
    };
    (@ $field:ident, $min:expr, $max:expr, $above_min:expr) => {
        $crate::settings::Field::Number {
            min: $min,
            max: $max,
            above_min: $above_min,
            get: |c| c.$field,
            set: |c, v| c.$field = v,
        }
    };
}

/// A [`Field::Choice`] over a config field whose type has `name()` and parses from it;
/// `titles` are what a form's list shows for the names, in order.
#[macro_export]
macro_rules! choice {
    ($field:ident, $names:expr, $titles:expr) => {
        $crate::settings::Field::Choice {
            names: $names,
            titles: $titles,
            get: |c| c.$field.name(),
            set: |c, name| {
                if let Ok(value) = name.parse() {
                    c.$field = value
                }
            },
        }
    };
}

/// A network's width: the key `hidden`, the flag `--hidden`, what `help` says it widens.
pub const fn hidden<C>(help: &'static str, field: Field<C>) -> Setting<C> {
    Setting { key: "hidden", flag: Some("hidden"), label: "Hidden units", unit: "", help, field }
}

/// Examples per training step: the key `batch`, the flag `--batch`, what `help` says they are.
pub const fn batch<C>(help: &'static str, field: Field<C>) -> Setting<C> {
    Setting { key: "batch", flag: Some("batch"), label: "Batch", unit: "", help, field }
}

/// Adam's step size: the key `lr`, the flag `--lr`, and `field` (the config's rate).
pub const fn learning_rate<C>(field: Field<C>) -> Setting<C> {
    Setting { key: "lr", flag: Some("lr"), label: "Learning rate", unit: "", help: "Adam's step size.", field }
}

/// A [`Field::Switch`] over a `bool` config field.
#[macro_export]
macro_rules! switch {
    ($field:ident) => {
        $crate::settings::Field::Switch { get: |c| c.$field, set: |c, v| c.$field = v }
    };
}
