//! Error reports for the notebook: compiler errors pointing at the line and column of the cell
//! (the way rustc shows them), panics, interrupts and a restarted child process.

use crate::rewrite::Rewrite;
use evcxr::CompilationError;

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

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_reports_put_the_name_first() {
        let r = ErrorReport::simple("Interrupted", "stopped\nvariables kept");
        assert_eq!(r.traceback.len(), 2);
        assert!(r.traceback[0].contains("Interrupted"));
        assert_eq!(r.traceback[1], "variables kept");
    }
}
