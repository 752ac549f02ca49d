//! Evaluation: runs cells on evcxr with the prelude loaded, and stops them on request while
//! keeping the variables defined before.
//!
//! One [`Engine`] per kernel, owned by the thread that evaluates. It is shared by every front
//! end (the Jupyter kernel, `tuna run`, `tuna repl`): each passes a [`Sink`] for output and an
//! input callback, and gets an [`Outcome`] per cell. [`Interrupter`] is the handle other
//! threads use to stop the running cell.

use crate::cache::{self, Slot};
use crate::child;
use crate::output::{Forwarder, Sink};
use crate::report::ErrorReport;
use crate::rewrite::{self, Rewrite};
use anyhow::{Context, Result};
use evcxr::{CommandContext, EvalCallbacks};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a cell gets to stop by itself after an interrupt before its process is restarted.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(5);

/// The result of running one cell.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// The cell ran; its final value by MIME type (empty when it has none).
    Ok(Map<String, Value>),
    /// The cell failed, panicked or was interrupted.
    Error(ErrorReport),
}

#[derive(Debug, Default)]
struct RunState {
    running: bool,
    generation: u64,
    interrupted: bool,
    restarted: bool,
}

/// Stops the running cell from another thread.
#[derive(Clone)]
pub struct Interrupter {
    state: Arc<Mutex<RunState>>,
    process: Arc<Mutex<Child>>,
    grace: Duration,
}

impl Interrupter {
    /// Asks the running cell to stop: prelude loops and the cell's own loops end at their next
    /// check. A cell that has not stopped after the grace period (it is inside a call that
    /// never checks) has its process restarted. Does nothing when no cell runs.
    pub fn interrupt(&self) {
        let generation = {
            let mut state = lock(&self.state);
            if !state.running {
                return;
            }
            state.interrupted = true;
            state.generation
        };
        child::signal(lock(&self.process).id(), child::RAISE_SIGNAL);
        let this = self.clone();
        std::thread::spawn(move || {
            std::thread::sleep(this.grace);
            let mut state = lock(&this.state);
            if state.running && state.generation == generation {
                state.restarted = true;
                let _ = lock(&this.process).kill();
            }
        });
    }
}

/// Locks `m`, going on with the data when another thread panicked while holding it: the
/// kernel must keep answering, and these mutexes only guard plain state.
pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Which front end the cells' output is for; the prelude draws progress as HTML for a
/// notebook and as text for a terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frontend {
    Notebook,
    Terminal,
}

/// The directory of the prelude crate the kernel loads: `$TUNA_PRELUDE`, else the one this
/// kernel was built from.
pub fn prelude_dir() -> PathBuf {
    std::env::var_os("TUNA_PRELUDE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("prelude"))
}

/// A running evcxr context with tuna's output handling.
pub struct Engine {
    context: CommandContext,
    forwarder: Forwarder,
    sink: Arc<dyn Sink>,
    state: Arc<Mutex<RunState>>,
    process: Arc<Mutex<Child>>,
    prelude_loaded: bool,
    grace: Duration,
    _slot: Slot,
}

impl Engine {
    /// Starts evcxr (its child process included) in a build-cache slot, sending output to `sink`.
    pub fn start(sink: Arc<dyn Sink>, frontend: Frontend) -> Result<Engine> {
        let slot = cache::take_slot(&cache::cache_root())?;
        std::env::set_var("EVCXR_TMPDIR", &slot.dir);
        std::env::set_var("TUNA_FRONTEND", match frontend {
            Frontend::Notebook => "jupyter",
            Frontend::Terminal => "terminal",
        });
        add_rust_std_to_library_path();
        // Lazy: no compile until the prelude's cell (evcxr would compile `42` first).
        let (mut context, outputs) = CommandContext::new_lazy().map_err(|e| anyhow::anyhow!("starting evcxr: {e}"))?;
        // evcxr links with mold when it is installed; a cell linked against the prelude's
        // dylib links faster with rustc's own linker (0.15 s per trivial cell against 0.19 s
        // with mold, whose start-up outweighs its speed on small links).
        context.execute(":linker system").map_err(|e| anyhow::anyhow!("starting evcxr: {e}"))?;
        let process = context.process_handle();
        let forwarder = Forwarder::start(outputs.stdout, outputs.stderr, sink.clone());
        let grace = std::env::var("TUNA_INTERRUPT_GRACE_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .map(Duration::from_secs_f64)
            .unwrap_or(DEFAULT_GRACE);
        Ok(Engine {
            context,
            forwarder,
            sink,
            state: Arc::default(),
            process,
            prelude_loaded: false,
            grace,
            _slot: slot,
        })
    }

    /// Adds the prelude crate and brings `tuna::prelude::*` into scope.
    pub fn load_prelude(&mut self) -> Result<()> {
        let dir = prelude_dir();
        let toml = dir.join("Cargo.toml");
        anyhow::ensure!(toml.exists(), "the tuna prelude is not at {} (set TUNA_PRELUDE)", dir.display());
        // The prelude is a known-good dependency: added without `cargo metadata` checking it
        // (3 s). Then one cell, one compile: the import and the kernel's hooks.
        let failed = |e: evcxr::Error| anyhow::anyhow!("loading the prelude from {}: {e}", dir.display());
        // While it is the only dependency, cells link the prelude as one shared library
        // (prelude/dylib: a trivial cell links in ~0.03 s instead of ~0.25 s).
        let path = |d: &Path| format!("{:?}", d.display().to_string());
        let rlib = format!("{{ path = {} }}", path(&dir));
        let dylib = dir.join("dylib");
        if dylib.join("Cargo.toml").exists() {
            let alone = format!("{{ package = \"tuna-dylib\", path = {} }}", path(&dylib));
            self.context.add_trusted_dep_alone_as("tuna", &rlib, &alone).map_err(failed)?;
        } else {
            self.context.add_trusted_dep("tuna", &rlib).map_err(failed)?;
        }
        self.context.execute("use tuna::prelude::*;\n::tuna::kernel::install();").map_err(failed)?;
        self.forwarder.flush();
        self.prelude_loaded = true;
        Ok(())
    }

    /// A handle that stops the running cell from another thread.
    pub fn interrupter(&self) -> Interrupter {
        Interrupter { state: self.state.clone(), process: self.process.clone(), grace: self.grace }
    }

    /// The names of the variables the notebook currently holds.
    pub fn variables(&self) -> Vec<String> {
        let mut names: Vec<String> = self.context.variables_and_types().map(|(n, _)| n.to_owned()).collect();
        names.sort();
        names
    }

    /// Runs one cell. `input(prompt, is_password)` answers the cell's requests for a line of
    /// input.
    pub fn execute(&mut self, code: &str, input: &dyn Fn(&str, bool) -> String) -> Outcome {
        let rewrite = if self.prelude_loaded {
            rewrite::rewrite_cell(code)
        } else {
            Rewrite::unchanged(code)
        };
        let variables_before = self.variables();
        {
            let mut state = lock(&self.state);
            state.running = true;
            state.generation += 1;
            state.interrupted = false;
            state.restarted = false;
        }
        child::signal(lock(&self.process).id(), child::LOWER_SIGNAL);
        let mut callbacks =
            EvalCallbacks { input_reader: &|request| input(&decode_prompt(&request.prompt), request.is_password) };
        let result = self.context.execute_with_callbacks(&rewrite.code, &mut callbacks);
        let events = self.forwarder.flush();
        let restarted = {
            let mut state = lock(&self.state);
            state.running = false;
            state.restarted
        };

        if restarted {
            return Outcome::Error(restarted_report(&variables_before, self.grace));
        }
        match result {
            Err(evcxr::Error::CompilationErrors(errors)) => {
                Outcome::Error(ErrorReport::compile(&errors, code, &rewrite))
            }
            Err(evcxr::Error::SubprocessTerminated(message)) => Outcome::Error(ErrorReport::simple(
                "ProcessDied",
                format!(
                    "{message}\nThe process running cells stopped, so the notebook's variables are gone ({}). \
                     Dependencies, `use` statements and items from earlier cells are kept.",
                    list_or_none(&variables_before)
                ),
            )),
            Err(other) => Outcome::Error(ErrorReport::simple("Error", other.to_string())),
            // A loop check unwound the cell. (A prelude loop that ended cleanly lets the cell
            // finish normally: its result stands.)
            Ok(_) if events.interrupted => Outcome::Error(interrupted_report()),
            Ok(evcxr::EvalOutputs { user_error: Some(error), .. }) => {
                Outcome::Error(ErrorReport::returned(&error, code, &rewrite))
            }
            Ok(_) if events.panic.is_some() => {
                let (location, message) = events.panic.unwrap_or_default();
                // `src/lib.rs` is evcxr's generated crate: its lines mean nothing to the user.
                let place = location.filter(|l| !l.starts_with("src/lib.rs")).map(|l| format!(" at {l}")).unwrap_or_default();
                Outcome::Error(ErrorReport {
                    ename: "panic".into(),
                    evalue: message.clone(),
                    traceback: vec![
                        format!("\x1b[31;1mpanic\x1b[0m{place}: {message}"),
                        "Variables defined before this cell are kept.".into(),
                    ],
                })
            }
            Ok(outputs) => {
                if let Some(total) = outputs.timing {
                    // `:timing` is on: say where the time went, as evcxr's REPL does.
                    let phases: Vec<String> = outputs
                        .phases
                        .iter()
                        .map(|p| format!("{} {} ms", p.name, p.duration.as_millis()))
                        .collect();
                    let text = format!("Took {} ms ({})\n", total.as_millis(), phases.join(", "));
                    self.sink.publish("stream", serde_json::json!({ "name": "stderr", "text": text }));
                }
                Outcome::Ok(outputs.content_by_mime_type.into_iter().map(|(k, v)| (k, Value::String(v))).collect())
            }
        }
    }

    /// Mutes (or unmutes) the cell's output, for silent executions.
    pub fn mute(&self, muted: bool) {
        self.forwarder.mute(muted);
    }

    /// Starts loading rust-analyzer's view of the prelude and its dependencies on a background
    /// thread. evcxr asks rust-analyzer for the type of each new variable; the first time, it
    /// reads every crate (seconds to tens of seconds), so the kernel starts that as soon as
    /// the notebook is idle rather than during the first `let`. Cells without a `let` do not
    /// wait for it.
    pub fn warm_analysis(&mut self) {
        if evcxr::rust_analyzer_switched_off() {
            return;
        }
        let code = "let tuna_warm_up = tch::Tensor::from_slice(&[1.0f32]);\ntuna_warm_up.";
        let _ = self.context.warm_analysis(code, code.len());
    }

    /// Completions at byte offset `position` of `code`: (start, end, candidates) in bytes.
    pub fn complete(&mut self, code: &str, position: usize) -> Result<(usize, usize, Vec<String>)> {
        if evcxr::rust_analyzer_switched_off() {
            return Ok((position, position, Vec::new()));
        }
        let completions = self.context.completions(code, position).context("completing")?;
        let mut seen = std::collections::HashSet::new();
        let matches = completions
            .completions
            .into_iter()
            .map(|c| c.code)
            .filter(|c| seen.insert(c.clone()))
            .collect();
        Ok((completions.start_offset, completions.end_offset, matches))
    }

    /// Documentation (plain text, HTML) for the expression ending at byte offset `position`.
    pub fn inspect(&mut self, code: &str, position: usize) -> Result<(String, String)> {
        self.context.hover_at(code, position).context("inspecting")
    }
}

/// The prelude's `input` encodes `:` (evcxr cuts the prompt at the first one) and `%`.
fn decode_prompt(prompt: &str) -> String {
    prompt.replace("%3A", ":").replace("%25", "%")
}

/// Cells link Rust's standard library dynamically. evcxr relies on a relative RUNPATH that
/// only resolves when its build directory is shallow (under /tmp); the persistent cache is
/// deeper, so the child process is told where the toolchain's libraries are.
fn add_rust_std_to_library_path() {
    let Ok(out) = std::process::Command::new("rustc").args(["--print", "target-libdir"]).output() else { return };
    let dir = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if dir.is_empty() {
        return;
    }
    let current = std::env::var("LD_LIBRARY_PATH").unwrap_or_default();
    if !current.split(':').any(|p| p == dir) {
        let joined = if current.is_empty() { dir } else { format!("{dir}:{current}") };
        std::env::set_var("LD_LIBRARY_PATH", joined);
    }
}

fn list_or_none(names: &[String]) -> String {
    if names.is_empty() {
        "there were none".into()
    } else {
        names.join(", ")
    }
}

fn interrupted_report() -> ErrorReport {
    ErrorReport::simple(
        "Interrupted",
        "The cell was stopped by the interrupt button. Variables defined before this cell are kept.",
    )
}

fn restarted_report(variables: &[String], grace: Duration) -> ErrorReport {
    ErrorReport::simple(
        "Interrupted",
        format!(
            "The cell did not stop within {:.0} s of the interrupt: it was inside a call that never checks \
             for interrupts, so the process running cells was restarted.\n\
             Lost: the notebook's variables ({}).\n\
             Kept: dependencies, `use` statements, and functions and types defined in earlier cells.",
            grace.as_secs_f64(),
            list_or_none(variables)
        ),
    )
}
