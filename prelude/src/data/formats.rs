//! Reading the data a user has: CSV/TSV with a header (columns chosen by name), JSON Lines,
//! plain text (a document per line, or per file in a folder) and image folders (a class per
//! sub-folder, as torchvision's `ImageFolder`). IDX files and CSV pixel rows are in `pixels.rs`.
//!
//! Bad input is an error naming the file and the 1-based line: a missing column, a ragged row,
//! bytes that are not UTF-8, an empty file, a label outside the label set, an image that does
//! not decode. Nothing is dropped unless the reader was told `.skip_bad_rows()`; then the number
//! skipped is printed and kept on the dataset ([`Dataset::skipped`]).
//!
//! ```no_run
//! use tuna::prelude::*;
//! let reviews = Csv::new("reviews.tsv").delimiter(b'\t').text_column("review").label_column("stars").read()?;
//! # Ok::<(), tuna::Error>(())
//! ```

use super::dataset::{Dataset, Sample, Source};
use super::image::Image;
use crate::error::{Error, Result};
use crate::interrupt;
use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Decodes `bytes` as UTF-8, or replaces bad bytes when `lossy`.
pub(crate) fn decode<'a>(bytes: &'a [u8], lossy: bool, path: &Path, line: usize, what: &str) -> Result<Cow<'a, str>> {
    if lossy {
        return Ok(String::from_utf8_lossy(bytes));
    }
    std::str::from_utf8(bytes).map(Cow::Borrowed).map_err(|e| {
        Error::parse(
            path,
            Some(line),
            format!("{what} is not valid UTF-8 (bad byte at offset {}); pass `.lossy()` to replace undecodable bytes", e.valid_up_to()),
        )
    })
}

/// Maps label strings to indices: a fixed label set (anything else is an error) or the sorted
/// set of labels seen.
struct LabelMap {
    fixed: Option<HashMap<String, usize>>,
    names: Vec<String>,
}

impl LabelMap {
    fn new(names: Option<&Vec<String>>) -> Self {
        match names {
            Some(n) => LabelMap { fixed: Some(n.iter().enumerate().map(|(i, s)| (s.clone(), i)).collect()), names: n.clone() },
            None => LabelMap { fixed: None, names: Vec::new() },
        }
    }

    fn check(&self, label: &str) -> std::result::Result<(), String> {
        if label.trim().is_empty() {
            return Err("the label is empty".into());
        }
        match &self.fixed {
            Some(map) if !map.contains_key(label) => Err(format!("label `{label}` is not in the label set ({})", self.names.join(", "))),
            _ => Ok(()),
        }
    }

    /// Indices for `labels` (already checked) and the label names.
    fn finish(self, labels: &[String]) -> (Vec<usize>, Vec<String>) {
        let names = match self.fixed {
            Some(_) => self.names,
            None => {
                let mut n = labels.to_vec();
                n.sort();
                n.dedup();
                n
            }
        };
        let index: HashMap<&str, usize> = names.iter().enumerate().map(|(i, n)| (n.as_str(), i)).collect();
        (labels.iter().map(|l| index[l.as_str()]).collect(), names)
    }
}

/// Rows kept, and the bad ones skipped when asked.
struct Skips {
    skip: bool,
    count: usize,
    first: Option<Error>,
}

impl Skips {
    fn new(skip: bool) -> Self {
        Skips { skip, count: 0, first: None }
    }

    /// Returns the error unless bad rows are skipped.
    fn bad(&mut self, e: Error) -> Result<()> {
        if !self.skip {
            return Err(e);
        }
        self.count += 1;
        self.first.get_or_insert(e);
        Ok(())
    }

    fn report(&self, path: &Path) {
        if let Some(first) = &self.first {
            eprintln!("{}: skipped {} bad rows (the first: {first})", path.display(), self.count);
        }
    }
}

fn finish_dataset<T: Sample>(path: &Path, items: Vec<T>, labels: Option<(LabelMap, Vec<String>)>, skips: &Skips) -> Result<Dataset<T>> {
    skips.report(path);
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let ds = match labels {
        Some((map, strings)) => {
            let (ids, names) = map.finish(&strings);
            Dataset::labelled(name, items, ids, names)?
        }
        None => Dataset::new(name, items),
    };
    Ok(ds.skipped_rows(skips.count).source(Source { origin: "user file".into(), licence: "—".into(), path: path.to_path_buf() }))
}

/// A CSV or TSV file with a header line: one column of text (or two for pairs), one of labels.
#[derive(Debug, Clone)]
pub struct Csv {
    path: PathBuf,
    delimiter: u8,
    text_column: String,
    pair_column: Option<String>,
    label_column: Option<String>,
    label_names: Option<Vec<String>>,
    lossy: bool,
    skip_bad_rows: bool,
}

impl Csv {
    /// A comma-separated file whose text is in column `text`.
    pub fn new(path: impl AsRef<Path>) -> Self {
        Csv {
            path: path.as_ref().to_path_buf(),
            delimiter: b',',
            text_column: "text".into(),
            pair_column: None,
            label_column: None,
            label_names: None,
            lossy: false,
            skip_bad_rows: false,
        }
    }

    /// The field separator (`b'\t'` for TSV).
    pub fn delimiter(mut self, delimiter: u8) -> Self {
        self.delimiter = delimiter;
        self
    }

    /// The column holding the text (default `text`).
    pub fn text_column(mut self, name: impl Into<String>) -> Self {
        self.text_column = name.into();
        self
    }

    /// The column holding the second text of a pair (read with [`Csv::read_pairs`]).
    pub fn pair_column(mut self, name: impl Into<String>) -> Self {
        self.pair_column = Some(name.into());
        self
    }

    /// The column holding the class label.
    pub fn label_column(mut self, name: impl Into<String>) -> Self {
        self.label_column = Some(name.into());
        self
    }

    /// The allowed labels, in label-index order; any other label is an error.
    pub fn label_names<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.label_names = Some(names.into_iter().map(Into::into).collect());
        self
    }

    /// Replaces bytes that are not UTF-8 by U+FFFD instead of failing.
    pub fn lossy(mut self) -> Self {
        self.lossy = true;
        self
    }

    /// Skips rows that are bad (ragged, undecodable, unknown label) and reports how many.
    pub fn skip_bad_rows(mut self) -> Self {
        self.skip_bad_rows = true;
        self
    }

    /// Reads one text per row.
    pub fn read(&self) -> Result<Dataset<String>> {
        let (rows, labels, skips) = self.read_columns(&[&self.text_column])?;
        let items = rows.into_iter().map(|mut r| r.swap_remove(0)).collect();
        finish_dataset(&self.path, items, labels, &skips)
    }

    /// Reads a pair of texts per row (`text_column`, `pair_column`).
    pub fn read_pairs(&self) -> Result<Dataset<(String, String)>> {
        let pair = self.pair_column.clone().ok_or_else(|| Error::config("pair_column", "set `.pair_column(name)` to read pairs"))?;
        let (rows, labels, skips) = self.read_columns(&[&self.text_column, &pair])?;
        let items = rows.into_iter().map(|mut r| (r.swap_remove(0), r.swap_remove(0))).collect();
        finish_dataset(&self.path, items, labels, &skips)
    }

    #[allow(clippy::type_complexity)]
    fn read_columns(&self, wanted: &[&str]) -> Result<(Vec<Vec<String>>, Option<(LabelMap, Vec<String>)>, Skips)> {
        let path = &self.path;
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let mut reader = csv::ReaderBuilder::new().delimiter(self.delimiter).has_headers(false).flexible(true).from_reader(file);
        let mut records = reader.byte_records();
        let header = match records.next() {
            None => return Err(Error::parse(path, Some(1), "the file is empty: expected a header line naming the columns")),
            Some(r) => r.map_err(|e| csv_error(path, e))?,
        };
        let names: Vec<String> = header
            .iter()
            .map(|f| decode(f, self.lossy, path, 1, "the header").map(|s| s.trim().to_owned()))
            .collect::<Result<_>>()?;
        let find = |col: &str| {
            names.iter().position(|n| n == col).ok_or_else(|| {
                Error::parse(path, Some(1), format!("no column `{col}`; the header has: {}", names.join(", ")))
            })
        };
        let columns: Vec<usize> = wanted.iter().map(|c| find(c)).collect::<Result<_>>()?;
        let label_col = self.label_column.as_deref().map(find).transpose()?;
        let map = LabelMap::new(self.label_names.as_ref());
        let mut rows = Vec::new();
        let mut labels = Vec::new();
        let mut skips = Skips::new(self.skip_bad_rows);
        for (n, record) in records.enumerate() {
            if n % 4096 == 0 && interrupt::requested() {
                return Err(Error::Interrupted);
            }
            let record = match record {
                Ok(r) => r,
                Err(e) => {
                    skips.bad(csv_error(path, e))?;
                    continue;
                }
            };
            let line = record.position().map_or(n + 2, |p| p.line() as usize);
            if record.len() == 1 && record.get(0).is_some_and(|f| f.is_empty()) {
                continue; // a blank line
            }
            let row = (|| -> Result<(Vec<String>, Option<String>)> {
                if record.len() != names.len() {
                    return Err(Error::parse(path, Some(line), format!("{} fields where the header has {}", record.len(), names.len())));
                }
                let field = |i: usize| decode(&record[i], self.lossy, path, line, &format!("column `{}`", names[i]));
                let texts = columns.iter().map(|&c| field(c).map(Cow::into_owned)).collect::<Result<Vec<_>>>()?;
                let label = match label_col {
                    Some(c) => {
                        let l = field(c)?.trim().to_owned();
                        map.check(&l).map_err(|m| Error::parse(path, Some(line), m))?;
                        Some(l)
                    }
                    None => None,
                };
                Ok((texts, label))
            })();
            match row {
                Ok((texts, label)) => {
                    rows.push(texts);
                    labels.extend(label);
                }
                Err(e) => skips.bad(e)?,
            }
        }
        if rows.is_empty() && skips.count == 0 {
            return Err(Error::parse(path, Some(2), "the file has a header but no rows"));
        }
        Ok((rows, label_col.map(|_| (map, labels)), skips))
    }
}

fn csv_error(path: &Path, e: csv::Error) -> Error {
    let line = e.position().map(|p| p.line() as usize);
    match e.into_kind() {
        csv::ErrorKind::Io(io) => Error::io(path, io),
        other => Error::parse(path, line, format!("{other:?}")),
    }
}

/// A JSON Lines file: one object per line, text and label read from named fields.
#[derive(Debug, Clone)]
pub struct Jsonl {
    path: PathBuf,
    text_field: String,
    label_field: Option<String>,
    label_names: Option<Vec<String>>,
    skip_bad_rows: bool,
}

impl Jsonl {
    /// A `.jsonl` file whose text is in field `text`.
    pub fn new(path: impl AsRef<Path>) -> Self {
        Jsonl { path: path.as_ref().to_path_buf(), text_field: "text".into(), label_field: None, label_names: None, skip_bad_rows: false }
    }

    /// The field holding the text.
    pub fn text_field(mut self, name: impl Into<String>) -> Self {
        self.text_field = name.into();
        self
    }

    /// The field holding the label (a string or a number).
    pub fn label_field(mut self, name: impl Into<String>) -> Self {
        self.label_field = Some(name.into());
        self
    }

    /// The allowed labels, in label-index order.
    pub fn label_names<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.label_names = Some(names.into_iter().map(Into::into).collect());
        self
    }

    /// Skips bad lines and reports how many.
    pub fn skip_bad_rows(mut self) -> Self {
        self.skip_bad_rows = true;
        self
    }

    /// Reads one text per line.
    pub fn read(&self) -> Result<Dataset<String>> {
        let path = &self.path;
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(Error::parse(path, Some(1), "the file is empty: expected one JSON object per line"));
        }
        let map = LabelMap::new(self.label_names.as_ref());
        let (mut items, mut labels) = (Vec::new(), Vec::new());
        let mut skips = Skips::new(self.skip_bad_rows);
        for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
            let line = i + 1;
            if raw.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let row = (|| -> Result<(String, Option<String>)> {
                let text = decode(raw, false, path, line, "the line")?;
                let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| Error::parse(path, Some(line), format!("not JSON: {e}")))?;
                let get = |field: &str| {
                    value.get(field).ok_or_else(|| Error::parse(path, Some(line), format!("no field `{field}`")))
                };
                let text = match get(&self.text_field)? {
                    serde_json::Value::String(s) => s.clone(),
                    other => return Err(Error::parse(path, Some(line), format!("field `{}` is {other}, not a string", self.text_field))),
                };
                let label = match &self.label_field {
                    Some(f) => {
                        let l = match get(f)? {
                            serde_json::Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        map.check(&l).map_err(|m| Error::parse(path, Some(line), m))?;
                        Some(l)
                    }
                    None => None,
                };
                Ok((text, label))
            })();
            match row {
                Ok((t, l)) => {
                    items.push(t);
                    labels.extend(l);
                }
                Err(e) => skips.bad(e)?,
            }
        }
        finish_dataset(path, items, self.label_field.as_ref().map(|_| (map, labels)), &skips)
    }
}

/// A plain-text file as a dataset of its non-blank lines (a document per line).
pub fn text_lines(path: impl AsRef<Path>) -> Result<Dataset<String>> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let mut items = Vec::new();
    for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = decode(raw, false, path, i + 1, "the line")?;
        if !line.trim().is_empty() {
            items.push(line.trim_end_matches('\r').to_owned());
        }
    }
    if items.is_empty() {
        return Err(Error::parse(path, Some(1), "the file is empty: expected a document per line"));
    }
    finish_dataset(path, items, None, &Skips::new(false))
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .map(|e| e.map(|e| e.path()).map_err(|err| Error::io(dir, err)))
        .collect::<Result<_>>()?;
    entries.retain(|p| !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')));
    entries.sort();
    Ok(entries)
}

/// A folder of text files as a dataset, a document per file (sorted by name). When the folder
/// holds only sub-folders, each sub-folder is a class (as [`ImageFolder`]).
pub fn text_folder(path: impl AsRef<Path>) -> Result<Dataset<String>> {
    let dir = path.as_ref();
    let entries = sorted_entries(dir)?;
    let classes: Vec<&PathBuf> = entries.iter().filter(|p| p.is_dir()).collect();
    let read = |file: &Path| -> Result<String> {
        let bytes = std::fs::read(file).map_err(|e| Error::io(file, e))?;
        let text = String::from_utf8(bytes).map_err(|e| {
            let line = e.as_bytes()[..e.utf8_error().valid_up_to()].iter().filter(|&&b| b == b'\n').count() + 1;
            Error::parse(file, Some(line), "not valid UTF-8")
        })?;
        if text.trim().is_empty() {
            return Err(Error::parse(file, Some(1), "the file is empty"));
        }
        Ok(text)
    };
    let (mut items, mut labels) = (Vec::new(), Vec::new());
    if !classes.is_empty() && classes.len() == entries.len() {
        for class in &classes {
            let name = class.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            for file in sorted_entries(class)?.into_iter().filter(|p| p.is_file()) {
                items.push(read(&file)?);
                labels.push(name.clone());
            }
        }
    } else {
        for file in entries.iter().filter(|p| p.is_file()) {
            items.push(read(file)?);
        }
    }
    if items.is_empty() {
        return Err(Error::msg(format!("{}: no text files in the folder", dir.display())));
    }
    let labels = (!labels.is_empty()).then(|| (LabelMap::new(None), labels));
    finish_dataset(dir, items, labels, &Skips::new(false))
}

/// A folder with a sub-folder per class holding PNG or JPEG images (torchvision's `ImageFolder`).
#[derive(Debug, Clone)]
pub struct ImageFolder {
    path: PathBuf,
    skip_bad_rows: bool,
}

impl ImageFolder {
    /// The folder `path/<class>/<image>`.
    pub fn new(path: impl AsRef<Path>) -> Self {
        ImageFolder { path: path.as_ref().to_path_buf(), skip_bad_rows: false }
    }

    /// Skips images that do not decode and reports how many.
    pub fn skip_bad_rows(mut self) -> Self {
        self.skip_bad_rows = true;
        self
    }

    /// Decodes every image; classes are the sorted sub-folder names.
    pub fn read(&self) -> Result<Dataset<Image>> {
        let classes: Vec<PathBuf> = sorted_entries(&self.path)?.into_iter().filter(|p| p.is_dir()).collect();
        if classes.is_empty() {
            return Err(Error::msg(format!("{}: no class sub-folders (expected <folder>/<class>/<image>.png)", self.path.display())));
        }
        let mut skips = Skips::new(self.skip_bad_rows);
        let (mut items, mut labels) = (Vec::new(), Vec::new());
        for class in &classes {
            let name = class.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            for file in sorted_entries(class)? {
                let ext = file.extension().map(|e| e.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
                if !["png", "jpg", "jpeg"].contains(&ext.as_str()) {
                    continue;
                }
                if interrupt::requested() {
                    return Err(Error::Interrupted);
                }
                match Image::open(&file) {
                    Ok(img) => {
                        items.push(img);
                        labels.push(name.clone());
                    }
                    Err(e) => skips.bad(e)?,
                }
            }
        }
        finish_dataset(&self.path, items, Some((LabelMap::new(None), labels)), &skips)
    }
}
