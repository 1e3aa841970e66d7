// Activations shared by the matmul epilogue and the elementwise kernels.
// Codes: 0 identity, 1 relu, 2 leaky relu (slope), 3 tanh, 4 sigmoid.
// Every gradient is written in terms of the activation's *output* y, so a backward pass
// needs only the tensor the forward pass already kept.

const ACT_IDENTITY: u32 = 0u;
const ACT_RELU: u32 = 1u;
const ACT_LEAKY_RELU: u32 = 2u;
const ACT_TANH: u32 = 3u;
const ACT_SIGMOID: u32 = 4u;

// exp of a non-positive number cannot overflow; both formulas below only ever take one.
fn stable_sigmoid(x: f32) -> f32 {
    let e = exp(-abs(x));
    return select(e / (1.0 + e), 1.0 / (1.0 + e), x >= 0.0);
}

// Some drivers compute tanh as (e^2x - 1)/(e^2x + 1) and return NaN for large |x|.
fn stable_tanh(x: f32) -> f32 {
    let e = exp(-2.0 * abs(x));
    return sign(x) * (1.0 - e) / (1.0 + e);
}

fn activate(x: f32, act: u32, slope: f32) -> f32 {
    switch act {
        case 1u: { return max(x, 0.0); }
        case 2u: { return select(slope * x, x, x > 0.0); }
        case 3u: { return stable_tanh(x); }
        case 4u: { return stable_sigmoid(x); }
        default: { return x; }
    }
}

// d act / d x, from the output y = act(x). Leaky relu keeps the sign of x for slope > 0.
fn activation_grad_from_output(y: f32, act: u32, slope: f32) -> f32 {
    switch act {
        case 1u: { return select(0.0, 1.0, y > 0.0); }
        case 2u: { return select(slope, 1.0, y > 0.0); }
        case 3u: { return 1.0 - y * y; }
        case 4u: { return y * (1.0 - y); }
        default: { return 1.0; }
    }
}
