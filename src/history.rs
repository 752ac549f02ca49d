//! Execution history kept in a file across kernel restarts: answers `history_request`
//! (`tail`, `range`, `search` with `n` and `unique`) and the REPL's recall.
//!
//! The file holds one JSON object per line: `{"session": S, "line": L, "input": "..."}`. Each
//! kernel start is a new session, numbered one past the highest in the file. Lines are
//! appended with one write each, so kernels running at once interleave whole entries.

use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// One executed cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub session: i64,
    pub line: i64,
    pub input: String,
}

/// The history file and the current session's number.
#[derive(Debug)]
pub struct History {
    path: PathBuf,
    pub session: i64,
}

/// `$TUNA_HISTORY_FILE`, else `$XDG_DATA_HOME/tuna/history.jsonl` (`~/.local/share/...`).
pub fn default_path() -> PathBuf {
    if let Some(p) = std::env::var_os("TUNA_HISTORY_FILE") {
        return PathBuf::from(p);
    }
    let data = std::env::var_os("XDG_DATA_HOME").map(PathBuf::from).unwrap_or_else(|| {
        let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
        home.join(".local").join("share")
    });
    data.join("tuna").join("history.jsonl")
}

impl History {
    /// Opens (creating its folder) the history at `path` and starts a new session.
    pub fn open(path: &Path) -> History {
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let session = read(path).iter().map(|e| e.session).max().unwrap_or(0) + 1;
        History { path: path.to_owned(), session }
    }

    /// Records cell `line` of this session.
    pub fn append(&self, line: i64, input: &str) {
        let entry = Entry { session: self.session, line, input: input.to_owned() };
        let Ok(mut text) = serde_json::to_string(&entry) else { return };
        text.push('\n');
        let file = std::fs::OpenOptions::new().create(true).append(true).open(&self.path);
        if let Err(e) = file.and_then(|mut f| f.write_all(text.as_bytes())) {
            eprintln!("tuna: could not write history to {}: {e}", self.path.display());
        }
    }

    /// The last `n` entries, oldest first.
    pub fn tail(&self, n: usize) -> Vec<Entry> {
        let all = read(&self.path);
        all[all.len().saturating_sub(n)..].to_vec()
    }

    /// Entries of `session` (0 = this one, negative = counted back from it) with
    /// `start <= line < stop` (`stop` 0 or less means no upper bound).
    pub fn range(&self, session: i64, start: i64, stop: i64) -> Vec<Entry> {
        let session = if session <= 0 { self.session + session } else { session };
        read(&self.path)
            .into_iter()
            .filter(|e| e.session == session && e.line >= start && (stop <= 0 || e.line < stop))
            .collect()
    }

    /// Entries whose input matches the glob `pattern` (`*`, `?`), the last `n` of them (all when
    /// `n` is 0), each input only once when `unique`.
    pub fn search(&self, pattern: &str, n: usize, unique: bool) -> Vec<Entry> {
        let mut hits: Vec<Entry> = read(&self.path).into_iter().filter(|e| glob(pattern, &e.input)).collect();
        if unique {
            // Keep the latest occurrence of each input.
            let mut seen = std::collections::HashSet::new();
            hits.reverse();
            hits.retain(|e| seen.insert(e.input.clone()));
            hits.reverse();
        }
        if n > 0 {
            hits = hits[hits.len().saturating_sub(n)..].to_vec();
        }
        hits
    }
}

fn read(path: &Path) -> Vec<Entry> {
    std::fs::read_to_string(path)
        .map(|text| text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect())
        .unwrap_or_default()
}

/// Glob match of the whole text: `*` any run, `?` one character.
fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_tail_range_and_search() {
        let path = std::env::temp_dir().join(format!("tuna-history-{}.jsonl", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let first = History::open(&path);
        first.append(1, "let a = 1;");
        first.append(2, "a + 1");
        let second = History::open(&path);
        assert_eq!(second.session, first.session + 1);
        second.append(1, "a + 1");
        second.append(2, "println!(\"hi\")");
        assert_eq!(second.tail(2).len(), 2);
        assert_eq!(second.range(0, 1, 0).len(), 2);
        assert_eq!(second.range(-1, 2, 3)[0].input, "a + 1");
        assert_eq!(second.search("*a*", 0, false).len(), 3);
        assert_eq!(second.search("a*", 0, false).len(), 2);
        assert_eq!(second.search("*a*", 0, true).len(), 2);
        assert_eq!(second.search("*", 1, false)[0].input, "println!(\"hi\")");
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn glob_matches_whole_text() {
        assert!(glob("a?c*", "abcdef"));
        assert!(!glob("a?c", "abcd"));
        assert!(glob("*", ""));
    }
}
