//! The GAN's configuration and its declared settings.

use super::generator::Upsampler;
use crate::error::{Error, Result};
use crate::kernels::elementwise::Activation;
use crate::models::check_learning_rate;
use crate::settings::{batch, hidden, Declared, Setting};
use crate::{choice, number, switch, whole};

/// What the generator's last layer does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GanOutput {
    /// Pixels in [0, 1].
    #[default]
    Sigmoid,
    /// Unbounded values (points of a toy distribution).
    Identity,
}

impl GanOutput {
    pub(super) fn activation(self) -> Activation {
        match self {
            GanOutput::Sigmoid => Activation::Sigmoid,
            GanOutput::Identity => Activation::Identity,
        }
    }
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GanConfig {
    /// Noise dimensions.
    pub z_dim: usize,
    /// Width of both hidden layers of both networks.
    pub hidden: usize,
    pub batch: usize,
    pub g_learning_rate: f32,
    pub d_learning_rate: f32,
    /// Adam's β1 for both networks (0.5, as in DCGAN).
    pub beta1: f32,
    /// Discriminator updates per generator update (k).
    pub d_steps: u32,
    /// D's target for real images: 1, or e.g. 0.9 for one-sided label smoothing.
    pub real_label: f32,
    /// Decay of the moving average of G's weights that generates the samples (0 = sample
    /// from the training generator itself).
    pub g_ema: f32,
    /// Channels of the discriminator's first layer, a 4×4 convolution with stride 2 that
    /// looks at every window of the image with the same filters; 0 for none (D is then an
    /// MLP on the raw values). Off by default: on sprites, with the defaults otherwise, such
    /// a D beats G outright within 3000 steps (D(fake) ≈ 0.04) and G collapses to a few
    /// monsters (README). Files written before this option existed have none.
    #[serde(default)]
    pub d_conv_channels: usize,
    /// Channels of the generator's upsampling stack (0 for none: G is an MLP that draws all
    /// pixels at once). With c > 0, G's dense layers make an H/4 × W/4 × 2c feature map, and
    /// two 4×4 transposed convolutions with stride 2 paint it up to H/2 × W/2 × c and then to
    /// the image, the same filters at every position (DCGAN's generator, without batch
    /// norm). Images only, with sides divisible by 4. Files written before this option
    /// existed have none.
    #[serde(default)]
    pub g_conv_channels: usize,
    /// How the upsampling generator grows its map. Files written before this option
    /// existed used transposed convolutions.
    #[serde(default)]
    pub g_upsampler: Upsampler,
    /// Whether D's second layer also sees the minibatch standard deviation of its first
    /// layer's features (Karras et al. 2018): how varied the batch is, which no single image
    /// shows, so a G that draws one monster for every z is caught by that alone. Needs
    /// batches of at least 2. Files written before this option existed have none.
    #[serde(default)]
    pub d_minibatch_stddev: bool,
    /// Whether each of D's weight matrices is divided by its largest singular value
    /// (spectral normalisation, Miyato et al. 2018), so that D can stretch no difference
    /// between two images by more than a fixed factor: it cannot grow sharp enough to reject
    /// every fake outright, and its gradient stays smooth enough for G to follow. Files
    /// written before this option existed have none.
    #[serde(default)]
    pub d_spectral_norm: bool,
    /// Whether each of G's hidden layers divides its pre-activations by their root mean
    /// square (pixel normalisation, Karras et al. 2018), so every z's features have the
    /// same size; the images come out with less speckle and cover more of the data
    /// (README). Files written before this option existed have none.
    #[serde(default)]
    pub g_pixel_norm: bool,
    pub output: GanOutput,
    pub seed: u64,
}

impl Default for GanConfig {
    fn default() -> GanConfig {
        GanConfig {
            z_dim: 32,
            hidden: 128,
            batch: 64,
            g_learning_rate: 5e-4,
            d_learning_rate: 2e-3,
            beta1: 0.5,
            d_steps: 1,
            real_label: 1.0,
            g_ema: 0.999,
            d_conv_channels: 0,
            g_conv_channels: 0,
            g_upsampler: Upsampler::Transposed,
            d_minibatch_stddev: false,
            d_spectral_norm: false,
            g_pixel_norm: true,
            output: GanOutput::Sigmoid,
            seed: 1,
        }
    }
}

crate::model_config!(GanConfig);

impl Declared for GanConfig {
    /// The GAN's settings: the page's form and links, and the command line's flags.
    const SETTINGS: &'static [Setting<GanConfig>] = &[
        Setting {
            key: "z",
            flag: Some("z"),
            label: "Noise size z",
            unit: "",
            help: "Dimensions of the noise the generator paints from.",
            field: whole!(z_dim: usize, 1, 128),
        },
        hidden("Width of both hidden layers of both networks.", whole!(hidden: usize, 1, 1024)),
        batch("Real and fake images per update.", whole!(batch: usize, 1, 512)),
        Setting {
            key: "dsteps",
            flag: Some("d-steps"),
            label: "D steps per G step",
            unit: "",
            help: "Discriminator updates per generator update.",
            field: whole!(d_steps: u32, 1, 16),
        },
        Setting {
            key: "glr",
            flag: Some("g-lr"),
            label: "G learning rate",
            unit: "",
            help: "The generator's Adam step size.",
            field: number!(g_learning_rate, above 0.0, 1.0),
        },
        Setting {
            key: "dlr",
            flag: Some("d-lr"),
            label: "D learning rate",
            unit: "",
            help: "The discriminator's Adam step size.",
            field: number!(d_learning_rate, above 0.0, 1.0),
        },
        Setting {
            key: "label",
            flag: Some("real-label"),
            label: "Real label",
            unit: "",
            help: "The discriminator's target for real images: 1, or 0.9 for one-sided label smoothing.",
            field: number!(real_label, above 0.0, 1.0),
        },
        Setting {
            key: "ema",
            flag: Some("g-ema"),
            label: "G average decay",
            unit: "",
            help: "Decay of the moving average of G's weights that draws the samples: 0.999 averages over \
                   about the last 1000 steps, 0 draws with the training generator itself.",
            field: number!(g_ema, 0.0, 0.9999),
        },
        Setting {
            key: "dconv",
            flag: Some("d-conv"),
            label: "D conv channels",
            unit: "",
            help: "Channels of the discriminator's first layer, a 4×4 convolution that applies the same \
                   filters at every window; 0 for none.",
            field: whole!(d_conv_channels: usize, 0, 64),
        },
        Setting {
            key: "gconv",
            flag: Some("g-conv"),
            label: "G upsampling channels",
            unit: "",
            help: "Channels of the generator's upsampling, two 4×4 transposed convolutions that paint the \
                   image from a quarter-size map with the same filters everywhere; 0 for an MLP generator \
                   (image sides must be divisible by 4).",
            field: whole!(g_conv_channels: usize, 0, 64),
        },
        Setting {
            key: "gup",
            flag: Some("g-upsampler"),
            label: "G upsampler",
            unit: "",
            help: "How the upsampling generator doubles its map: nearest-neighbour resize then a 3×3 \
                   convolution (no checkerboard), or a 4×4 transposed convolution (DCGAN's, which tends to \
                   draw a checkerboard).",
            field: choice!(g_upsampler, &["resize", "transposed"], &["resize", "transposed"]),
        },
        Setting {
            key: "spread",
            flag: Some("d-minibatch-stddev"),
            label: "D sees each batch's spread",
            unit: "",
            help: "D's second layer also sees how varied the batch is (the minibatch standard deviation of \
                   its features, as in ProGAN), so a generator that draws the same monster for every z is \
                   caught.",
            field: switch!(d_minibatch_stddev),
        },
        Setting {
            key: "sn",
            flag: Some("d-spectral-norm"),
            label: "Spectrally normalised D",
            unit: "",
            help: "Each of D's weight matrices is divided by its largest singular value (spectral \
                   normalisation), so D cannot grow sharp enough to reject every fake outright and its \
                   gradient stays smooth enough for G to follow.",
            field: switch!(d_spectral_norm),
        },
        Setting {
            key: "pn",
            flag: Some("g-pixel-norm"),
            label: "Pixel-normalised G",
            unit: "",
            help: "Each of G's hidden layers is divided by its root mean square (pixel normalisation, as in \
                   ProGAN), so no noise vector drives G's features to sizes that its output layer turns \
                   into speckle.",
            field: switch!(g_pixel_norm),
        },
    ];
}

impl GanConfig {
    pub fn validate(&self) -> Result<()> {
        if self.z_dim == 0 || self.z_dim > 1024 {
            return Err(Error::Invalid(format!("noise size z = {} is outside 1..=1024; try 32", self.z_dim)));
        }
        if self.hidden == 0 || self.hidden > 4096 {
            return Err(Error::Invalid(format!("hidden size {} is outside 1..=4096; try 256", self.hidden)));
        }
        if self.batch == 0 {
            return Err(Error::Invalid("batch size 0: a GAN step needs at least one image; try 64".into()));
        }
        if self.d_minibatch_stddev && self.batch < 2 {
            return Err(Error::Invalid(format!(
                "batch size {}: the discriminator's minibatch standard deviation needs batches of at least 2; \
                 try 64, or turn the feature off",
                self.batch
            )));
        }
        if self.d_conv_channels > 64 {
            return Err(Error::Invalid(format!(
                "{} convolution channels in the discriminator is over 64; try 16, or 0 for none",
                self.d_conv_channels
            )));
        }
        if self.g_conv_channels > 64 {
            return Err(Error::Invalid(format!(
                "{} channels in the generator's upsampling is over 64; try 16, or 0 for an MLP generator",
                self.g_conv_channels
            )));
        }
        if self.d_steps == 0 || self.d_steps > 16 {
            return Err(Error::Invalid(format!(
                "{} discriminator steps per generator step is outside 1..=16; try 1",
                self.d_steps
            )));
        }
        if !(self.real_label.is_finite() && self.real_label > 0.0 && self.real_label <= 1.0) {
            return Err(Error::Invalid(format!(
                "real label {} is outside (0, 1]: use 1 for no label smoothing, 0.9 for one-sided smoothing",
                self.real_label
            )));
        }
        if !(0.0..1.0).contains(&self.g_ema) {
            return Err(Error::Invalid(format!(
                "generator average decay {} is outside [0, 1): 0.999 averages over about 1000 steps, 0 turns it off",
                self.g_ema
            )));
        }
        if !(0.0..1.0).contains(&self.beta1) {
            return Err(Error::Invalid(format!("Adam β1 = {} is outside [0, 1); GANs use 0.5", self.beta1)));
        }
        check_learning_rate(self.g_learning_rate)?;
        check_learning_rate(self.d_learning_rate)
    }
}
