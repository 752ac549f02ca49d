//! Error reports for the notebook: compiler errors pointing at the line and column of the cell
//! (the way rustc shows them), errors a cell returned through `?`, panics, interrupts and a
//! restarted child process.

use crate::rewrite::Rewrite;
use evcxr::{CompilationError, UserCodeError};

/// A Jupyter error: `ename`, `evalue` and the traceback lines a front end shows.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorReport {
    pub ename: String,
    pub evalue: String,
    pub traceback: Vec<String>,
}

const RED: &str = "\x1b[31;1m";
const BLUE: &str = "\x1b[34;1m";
const RESET: &str = "\x1b[0m";

impl ErrorReport {
    /// An error with a one-line traceback saying `ename: evalue`.
    pub fn simple(ename: &str, evalue: impl Into<String>) -> Self {
        let evalue = evalue.into();
        let traceback = std::iter::once(format!("{RED}{ename}{RESET}: {}", first_line(&evalue)))
            .chain(evalue.lines().skip(1).map(str::to_owned))
            .collect();
        ErrorReport { ename: ename.to_owned(), evalue, traceback }
    }

    /// rustc's errors for a cell, positions mapped back to what the user wrote.
    pub fn compile(errors: &[CompilationError], code: &str, rewrite: &Rewrite) -> Self {
        let lines: Vec<&str> = code.lines().collect();
        let mut traceback = Vec::new();
        let mut summary = Vec::new();
        for error in errors {
            let code_part = error.code().map(|c| format!("[{c}]")).unwrap_or_default();
            let level = error.level();
            traceback.push(format!("{RED}{level}{code_part}{RESET}: {}", error.message()));
            let mut located = false;
            for spanned in error.spanned_messages() {
                let Some(span) = spanned.span else { continue };
                let (line, start) = rewrite.original_position(span.start_line, span.start_column);
                let end = if span.end_line == span.start_line {
                    rewrite.original_position(span.end_line, span.end_column).1
                } else {
                    start + 1
                };
                if !located {
                    summary.push(format!("{} (line {line}, column {start})", error.message()));
                    located = true;
                }
                let Some(source) = lines.get(line.wrapping_sub(1)) else { continue };
                let width = line.to_string().len();
                traceback.push(format!("{BLUE}{:width$}-->{RESET} cell:{line}:{start}", ""));
                traceback.push(format!("{BLUE}{:width$} |{RESET}", ""));
                traceback.push(format!("{BLUE}{line} |{RESET} {source}"));
                let marks = "^".repeat(end.saturating_sub(start).max(1));
                let pad: String = source.chars().take(start - 1).map(|c| if c == '\t' { '\t' } else { ' ' }).collect();
                let colour = if spanned.is_primary { RED } else { BLUE };
                traceback.push(format!("{BLUE}{:width$} |{RESET} {pad}{colour}{marks} {}{RESET}", "", spanned.label));
            }
            if !located {
                summary.push(error.message());
            }
            for help in error.help() {
                traceback.push(format!("  = help: {help}"));
            }
            if let Some(hint) = error.evcxr_extra_hint() {
                traceback.push(format!("  = hint: {hint}"));
            }
            traceback.push(String::new());
        }
        ErrorReport { ename: "CompileError".into(), evalue: summary.join("\n"), traceback }
    }
}

impl ErrorReport {
    /// An error the cell's code returned through `?`: named by its type (and variant), its
    /// message with its causes, and the line of the cell where the `?` was.
    pub fn returned(error: &UserCodeError, code: &str, rewrite: &Rewrite) -> Self {
        let ename = error_name(&error.type_name, &error.debug);
        let mut report = ErrorReport::simple(&ename, error.message.clone());
        if let Some(line) = error.line.map(|l| rewrite.original_position(l, 1).0) {
            if let Some(source) = code.lines().nth(line.wrapping_sub(1)) {
                let width = line.to_string().len();
                report.traceback.push(format!("{BLUE}{:width$}-->{RESET} cell:{line}", ""));
                report.traceback.push(format!("{BLUE}{:width$} |{RESET}", ""));
                report.traceback.push(format!("{BLUE}{line} |{RESET} {source}"));
                report.traceback.push(format!("{BLUE}{:width$} |{RESET}", ""));
            }
        }
        report.traceback.push("The cell returned this error through `?`; variables defined before this cell are kept.".into());
        report
    }
}

/// A short name for an error type: `core::num::error::ParseIntError` → `ParseIntError`,
/// `tuna::error::Error` whose `Debug` starts `Config(..)` → `tuna::Error::Config`,
/// `Box<dyn Error>` holding a `ParseIntError` → `ParseIntError`.
pub fn error_name(type_name: &str, debug: &str) -> String {
    let short = short_type_name(type_name);
    // The `Debug` form of an enum starts with its variant, of a struct with its own name.
    let ident: String = debug.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
    let rest = &debug[ident.len()..];
    let is_name = ident.starts_with(|c: char| c.is_ascii_uppercase())
        && (rest.is_empty() || rest.starts_with('(') || rest.starts_with(" {"));
    if !is_name || short.ends_with(&ident) {
        short
    } else if short.contains('<') {
        ident // a box or other wrapper: the type inside is what the user knows
    } else {
        format!("{short}::{ident}")
    }
}

/// `alloc::boxed::Box<dyn core::error::Error>` → `Box<dyn Error>`; a crate's own type keeps
/// its crate: `tuna::error::Error` → `tuna::Error`.
fn short_type_name(type_name: &str) -> String {
    let mut out = String::new();
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if !word.is_empty() {
            let parts: Vec<&str> = word.split("::").collect();
            let last = parts[parts.len() - 1];
            if parts.len() > 1 && !matches!(parts[0], "std" | "core" | "alloc") {
                out.push_str(parts[0]);
                out.push_str("::");
            }
            out.push_str(last);
            word.clear();
        }
    };
    for c in type_name.chars() {
        if c.is_alphanumeric() || c == '_' || c == ':' {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_named_by_their_type_and_variant() {
        assert_eq!(error_name("core::num::error::ParseIntError", "ParseIntError { kind: InvalidDigit }"), "ParseIntError");
        assert_eq!(error_name("tuna::error::Error", "Config(\"no label column\")"), "tuna::Error::Config");
        assert_eq!(error_name("tuna::error::Error", "Io { path: \"x\" }"), "tuna::Error::Io");
        assert_eq!(error_name("tuna::error::Error", "Unlabelled"), "tuna::Error::Unlabelled");
        assert_eq!(error_name("alloc::boxed::Box<dyn core::error::Error>", "ParseIntError { kind: Empty }"), "ParseIntError");
        assert_eq!(error_name("anyhow::Error", "Custom failure\n\nCaused by: x"), "anyhow::Error");
        assert_eq!(error_name("alloc::string::String", "\"text\""), "String");
    }

    #[test]
    fn simple_reports_put_the_name_first() {
        let r = ErrorReport::simple("Interrupted", "stopped\nvariables kept");
        assert_eq!(r.traceback.len(), 2);
        assert!(r.traceback[0].contains("Interrupted"));
        assert_eq!(r.traceback[1], "variables kept");
    }
}
