//! Wikipedia XML dumps (`pages-articles*.xml[.bz2]`) turned into clean plain text for
//! pretraining: articles of the main namespace, redirects skipped, wiki markup stripped as
//! gensim's `filter_wiki` and WikiExtractor do (comments, references, templates, tables,
//! files and categories removed; links and external links replaced by their text; bold,
//! italics, headings and list bullets unwrapped; HTML entities decoded).
//!
//! ```no_run
//! use tuna::prelude::*;
//! let articles = wikipedia_articles(wikipedia_dump()?)?;
//! articles[0].text.chars().take(300).collect::<String>()
//! # ; Ok::<(), tuna::Error>(())
//! ```

use crate::error::{Error, Result};
use crate::interrupt;
use std::io::Read;
use std::path::Path;

/// One article: its title and its plain text (paragraphs separated by blank lines).
#[derive(Debug, Clone, PartialEq)]
pub struct WikiArticle {
    /// The page title.
    pub title: String,
    /// The text without markup.
    pub text: String,
}

/// Reads a dump (`.xml` or `.xml.bz2`) and returns its main-namespace articles as plain text.
/// Pages whose text is empty after cleaning are left out (redirects, disambiguation stubs).
pub fn wikipedia_articles(path: impl AsRef<Path>) -> Result<Vec<WikiArticle>> {
    let path = path.as_ref();
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut bytes = Vec::new();
    let read = if path.extension().is_some_and(|e| e == "bz2") {
        bzip2::read::MultiBzDecoder::new(file).read_to_end(&mut bytes)
    } else {
        std::io::BufReader::new(file).read_to_end(&mut bytes)
    };
    read.map_err(|e| Error::io(path, e))?;
    let xml = String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let line = e.as_bytes()[..at].iter().filter(|&&b| b == b'\n').count() + 1;
        Error::parse(path, Some(line), "not valid UTF-8 (a Wikipedia dump is UTF-8)")
    })?;
    if !xml.contains("<mediawiki") {
        return Err(Error::parse(path, Some(1), "not a MediaWiki XML dump (no <mediawiki> element)"));
    }
    let mut articles = Vec::new();
    let mut rest = xml.as_str();
    while let Some(start) = rest.find("<page>") {
        if interrupt::requested() {
            return Err(Error::Interrupted);
        }
        let Some(len) = rest[start..].find("</page>") else { break };
        let page = &rest[start..start + len];
        rest = &rest[start + len + "</page>".len()..];
        let ns = element(page, "ns").unwrap_or("0");
        if ns.trim() != "0" || page.contains("<redirect") {
            continue;
        }
        let title = unescape(element(page, "title").unwrap_or_default());
        let text = strip_wiki_markup(&unescape(element(page, "text").unwrap_or_default()));
        if !text.is_empty() {
            articles.push(WikiArticle { title, text });
        }
    }
    Ok(articles)
}

/// The content of the first `<name …>…</name>` in `xml`.
fn element<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let open = xml.find(&format!("<{name}"))?;
    let after = &xml[open + name.len() + 1..];
    let gt = after.find('>')?;
    if after[..gt].ends_with('/') {
        return Some("");
    }
    let body = &after[gt + 1..];
    let close = body.find(&format!("</{name}>"))?;
    Some(&body[..close])
}

/// Decodes XML and the common HTML entities.
fn unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let end = rest.as_bytes()[..rest.len().min(10)].iter().position(|&b| b == b';');
        let decoded = end.and_then(|e| {
            let name = &rest[1..e];
            let c = match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some(' '),
                "ndash" => Some('–'),
                "mdash" => Some('—'),
                "minus" => Some('−'),
                "times" => Some('×'),
                _ if name.starts_with("#x") => u32::from_str_radix(&name[2..], 16).ok().and_then(char::from_u32),
                _ if name.starts_with('#') => name[1..].parse().ok().and_then(char::from_u32),
                _ => None,
            };
            c.map(|c| (c, e))
        });
        match decoded {
            Some((c, e)) => {
                out.push(c);
                rest = &rest[e + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Removes every balanced `open … close` span (nesting counted).
fn remove_nested(s: &str, open: &str, close: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut depth = 0usize;
    let mut i = 0;
    let b = s.as_bytes();
    while i < b.len() {
        if s[i..].starts_with(open) {
            depth += 1;
            i += open.len();
        } else if depth > 0 && s[i..].starts_with(close) {
            depth -= 1;
            i += close.len();
        } else {
            let ch = s[i..].chars().next().map_or(1, char::len_utf8);
            if depth == 0 {
                out.push_str(&s[i..i + ch]);
            }
            i += ch;
        }
    }
    out
}

/// Removes `<tag …>…</tag>` spans (and self-closing `<tag …/>`), content included; tag names
/// match in any case.
fn remove_element(s: &str, tag: &str) -> String {
    // ASCII lower-casing keeps byte offsets, so positions found in `lower` index `s`.
    let lower = s.to_ascii_lowercase();
    let open = format!("<{tag}");
    let close = format!("</{tag}>");
    let mut out = String::with_capacity(s.len());
    let mut at = 0;
    while let Some(i) = lower[at..].find(&open).map(|i| at + i) {
        out.push_str(&s[at..i]);
        let Some(gt) = lower[i..].find('>').map(|g| i + g) else {
            return out;
        };
        at = if lower[..gt].ends_with('/') {
            gt + 1
        } else if let Some(c) = lower[gt..].find(&close) {
            gt + c + close.len()
        } else {
            gt + 1
        };
    }
    out.push_str(&s[at..]);
    out
}

/// Replaces `[[target|label]]` by `label`, `[[target]]` by `target`, and drops file, image,
/// category and interlanguage links (their captions may hold nested links).
fn unwrap_links(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("[[") {
        out.push_str(&rest[..i]);
        let inner_start = i + 2;
        // Find the matching `]]`, counting nested `[[`.
        let mut depth = 1;
        let mut j = inner_start;
        let b = rest.as_bytes();
        while j + 1 < b.len() && depth > 0 {
            if &b[j..j + 2] == b"[[" {
                depth += 1;
                j += 2;
            } else if &b[j..j + 2] == b"]]" {
                depth -= 1;
                j += 2;
            } else {
                j += 1;
            }
        }
        if depth > 0 {
            out.push_str(&rest[i..]);
            return out;
        }
        let inner = &rest[inner_start..j - 2];
        let target = inner.split('|').next().unwrap_or_default();
        let namespace = target.split(':').next().unwrap_or_default().trim().to_ascii_lowercase();
        let dropped = target.contains(':')
            && (["file", "image", "category", "media"].contains(&namespace.as_str())
                || (namespace.len() <= 3 && namespace.chars().all(|c| c.is_ascii_lowercase() || c == '-')));
        if !dropped {
            let label = inner.rsplit('|').next().unwrap_or(inner);
            out.push_str(&unwrap_links(label));
        }
        rest = &rest[j..];
    }
    out.push_str(rest);
    out
}

/// Replaces `[http://… label]` by `label` and drops bare `[http://…]`.
fn unwrap_external_links(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('[') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let is_url = ["http://", "https://", "ftp://", "//"].iter().any(|p| after.starts_with(p));
        match after.find(']') {
            Some(close) if is_url => {
                if let Some(space) = after[..close].find(' ') {
                    out.push_str(after[space + 1..close].trim());
                }
                rest = &after[close + 1..];
            }
            _ => {
                out.push('[');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Wiki markup to plain text: see the module documentation for what goes and what stays.
pub fn strip_wiki_markup(wikitext: &str) -> String {
    let mut s = remove_nested(wikitext, "<!--", "-->");
    for tag in ["ref", "math", "gallery", "timeline", "imagemap", "score", "syntaxhighlight", "source"] {
        s = remove_element(&s, tag);
    }
    s = remove_nested(&s, "{{", "}}");
    s = remove_nested(&s, "{|", "|}");
    s = unwrap_links(&s);
    s = unwrap_external_links(&s);
    // Leftover HTML tags (`<br />`, `<sup>`, `<small>`): keep their content.
    s = remove_nested(&s, "<", ">");
    s = unescape(&s).replace("'''", "").replace("''", "");
    let mut out = String::with_capacity(s.len());
    for line in s.lines() {
        let mut line = line.trim();
        if line.starts_with('=') && line.ends_with('=') {
            line = line.trim_matches('=').trim();
        }
        line = line.trim_start_matches(['*', '#', ':', ';']).trim();
        // Table and template debris that survived unbalanced markup.
        if line.is_empty() || line.starts_with('|') || line.starts_with('!') || line.starts_with("__") {
            if !out.ends_with("\n\n") && !out.is_empty() {
                out.push('\n');
            }
            continue;
        }
        let collapsed: Vec<&str> = line.split_whitespace().collect();
        out.push_str(&collapsed.join(" "));
        out.push('\n');
    }
    out.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_is_stripped() {
        let wiki = "{{Infobox|name=x {{nested}}}}'''Anarchism''' is a [[political philosophy]] \
                    that [[Advocacy|advocates]]<ref name=\"a\">cite</ref> self-governed [[society|societies]].\
                    <!-- hidden -->\n== History ==\n* [[File:A.jpg|thumb|A [[caption]]]]Early [http://x.org forms] &amp; more.\n\
                    {| class=\"wikitable\"\n|-\n| cell\n|}\n[[Category:Politics]][[de:Anarchismus]]";
        let text = strip_wiki_markup(wiki);
        assert_eq!(
            text,
            "Anarchism is a political philosophy that advocates self-governed societies.\nHistory\nEarly forms & more."
        );
    }

    #[test]
    fn elements_and_entities() {
        assert_eq!(element("<page><title>A &amp; B</title></page>", "title"), Some("A &amp; B"));
        assert_eq!(unescape("A &amp; B &#233; &lt;x&gt; &bogus"), "A & B é <x> &bogus");
    }
}
