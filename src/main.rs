//! The native CLI (`genlab info | selftest | bench`). The browser build does not include it:
//! the page starts from `genlab::web::start`.

#[cfg(not(target_arch = "wasm32"))]
mod cli;

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    cli::main()
}

#[cfg(target_arch = "wasm32")]
fn main() {}
