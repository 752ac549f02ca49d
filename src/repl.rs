//! `tuna repl`: a terminal REPL with the prelude loaded, history and multi-line input.
//! Ctrl-C while a cell runs stops it the way the notebook's stop button does.

use crate::engine::{Engine, Frontend, Outcome};
use crate::output::Sink;
use crate::syntax::{completeness, Completeness};
use anyhow::Result;
use rustyline::error::ReadlineError;
use serde_json::Value;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Prints cell output to the terminal: text as is, rich output as a note.
struct Terminal;

impl Sink for Terminal {
    fn publish(&self, msg_type: &str, content: Value) {
        match msg_type {
            "stream" if content["name"] == "stderr" => eprint!("{}", content["text"].as_str().unwrap_or("")),
            "stream" => print!("{}", content["text"].as_str().unwrap_or("")),
            "display_data" => println!("{}", plain(&content["data"])),
            _ => {}
        }
    }
}

fn plain(data: &Value) -> String {
    if let Some(text) = data["text/plain"].as_str() {
        return text.to_owned();
    }
    let kinds: Vec<&str> = data.as_object().into_iter().flatten().map(|(k, _)| k.as_str()).collect();
    format!("[{}]", kinds.join(", "))
}

static CTRL_C: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigint(_: libc::c_int) {
    CTRL_C.store(true, Ordering::SeqCst);
}

/// Runs the REPL until end of input or `:quit`.
pub fn run() -> Result<()> {
    let mut engine = Engine::start(Arc::new(Terminal), Frontend::Terminal)?;
    eprintln!("tuna {} — loading the prelude…", env!("CARGO_PKG_VERSION"));
    if let Err(e) = engine.load_prelude() {
        eprintln!("tuna: the prelude could not be loaded: {e:#}");
    }
    engine.warm_analysis();
    // The child process gets Ctrl-C too (same process group) and raises its flag; this side
    // only has to start the grace period that restarts a cell which never checks.
    let interrupter = engine.interrupter();
    std::thread::spawn(move || loop {
        std::thread::sleep(Duration::from_millis(50));
        if CTRL_C.swap(false, Ordering::SeqCst) {
            interrupter.interrupt();
        }
    });
    let mut editor = rustyline::DefaultEditor::new()?;
    let history = crate::history::default_path().with_file_name("repl_history.txt");
    let _ = editor.load_history(&history);
    loop {
        let mut code = String::new();
        let mut prompt = ">> ";
        loop {
            match editor.readline(prompt) {
                Ok(line) => {
                    code.push_str(&line);
                    code.push('\n');
                }
                Err(ReadlineError::Interrupted) => {
                    code.clear();
                    break;
                }
                Err(ReadlineError::Eof) => {
                    let _ = editor.save_history(&history);
                    return Ok(());
                }
                Err(e) => return Err(e.into()),
            }
            if completeness(&code) != Completeness::Incomplete {
                break;
            }
            prompt = ".. ";
        }
        let code = code.trim_end();
        if code.is_empty() {
            continue;
        }
        if code == ":quit" {
            break;
        }
        let _ = editor.add_history_entry(code);
        // SAFETY: installs an async-signal-safe handler (one atomic store) while the cell runs.
        let previous = unsafe { libc::signal(libc::SIGINT, on_sigint as *const () as usize) };
        let outcome = engine.execute(code, &|prompt, _password| {
            eprint!("{prompt}");
            let mut line = String::new();
            let _ = std::io::stdin().read_line(&mut line);
            line.trim_end().to_owned()
        });
        // SAFETY: restores the handler that was there before.
        unsafe { libc::signal(libc::SIGINT, previous) };
        match outcome {
            Outcome::Ok(data) if !data.is_empty() => println!("{}", plain(&Value::Object(data))),
            Outcome::Ok(_) => {}
            Outcome::Error(report) => eprintln!("{}", report.traceback.join("\n")),
        }
    }
    let _ = editor.save_history(&history);
    Ok(())
}
