//! Whether a cell is complete: the answer to `is_complete_request` and the terminal REPL's
//! cue to ask for another line. A small lexer that knows Rust's strings, raw strings, chars,
//! lifetimes and nested comments, and counts brackets.

/// The three answers Jupyter knows (`unknown` is never needed: Rust's lexical structure is
/// enough to decide).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completeness {
    /// Ready to run.
    Complete,
    /// Needs more lines: an open bracket, string or comment.
    Incomplete,
    /// Can never become valid: a closing bracket that does not match.
    Invalid,
}

impl Completeness {
    /// The protocol's word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Completeness::Complete => "complete",
            Completeness::Incomplete => "incomplete",
            Completeness::Invalid => "invalid",
        }
    }
}

/// Decides whether `code` is a complete cell.
pub fn completeness(code: &str) -> Completeness {
    let chars: Vec<char> = code.chars().collect();
    let mut stack: Vec<char> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        match c {
            '/' if next == Some('/') => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '/' if next == Some('*') => {
                let mut depth = 1;
                i += 2;
                while depth > 0 {
                    match (chars.get(i), chars.get(i + 1)) {
                        (None, _) => return Completeness::Incomplete,
                        (Some('/'), Some('*')) => {
                            depth += 1;
                            i += 1;
                        }
                        (Some('*'), Some('/')) => {
                            depth -= 1;
                            i += 1;
                        }
                        _ => {}
                    }
                    i += 1;
                }
                continue;
            }
            '"' => match skip_string(&chars, i + 1) {
                Some(end) => i = end,
                None => return Completeness::Incomplete,
            },
            'r' | 'b' | 'c' if is_raw_string_start(&chars, i) => {
                let mut j = i + 1;
                if chars[i] != 'r' {
                    j += 1; // br or cr
                }
                let mut hashes = 0;
                while chars.get(j) == Some(&'#') {
                    hashes += 1;
                    j += 1;
                }
                j += 1; // the opening quote
                loop {
                    match chars.get(j) {
                        None => return Completeness::Incomplete,
                        Some('"') if (1..=hashes).all(|h| chars.get(j + h) == Some(&'#')) => {
                            i = j + hashes;
                            break;
                        }
                        _ => j += 1,
                    }
                }
            }
            '\'' => i = skip_char_or_lifetime(&chars, i),
            '(' | '[' | '{' => stack.push(c),
            ')' | ']' | '}' => {
                let open = match c {
                    ')' => '(',
                    ']' => '[',
                    _ => '{',
                };
                if stack.pop() != Some(open) {
                    return Completeness::Invalid;
                }
            }
            c if c.is_alphanumeric() || c == '_' => {
                // Skip the identifier so that the `r` in `bar"` is not read as a raw string.
                while i + 1 < chars.len() && (chars[i + 1].is_alphanumeric() || chars[i + 1] == '_') {
                    i += 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    if stack.is_empty() {
        Completeness::Complete
    } else {
        Completeness::Incomplete
    }
}

/// From just after an opening quote, the index of the closing quote.
fn skip_string(chars: &[char], mut i: usize) -> Option<usize> {
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 2,
            '"' => return Some(i),
            _ => i += 1,
        }
    }
    None
}

fn is_raw_string_start(chars: &[char], i: usize) -> bool {
    if i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_') {
        return false;
    }
    let mut j = i + 1;
    if chars[i] != 'r' {
        if chars.get(j) == Some(&'"') && chars[i] == 'b' {
            return false; // b"..." is an ordinary byte string, handled by the '"' arm next
        }
        if chars.get(j) != Some(&'r') {
            return false;
        }
        j += 1;
    }
    while chars.get(j) == Some(&'#') {
        j += 1;
    }
    chars.get(j) == Some(&'"')
}

/// A char literal (`'a'`, `'\n'`, `'\u{1F600}'`) or a lifetime / label (`'a`): returns the index
/// of its last character.
fn skip_char_or_lifetime(chars: &[char], i: usize) -> usize {
    if chars.get(i + 1) == Some(&'\\') {
        let mut j = i + 2;
        while j < chars.len() && chars[j] != '\'' {
            j += 1;
        }
        return j;
    }
    if chars.get(i + 2) == Some(&'\'') {
        return i + 2;
    }
    i // a lifetime: the identifier after it is skipped as usual
}

#[cfg(test)]
mod tests {
    use super::*;
    use Completeness::*;

    #[test]
    fn answers() {
        for (code, want) in [
            ("1 + 1", Complete),
            ("fn f() {", Incomplete),
            ("fn f() {}", Complete),
            ("let s = \"abc", Incomplete),
            ("let s = \"a{b\";", Complete),
            ("let c = '{';", Complete),
            ("fn f<'a>(x: &'a str) -> &'a str { x }", Complete),
            ("/* open", Incomplete),
            ("/* /* */ */ 1", Complete),
            ("let r = r#\"}\"#;", Complete),
            ("let r = r#\"abc", Incomplete),
            ("let b = b'{';", Complete),
            ("let v = vec![1, 2", Incomplete),
            ("let x = (1]", Invalid),
            ("}", Invalid),
            ("// a comment with {", Complete),
            ("let bar\"x\" = 1", Complete),
            ("'outer: loop { break 'outer; }", Complete),
            (":dep foo = { version = \"1\" }", Complete),
        ] {
            assert_eq!(completeness(code), want, "{code}");
        }
    }
}
