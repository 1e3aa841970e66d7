//! A model's declared settings as command-line flags: `--hidden`, `--lr`, `--kl-warmup`…,
//! each with the declaration's help and the config's default, read by the same rules as a
//! link. Their size is left to the model's own `validate`, which takes what the model can
//! train (a learning rate of 1e6, to watch the guard stop a run).

use clap::error::ErrorKind;
use clap::{Arg, ArgMatches, Args, Command, FromArgMatches};
use genlab::settings::{Declared, Field};

/// A config read from its flags, and which of them were given.
#[derive(Clone, Debug)]
pub struct ModelFlags<C> {
    pub config: C,
    given: Vec<&'static str>,
}

impl<C> ModelFlags<C> {
    /// Whether `--flag` was on the command line.
    pub fn given(&self, flag: &str) -> bool {
        self.given.contains(&flag)
    }
}

impl<C: Declared> FromArgMatches for ModelFlags<C> {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let mut config = C::default();
        let mut given = Vec::new();
        for setting in C::SETTINGS {
            let Some(flag) = setting.flag else { continue };
            let Some(text) = matches.get_one::<String>(flag) else { continue };
            setting
                .apply_within(&mut config, text, false)
                .map_err(|why| clap::Error::raw(ErrorKind::ValueValidation, format!("--{flag} {text:?} {why}\n")))?;
            given.push(flag);
        }
        Ok(ModelFlags { config, given })
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

impl<C: Declared> Args for ModelFlags<C> {
    fn augment_args(command: Command) -> Command {
        let defaults = C::default();
        C::SETTINGS.iter().fold(command, |command, setting| {
            let Some(flag) = setting.flag else { return command };
            let help = format!("{} [default: {}]", setting.help, setting.text(&defaults));
            let arg = Arg::new(flag).long(flag).help(help).value_parser(clap::value_parser!(String));
            command.arg(match setting.field {
                // `--d-spectral-norm` alone turns a switch on; `--g-pixel-norm false` off.
                Field::Switch { .. } => arg.num_args(0..=1).default_missing_value("1").value_name("1|0"),
                Field::Choice { names, .. } => arg.value_parser(clap::builder::PossibleValuesParser::new(names)),
                Field::Whole { .. } | Field::Number { .. } => arg,
            })
        })
    }

    fn augment_args_for_update(command: Command) -> Command {
        Self::augment_args(command)
    }
}
