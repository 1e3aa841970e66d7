// Philox 4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11),
// the counter-based generator of cuRAND and JAX. A (key, counter) pair maps to four
// random words with no state to carry: number i of the stream (seed, offset) is word
// (offset + i) mod 4 of the block at counter (offset + i) / 4. Same words on every device
// and in the CPU twin (src/kernels/rng.rs).

const PHILOX_M0: u32 = 0xD2511F53u;
const PHILOX_M1: u32 = 0xCD9E8D57u;
const PHILOX_W0: u32 = 0x9E3779B9u;
const PHILOX_W1: u32 = 0xBB67AE85u;

// High and low words of the 64-bit product a·b, from 16-bit halves (WGSL has no u64).
fn mul_hi_lo(a: u32, b: u32) -> vec2<u32> {
    let a_lo = a & 0xFFFFu; let a_hi = a >> 16u;
    let b_lo = b & 0xFFFFu; let b_hi = b >> 16u;
    let ll = a_lo * b_lo;
    let lh = a_lo * b_hi;
    let hl = a_hi * b_lo;
    let hh = a_hi * b_hi;
    let mid = (ll >> 16u) + (lh & 0xFFFFu) + (hl & 0xFFFFu);
    let hi = hh + (lh >> 16u) + (hl >> 16u) + (mid >> 16u);
    return vec2<u32>(hi, a * b);
}

fn philox4x32(counter: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
    var c = counter;
    var k = key;
    for (var round = 0u; round < 10u; round++) {
        let p0 = mul_hi_lo(PHILOX_M0, c.x);
        let p1 = mul_hi_lo(PHILOX_M1, c.z);
        c = vec4<u32>(p1.x ^ c.y ^ k.x, p1.y, p0.x ^ c.w ^ k.y, p0.y);
        k += vec2<u32>(PHILOX_W0, PHILOX_W1);
    }
    return c;
}

// The block holding number `i` of the stream: counter = (offset + i) / 4 as a 64-bit value.
fn philox_block(seed: vec2<u32>, offset: vec2<u32>, i: u32) -> vec4<u32> {
    let block_lo = (offset.x >> 2u) | (offset.y << 30u);
    let block_hi = offset.y >> 2u;
    // (offset + i) / 4 = offset / 4 + (offset % 4 + i) / 4, carried into the high word.
    let step = ((offset.x & 3u) + i) >> 2u;
    let lo = block_lo + step;
    let hi = block_hi + select(0u, 1u, lo < block_lo);
    return philox4x32(vec4<u32>(lo, hi, 0u, 0u), seed);
}

fn philox_word(seed: vec2<u32>, offset: vec2<u32>, i: u32) -> u32 {
    let block = philox_block(seed, offset, i);
    return block[((offset.x & 3u) + i) & 3u];
}

// Uniform in [0, 1) with 24 random bits: exact in f32, so identical everywhere.
fn word_to_unit(w: u32) -> f32 {
    return f32(w >> 8u) * (1.0 / 16777216.0);
}

// Uniform in (0, 1): safe under log.
fn word_to_open_unit(w: u32) -> f32 {
    return (f32(w >> 8u) + 0.5) * (1.0 / 16777216.0);
}

// Standard normal number i of the stream: Box–Muller on the two words of its pair
// ((w0, w1) → n0, n1 and (w2, w3) → n2, n3 within a block).
fn philox_normal(seed: vec2<u32>, offset: vec2<u32>, i: u32) -> f32 {
    let block = philox_block(seed, offset, i);
    let lane = ((offset.x & 3u) + i) & 3u;
    let pair = lane & 2u;
    let radius = sqrt(-2.0 * log(word_to_open_unit(block[pair])));
    let angle = 6.283185307179586 * word_to_unit(block[pair + 1u]);
    return select(radius * cos(angle), radius * sin(angle), (lane & 1u) == 1u);
}
