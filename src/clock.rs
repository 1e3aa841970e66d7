//! Wall-clock milliseconds for benchmarks and the page's frame budget: `performance.now()`
//! in the browser, a monotonic clock natively. Only differences between two readings mean
//! anything.

#[cfg(target_arch = "wasm32")]
pub fn now_ms() -> f64 {
    // Every page that runs genlab has a window; a worker without one falls back to Date.
    web_sys::window().and_then(|w| w.performance()).map_or_else(js_sys::Date::now, |p| p.now())
}

#[cfg(not(target_arch = "wasm32"))]
pub fn now_ms() -> f64 {
    use std::sync::OnceLock;
    use std::time::Instant;
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_secs_f64() * 1e3
}
