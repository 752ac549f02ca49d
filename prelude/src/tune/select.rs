//! Choosing layers and parameters by name, as PEFT does (`peft/tuners/tuners_utils.py`,
//! `check_target_module_exists`): a string is a regex that must match the whole name; a list
//! matches a name equal to an entry or ending with `.` + the entry. Layer indices come from the
//! first `.layer.N.` / `.h.N.` / `.layers.N.` / `.block.N.` / `.blocks.N.` component, as PEFT's
//! default `layers_pattern`.

use crate::{Error, Result};
use regex::Regex;

/// Which modules (or parameters) a rule applies to, by PEFT's matching rules.
///
/// ```no_run
/// use tuna::tune::Targets;
/// let qv = Targets::from(["query", "value"]);          // names ending in `.query` / `.value`
/// let all = Targets::regex(r".*\.(query|key|value)");   // full match on the dotted name
/// assert!(qv.matches("bert.encoder.layer.0.attention.self.query"));
/// assert!(!all.matches("classifier"));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum Targets {
    /// A regex that must match the whole dotted name.
    Regex(String),
    /// Names equal to an entry or ending with `.entry`.
    Names(Vec<String>),
}

impl Targets {
    /// A full-match regex on the dotted name.
    pub fn regex(pattern: impl Into<String>) -> Self {
        Targets::Regex(pattern.into())
    }

    /// Whether `name` is chosen. An invalid regex matches nothing; [`Targets::select`] reports it.
    pub fn matches(&self, name: &str) -> bool {
        match self {
            Targets::Regex(p) => full_regex(p).map(|re| re.is_match(name)).unwrap_or(false),
            Targets::Names(list) => list.iter().any(|e| name == e || name.ends_with(&format!(".{e}"))),
        }
    }

    /// The names among `names` that match, in order; `Error::NoSuchLayer` listing `names`
    /// when none does, `Error::Config` for a regex that does not compile.
    pub fn select<'a>(&self, names: impl IntoIterator<Item = &'a str> + Clone) -> Result<Vec<String>> {
        if let Targets::Regex(p) = self {
            full_regex(p).map_err(|e| Error::config("target_modules", format!("`{p}` is not a valid regex: {e}")))?;
        }
        let chosen: Vec<String> = names.clone().into_iter().filter(|n| self.matches(n)).map(str::to_owned).collect();
        if chosen.is_empty() {
            return Err(Error::NoSuchLayer { pattern: self.describe(), known: names.into_iter().map(str::to_owned).collect() });
        }
        Ok(chosen)
    }

    /// How PEFT writes it in `adapter_config.json`: a string or a list.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Targets::Regex(p) => serde_json::Value::from(p.as_str()),
            Targets::Names(v) => serde_json::Value::from(v.clone()),
        }
    }

    /// Reads `target_modules` / `modules_to_save` as PEFT writes them (string, list or null).
    pub fn from_json(key: &str, v: &serde_json::Value) -> Result<Option<Self>> {
        match v {
            serde_json::Value::Null => Ok(None),
            serde_json::Value::String(s) => Ok(Some(Targets::Regex(s.clone()))),
            serde_json::Value::Array(items) => items
                .iter()
                .map(|i| i.as_str().map(str::to_owned).ok_or_else(|| Error::config(key, format!("expected strings, found {i}"))))
                .collect::<Result<Vec<_>>>()
                .map(|v| Some(Targets::Names(v))),
            other => Err(Error::config(key, format!("expected a string or a list of strings, found {other}"))),
        }
    }

    fn describe(&self) -> String {
        match self {
            Targets::Regex(p) => p.clone(),
            Targets::Names(v) => v.join(", "),
        }
    }
}

impl From<&str> for Targets {
    /// A single string is a regex, as in PEFT.
    fn from(s: &str) -> Self {
        Targets::Regex(s.to_owned())
    }
}

impl<const N: usize> From<[&str; N]> for Targets {
    fn from(v: [&str; N]) -> Self {
        Targets::Names(v.iter().map(|s| s.to_string()).collect())
    }
}

impl From<Vec<String>> for Targets {
    fn from(v: Vec<String>) -> Self {
        Targets::Names(v)
    }
}

impl From<&[&str]> for Targets {
    fn from(v: &[&str]) -> Self {
        Targets::Names(v.iter().map(|s| s.to_string()).collect())
    }
}

fn full_regex(p: &str) -> std::result::Result<Regex, regex::Error> {
    Regex::new(&format!("^(?:{p})$"))
}

/// The transformer-layer index in a dotted name (`bert.encoder.layer.3.output.dense` → 3).
pub fn layer_index(name: &str) -> Option<usize> {
    let parts: Vec<&str> = name.split('.').collect();
    parts.windows(2).find_map(|w| match w[0] {
        "layer" | "layers" | "h" | "block" | "blocks" => w[1].parse().ok(),
        _ => None,
    })
}

/// Whether a parameter belongs to the embeddings (`*.embeddings.*`, GPT-2's `wte` / `wpe`).
pub fn is_embedding(param: &str) -> bool {
    param.split('.').any(|c| c == "embeddings" || c == "wte" || c == "wpe")
}

/// The module of a parameter name (`a.b.weight` → `a.b`).
pub fn module_of(param: &str) -> &str {
    param.rsplit_once('.').map_or("", |(m, _)| m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peft_matching_rules() {
        let list = Targets::from(["query", "dense"]);
        assert!(list.matches("bert.encoder.layer.0.attention.self.query"));
        assert!(list.matches("dense"));
        assert!(!list.matches("bert.encoder.layer.0.attention.self.query_proj"));
        let re = Targets::regex(r".*layer\.1\..*query");
        assert!(re.matches("bert.encoder.layer.1.attention.self.query"));
        assert!(!re.matches("x.bert.encoder.layer.1.attention.self.query.y"));
        let err = Targets::from(["nope"]).select(["a.b", "c"]).unwrap_err().to_string();
        assert!(err.contains("nope") && err.contains("a.b, c"), "{err}");
        assert!(Targets::regex("(").select(["a"]).is_err());
    }

    #[test]
    fn layer_indices_and_embeddings() {
        assert_eq!(layer_index("bert.encoder.layer.3.output.dense"), Some(3));
        assert_eq!(layer_index("transformer.h.11.attn.c_attn"), Some(11));
        assert_eq!(layer_index("classifier"), None);
        assert!(is_embedding("transformer.wte.weight") && is_embedding("vit.embeddings.cls_token"));
        assert!(!is_embedding("bert.encoder.layer.0.output.dense.weight"));
    }
}
