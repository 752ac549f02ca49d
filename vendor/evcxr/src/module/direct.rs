// tuna: compiling a cell by running rustc as cargo last ran it.
//
// Every cell is a `cargo build` of the `ctx` crate. With a few hundred dependencies, cargo
// spends about 0.25 s checking that they are fresh before it runs the one rustc command that
// matters. While nothing cargo would look at has changed (Cargo.toml, .cargo/config.toml, the
// cargo command and its environment, the sources of path dependencies), that rustc command is
// the same each time: cargo's run records it (cargo runs this binary as its
// RUSTC_WORKSPACE_WRAPPER), and the next cells replay it directly. Anything else goes through
// cargo again, which records afresh.

use super::CRATE_NAME;
use super::compile_error;
use crate::code_block::CodeBlock;
use crate::errors::Error;
use crate::eval_context::Config;
use serde::Deserialize;
use serde::Serialize;
use std::path::Path;
use std::path::PathBuf;
use std::process::Command;
use std::time::SystemTime;

/// Set (to the record file) on cargo builds whose ctx rustc command is to be recorded.
pub(crate) const RECORD_ENV: &str = "EVCXR_RECORD_RUSTC";
const RECORD_FILE: &str = ".evcxr-rustc.json";
const WORKSPACE_WRAPPER_ENV: &str = "RUSTC_WORKSPACE_WRAPPER";
/// Set on a cargo build whose ctx rustc is to print full type paths (see `PROBE_FLAGS`).
const PROBE_ENV: &str = "EVCXR_PROBE_TYPES";
/// rustc flags for a cell that declares variables: the probe's warning names each type by its
/// full path (`std::collections::HashMap`, not `HashMap`, which the next cell could not
/// resolve without a `use`), however long. They need RUSTC_BOOTSTRAP, given to that rustc only.
const PROBE_FLAGS: [&str; 2] = ["-Ztrim-diagnostic-paths=no", "-Zwrite-long-types-to-disk=no"];

/// Asks the wrapper to add `PROBE_FLAGS` to ctx's rustc on this cargo build.
pub(crate) fn probe_types_with(command: &mut Command) {
    command.env(PROBE_ENV, "1");
}

/// Adds the probe's flags and environment to a rustc command.
fn add_probe_flags(command: &mut Command) {
    command.args(PROBE_FLAGS).env("RUSTC_BOOTSTRAP", "1");
}

#[derive(Serialize, Deserialize)]
struct Invocation {
    program: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
    cwd: PathBuf,
}

/// A recorded rustc command and the state it is valid for.
pub(crate) struct Direct {
    invocation: Invocation,
    key: String,
}

/// Asks cargo to run this binary as the wrapper of ctx's rustc, recording the command.
pub(crate) fn record_with(command: &mut Command, config: &Config, subprocess_path: &Path) {
    command
        .env(WORKSPACE_WRAPPER_ENV, subprocess_path)
        .env(RECORD_ENV, config.crate_dir().join(RECORD_FILE));
}

/// The wrapper: records ctx's rustc command (arguments, environment, directory), then runs
/// rustc with the arguments cargo gave.
pub(crate) fn record_and_run() -> ! {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((program, rest)) = args.split_first() else {
        eprintln!("evcxr: the rustc wrapper was run without a rustc to run");
        std::process::exit(2);
    };
    let record = std::env::var_os(RECORD_ENV);
    let is_ctx = rest.windows(2).any(|w| w[0] == "--crate-name" && w[1] == CRATE_NAME);
    let mut rest = rest.to_vec();
    if is_ctx {
        rest.extend(native_archives_of_dylibs(&rest));
    }
    if let (Some(file), true) = (record, is_ctx) {
        let env = std::env::vars_os()
            .filter(|(k, _)| k != RECORD_ENV && k != WORKSPACE_WRAPPER_ENV && k != PROBE_ENV)
            .map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect::<Option<Vec<_>>>();
        if let (Some(env), Ok(cwd)) = (env, std::env::current_dir()) {
            let invocation = Invocation { program: program.clone(), args: rest.clone(), env, cwd };
            if let Ok(json) = serde_json::to_vec(&invocation) {
                // Without a record the next cell goes through cargo: nothing is lost.
                let _ = std::fs::write(file, json);
            }
        }
    }
    let mut rustc = Command::new(program);
    rustc.args(&rest).env_remove(RECORD_ENV).env_remove(PROBE_ENV);
    if is_ctx && std::env::var_os(PROBE_ENV).is_some() {
        add_probe_flags(&mut rustc);
    }
    let status = rustc.status();
    match status {
        Ok(status) => std::process::exit(status.code().unwrap_or(1)),
        Err(error) => {
            eprintln!("evcxr: running {program}: {error}");
            std::process::exit(1);
        }
    }
}

/// Linker arguments naming the native static libraries that the build scripts of ctx's
/// dependencies made (the `.a` files in their `-L native=` folders inside the build), when ctx
/// links a Rust dylib. A dylib embeds its dependencies but exports only their Rust symbols;
/// generic code the cell instantiates can call a `-sys` crate's C functions directly (tch's
/// `atg_*`, for one), and those then come from the archive. The linker takes from an archive
/// only the members that define a symbol still missing, so a cell that calls none links
/// nothing more.
fn native_archives_of_dylibs(args: &[String]) -> Vec<String> {
    let links_dylib = args
        .windows(2)
        .any(|w| w[0] == "--extern" && w[1].ends_with(std::env::consts::DLL_SUFFIX));
    let Some(cwd) = links_dylib.then(std::env::current_dir).and_then(Result::ok) else {
        return Vec::new();
    };
    let mut archives: Vec<PathBuf> = args
        .windows(2)
        .filter(|w| w[0] == "-L")
        .filter_map(|w| w[1].strip_prefix("native="))
        .map(|dir| cwd.join(dir))
        .filter(|dir| dir.starts_with(&cwd))
        .filter_map(|dir| std::fs::read_dir(dir).ok())
        .flat_map(|entries| entries.flatten().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|e| e == "a"))
        .collect();
    archives.sort();
    archives.iter().map(|a| format!("-Clink-arg={}", a.display())).collect()
}

/// What a recorded command depends on: the manifests, the cargo command with its environment,
/// and the newest modification time of each path dependency's files.
pub(crate) fn key(config: &Config, command: &Command) -> String {
    key_of(config.crate_dir(), command)
}

/// `key` for the crate in `crate_dir`, built by `command`.
fn key_of(crate_dir: &Path, command: &Command) -> String {
    let read = |p: PathBuf| std::fs::read_to_string(p).unwrap_or_default();
    let manifest = read(crate_dir.join("Cargo.toml"));
    let newest: Vec<Option<SystemTime>> =
        path_dependencies(crate_dir).iter().map(|d| newest_file(d)).collect();
    format!("{manifest}\n{}\n{command:?}\n{newest:?}", read(crate_dir.join(".cargo/config.toml")))
}

/// Forgets the last record, before a cargo build that will write a new one.
pub(crate) fn clear_record(config: &Config) {
    let _ = std::fs::remove_file(config.crate_dir().join(RECORD_FILE));
}

/// The command cargo's build just recorded, valid for `key`.
pub(crate) fn load(config: &Config, key: String) -> Option<Direct> {
    let json = std::fs::read(config.crate_dir().join(RECORD_FILE)).ok()?;
    let invocation = serde_json::from_slice(&json).ok()?;
    Some(Direct { invocation, key })
}

impl Direct {
    pub(crate) fn is_valid_for(&self, key: &str) -> bool {
        self.key == key
    }

    /// Runs the recorded rustc on the cell's code (already written); returns the shared
    /// object it linked and rustc's JSON diagnostics.
    pub(crate) fn compile(&self, code_block: &CodeBlock, probe_types: bool) -> Result<(PathBuf, String), Error> {
        let inv = &self.invocation;
        let mut rustc = Command::new(&inv.program);
        rustc.args(&inv.args).env_clear().envs(inv.env.iter().map(|(k, v)| (k, v))).current_dir(&inv.cwd);
        if probe_types {
            add_probe_flags(&mut rustc);
        }
        let output = rustc.output()?;
        if !output.status.success() {
            return Err(compile_error(&output, code_block));
        }
        // rustc announces each file it wrote: {"artifact": PATH, "emit": "link"}.
        let so_name = super::shared_object_name_from_crate_name(CRATE_NAME);
        let diagnostics = String::from_utf8_lossy(&output.stderr).into_owned();
        let path = diagnostics
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|json| json["emit"] == "link")
            .filter_map(|json| json["artifact"].as_str().map(|p| inv.cwd.join(p)))
            .find(|path| path.file_name().is_some_and(|n| n.to_str() == Some(so_name.as_str())))
            .ok_or_else(|| {
                Error::Message(format!("rustc did not report the shared object {so_name}:\n{diagnostics}"))
            })?;
        Ok((path, diagnostics))
    }
}

/// The directories of the crate's `path = "…"` dependencies and of theirs, in turn (a path
/// dependency's own path dependencies are as much a part of the build).
fn path_dependencies(crate_dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = Vec::new();
    let mut stack = vec![crate_dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap_or_default();
        for dep in manifest_path_dependencies(&manifest) {
            let dep = dir.join(dep);
            let dep = dep.canonicalize().unwrap_or(dep);
            if !found.contains(&dep) {
                found.push(dep.clone());
                stack.push(dep);
            }
        }
    }
    found
}

/// The `path = "…"` entries of a Cargo.toml's [dependencies] and [build-dependencies], as
/// written (relative to the crate's directory unless absolute).
fn manifest_path_dependencies(manifest: &str) -> Vec<PathBuf> {
    let Ok(manifest) = manifest.parse::<toml::Table>() else {
        return Vec::new();
    };
    ["dependencies", "build-dependencies"]
        .iter()
        .filter_map(|section| manifest.get(*section)?.as_table())
        .flat_map(|deps| deps.values())
        .filter_map(|dep| dep.get("path")?.as_str().map(PathBuf::from))
        .collect()
}

/// The newest modification time of the files under `dir`, leaving out `target` and hidden
/// folders.
fn newest_file(dir: &Path) -> Option<SystemTime> {
    let mut newest = None;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                if name != "target" && !name.to_string_lossy().starts_with('.') {
                    stack.push(entry.path());
                }
            } else if let Ok(modified) = meta.modified() {
                newest = newest.max(Some(modified));
            }
        }
    }
    newest
}

#[cfg(test)]
mod tests {
    use super::Direct;
    use super::Invocation;
    use super::key_of;
    use super::manifest_path_dependencies;
    use std::path::Path;
    use std::path::PathBuf;
    use std::process::Command;
    use std::time::Duration;
    use std::time::SystemTime;
    use tempfile::TempDir;

    /// ctx depending on dylib by path, which depends on prelude by path (tuna's own layout:
    /// the kernel's prelude/dylib and prelude), each with a source file.
    fn crates() -> TempDir {
        let root = tempfile::tempdir().unwrap();
        let write = |path: &str, text: &str| {
            let path = root.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        write("ctx/Cargo.toml", "[package]\nname = \"ctx\"\n\n[dependencies]\ntuna = { package = \"tuna-dylib\", path = \"../dylib\" }\n");
        write("ctx/.cargo/config.toml", "[build]\nrustflags = []\n");
        write("ctx/src/lib.rs", "");
        write("dylib/Cargo.toml", "[package]\nname = \"tuna-dylib\"\n\n[dependencies]\ntuna = { path = \"../prelude\" }\n");
        write("dylib/src/lib.rs", "pub use tuna::*;\n");
        write("prelude/Cargo.toml", "[package]\nname = \"tuna\"\n");
        write("prelude/src/lib.rs", "pub fn f() {}\n");
        write("prelude/target/release/libtuna.rlib", "");
        write("prelude/.git/index", "");
        root
    }

    fn cargo_build() -> Command {
        let mut command = Command::new("cargo");
        command.arg("build").arg("--message-format=json");
        command
    }

    fn key(root: &TempDir) -> String {
        key_of(&root.path().join("ctx"), &cargo_build())
    }

    /// Gives the file a modification time an hour from now: newer than any the tests wrote,
    /// whatever the file system's time resolution.
    fn touch(root: &TempDir, path: &str) {
        let file = std::fs::File::options().write(true).open(root.path().join(path)).unwrap();
        file.set_modified(SystemTime::now() + Duration::from_secs(3600)).unwrap();
    }

    fn edit(root: &TempDir, path: &str, text: &str) {
        std::fs::write(root.path().join(path), text).unwrap();
    }

    #[test]
    fn key_is_stable_for_an_unchanged_crate() {
        let root = crates();
        assert_eq!(key(&root), key(&root));
    }

    #[test]
    fn key_changes_with_cargo_toml() {
        let root = crates();
        let before = key(&root);
        edit(&root, "ctx/Cargo.toml", "[package]\nname = \"ctx\"\n\n[dependencies]\nregex = \"1\"\n");
        assert_ne!(before, key(&root));
    }

    #[test]
    fn key_changes_with_cargo_config() {
        let root = crates();
        let before = key(&root);
        edit(&root, "ctx/.cargo/config.toml", "[build]\nrustflags = [\"-Ctarget-cpu=native\"]\n");
        assert_ne!(before, key(&root));
    }

    #[test]
    fn key_changes_with_the_cargo_command() {
        let root = crates();
        let crate_dir = root.path().join("ctx");
        let before = key(&root);
        let mut with_arg = cargo_build();
        with_arg.arg("--offline");
        assert_ne!(before, key_of(&crate_dir, &with_arg));
        let mut with_env = cargo_build();
        with_env.env("RUSTFLAGS", "-Copt-level=3");
        assert_ne!(before, key_of(&crate_dir, &with_env));
    }

    #[test]
    fn key_changes_when_a_path_dependency_is_touched() {
        let root = crates();
        let before = key(&root);
        touch(&root, "dylib/src/lib.rs");
        assert_ne!(before, key(&root));
    }

    #[test]
    fn key_changes_when_a_path_dependency_of_a_path_dependency_is_touched() {
        let root = crates();
        let before = key(&root);
        touch(&root, "prelude/src/lib.rs");
        assert_ne!(before, key(&root));
    }

    #[test]
    fn key_ignores_target_and_hidden_folders_of_path_dependencies() {
        let root = crates();
        let before = key(&root);
        touch(&root, "prelude/target/release/libtuna.rlib");
        touch(&root, "prelude/.git/index");
        assert_eq!(before, key(&root));
    }

    #[test]
    fn manifest_path_dependencies_reads_dependencies_and_build_dependencies() {
        let manifest = r#"
            [package]
            name = "ctx"

            [dependencies]
            regex = "1"
            serde = { version = "1", features = ["derive"] }
            tuna = { package = "tuna-dylib", path = "../dylib" }

            [build-dependencies]
            helper = { path = "/abs/helper" }

            [dev-dependencies]
            tested = { path = "../tested" }
        "#;
        assert_eq!(
            manifest_path_dependencies(manifest),
            [PathBuf::from("../dylib"), PathBuf::from("/abs/helper")]
        );
        assert!(manifest_path_dependencies("[dependencies]\nregex = \"1\"\n").is_empty());
        assert!(manifest_path_dependencies("not toml [").is_empty());
    }

    #[test]
    fn is_valid_for_compares_keys() {
        let direct = Direct {
            invocation: Invocation {
                program: "rustc".into(),
                args: Vec::new(),
                env: Vec::new(),
                cwd: Path::new("/").to_path_buf(),
            },
            key: "k1".into(),
        };
        assert!(direct.is_valid_for("k1"));
        assert!(!direct.is_valid_for("k2"));
    }
}
