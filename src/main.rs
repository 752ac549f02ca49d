//! `tuna`: a Jupyter kernel for Rust notebooks that train transformers on libtorch.
//! See `cli.rs` for the commands.

mod cache;
mod child;
mod cli;
mod connection;
mod engine;
mod history;
mod install;
mod notebook;
mod output;
mod repl;
mod report;
mod rewrite;
mod server;
mod session;
mod syntax;
mod wire;

fn main() {
    // evcxr re-runs this binary as the process that runs cells (and as a rustc wrapper):
    // that process needs the interrupt flag before evcxr takes over.
    if child::is_child() {
        child::install();
    } else {
        child::ignore_signals_until_installed();
    }
    evcxr::runtime_hook();
    let code = match cli::run(std::env::args().skip(1).collect()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tuna: {e:#}");
            1
        }
    };
    std::process::exit(code);
}
