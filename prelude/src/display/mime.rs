//! Values with a MIME representation: the bundle sent to Jupyter and the wrappers that make one.

use base64::Engine;
use serde_json::{Map, Value};

/// One output in every representation it has (`text/plain` always among them), plus metadata.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MimeBundle {
    data: Map<String, Value>,
    metadata: Map<String, Value>,
}

impl MimeBundle {
    /// A bundle holding only `text/plain`.
    pub fn text(plain: impl Into<String>) -> Self {
        MimeBundle::default().with("text/plain", plain.into())
    }

    /// Adds (or replaces) the representation for `mime`.
    pub fn with(mut self, mime: &str, value: impl Into<Value>) -> Self {
        self.data.insert(mime.to_owned(), value.into());
        self
    }

    /// Adds metadata for `mime` (for example an image's width).
    pub fn meta(mut self, mime: &str, value: Value) -> Self {
        self.metadata.insert(mime.to_owned(), value);
        self
    }

    /// The representation for `mime`, if present.
    pub fn get(&self, mime: &str) -> Option<&Value> {
        self.data.get(mime)
    }

    /// All representations, by MIME type.
    pub fn data(&self) -> &Map<String, Value> {
        &self.data
    }

    /// Metadata, by MIME type.
    pub fn metadata(&self) -> &Map<String, Value> {
        &self.metadata
    }
}

/// Anything that can be shown in the notebook.
pub trait Render {
    /// The representations of `self`.
    fn render(&self) -> MimeBundle;
}

impl Render for MimeBundle {
    fn render(&self) -> MimeBundle {
        self.clone()
    }
}

impl<T: Render + ?Sized> Render for &T {
    fn render(&self) -> MimeBundle {
        (**self).render()
    }
}

macro_rules! text_wrapper {
    ($(#[$doc:meta])* $name:ident, $mime:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq)]
        pub struct $name {
            /// The source text.
            pub source: String,
            /// What a plain-text front end shows instead.
            pub plain: String,
        }

        impl $name {
            /// Wraps `source`.
            pub fn new(source: impl Into<String>) -> Self {
                $name { source: source.into(), plain: format!("<{}>", stringify!($name)) }
            }

            /// Sets the plain-text fallback.
            pub fn plain(mut self, plain: impl Into<String>) -> Self {
                self.plain = plain.into();
                self
            }
        }

        impl Render for $name {
            fn render(&self) -> MimeBundle {
                MimeBundle::text(self.plain.clone()).with($mime, self.source.clone())
            }
        }
    };
}

text_wrapper!(
    /// HTML, shown rendered (`text/html`).
    Html, "text/html");
text_wrapper!(
    /// An SVG image (`image/svg+xml`).
    Svg, "image/svg+xml");
text_wrapper!(
    /// Markdown, shown rendered (`text/markdown`).
    Markdown, "text/markdown");

/// Plain text (`text/plain`).
#[derive(Debug, Clone, PartialEq)]
pub struct Text(pub String);

impl Render for Text {
    fn render(&self) -> MimeBundle {
        MimeBundle::text(self.0.clone())
    }
}

/// A PNG image from its encoded bytes (`image/png`).
#[derive(Debug, Clone, PartialEq)]
pub struct Png {
    /// The encoded PNG file.
    pub bytes: Vec<u8>,
}

impl Png {
    /// Wraps encoded PNG bytes.
    pub fn new(bytes: Vec<u8>) -> Self {
        Png { bytes }
    }
}

impl Render for Png {
    fn render(&self) -> MimeBundle {
        let b64 = base64::engine::general_purpose::STANDARD.encode(&self.bytes);
        MimeBundle::text(format!("<PNG image, {} bytes>", self.bytes.len())).with("image/png", b64)
    }
}

/// A JSON document, shown as an expandable tree (`application/json`).
#[derive(Debug, Clone, PartialEq)]
pub struct Json(pub Value);

impl Render for Json {
    fn render(&self) -> MimeBundle {
        let pretty = serde_json::to_string_pretty(&self.0).unwrap_or_else(|_| self.0.to_string());
        MimeBundle::text(pretty).with("application/json", self.0.clone())
    }
}

/// Escapes text for inclusion in HTML.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundles_carry_plain_text_and_rich_mime() {
        let b = Html::new("<b>x</b>").plain("x").render();
        assert_eq!(b.get("text/html").unwrap(), "<b>x</b>");
        assert_eq!(b.get("text/plain").unwrap(), "x");
        let p = Png::new(vec![1, 2, 3]).render();
        assert_eq!(p.get("image/png").unwrap(), "AQID");
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(escape_html("<a & 'b'>"), "&lt;a &amp; &#39;b&#39;&gt;");
    }
}
