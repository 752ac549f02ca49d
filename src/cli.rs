//! Command-line interface.

use anyhow::{bail, Context, Result};
use std::path::PathBuf;

const USAGE: &str = "\
tuna — Rust notebooks for training transformers on libtorch

Usage:
  tuna install [--user | --prefix P | --sys-prefix] [--no-warm]
                                 write the Jupyter kernelspec \"Rust (tuna)\" and warm the build cache
  tuna kernel -f CONNECTION_FILE run the kernel (what Jupyter launches)
  tuna run NOTEBOOK.ipynb [-o OUT.ipynb] [--allow-errors]
                                 execute a notebook headless and write its outputs
  tuna repl                      a terminal REPL with the prelude loaded
  tuna warm                      build the prelude into the build cache
  tuna --version
";

/// Runs the command in `args`; returns the exit code.
pub fn run(args: Vec<String>) -> Result<i32> {
    let mut args = args.into_iter();
    let Some(command) = args.next() else {
        print!("{USAGE}");
        return Ok(2);
    };
    let rest: Vec<String> = args.collect();
    match command.as_str() {
        "kernel" => {
            let file = option(&rest, &["-f", "--connection-file", "--control-file"])?
                .context("`tuna kernel` needs -f CONNECTION_FILE")?;
            crate::server::run(&PathBuf::from(file))?;
            Ok(0)
        }
        "install" => {
            let target = if rest.iter().any(|a| a == "--user") {
                crate::install::Target::User
            } else if rest.iter().any(|a| a == "--sys-prefix") {
                crate::install::Target::SysPrefix
            } else if let Some(prefix) = option(&rest, &["--prefix"])? {
                crate::install::Target::Prefix(PathBuf::from(prefix))
            } else {
                crate::install::Target::User
            };
            let dir = crate::install::install(&target)?;
            println!("Installed kernelspec \"Rust (tuna)\" in {}", dir.display());
            if !rest.iter().any(|a| a == "--no-warm") {
                crate::install::warm()?;
            }
            Ok(0)
        }
        "run" => {
            let input = positional(&rest, &["-o", "--output"]).context("`tuna run` needs a notebook path")?;
            let output = option(&rest, &["-o", "--output"])?.map(PathBuf::from);
            let allow_errors = rest.iter().any(|a| a == "--allow-errors");
            crate::notebook::run(&PathBuf::from(input), output.as_deref(), allow_errors)
        }
        "repl" => crate::repl::run().map(|_| 0),
        "warm" => crate::install::warm().map(|_| 0),
        "--version" | "-V" | "version" => {
            println!("tuna {}", env!("CARGO_PKG_VERSION"));
            Ok(0)
        }
        "help" | "--help" | "-h" => {
            print!("{USAGE}");
            Ok(0)
        }
        other => bail!("unknown command `{other}`\n\n{USAGE}"),
    }
}

/// The value of the first of `names` in `args` (`-f X`, `--name X` or `--name=X`).
fn option(args: &[String], names: &[&str]) -> Result<Option<String>> {
    for (i, arg) in args.iter().enumerate() {
        for name in names {
            if arg == name {
                return args.get(i + 1).cloned().map(Some).with_context(|| format!("{name} needs a value"));
            }
            if let Some(value) = arg.strip_prefix(&format!("{name}=")) {
                return Ok(Some(value.to_owned()));
            }
        }
    }
    Ok(None)
}

/// The first argument that is neither a flag nor the value of one of `valued` options.
fn positional(args: &[String], valued: &[&str]) -> Option<String> {
    let mut skip_next = false;
    for arg in args {
        if std::mem::take(&mut skip_next) {
            continue;
        }
        if valued.contains(&arg.as_str()) {
            skip_next = true;
        } else if !arg.starts_with('-') {
            return Some(arg.clone());
        }
    }
    None
}
