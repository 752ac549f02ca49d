//! Bad input is a clear error naming the file and the 1-based line; nothing is dropped unless
//! the reader is told to skip bad rows, and then the count is kept. Fixtures are written by
//! `tests/fixtures/data/make_fixtures.py`.

use std::path::PathBuf;
use tuna::prelude::*;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/data/bad").join(name)
}

/// The error's text, checked to name `file` and `line`.
fn error_at(result: Result<impl std::fmt::Debug>, file: &str, line: Option<usize>) -> String {
    let err = result.expect_err("bad input must be an error").to_string();
    assert!(err.contains(file), "`{err}` does not name {file}");
    if let Some(line) = line {
        assert!(err.contains(&format!("{file}:{line}:")), "`{err}` does not name line {line}");
    }
    err
}

#[test]
fn a_good_csv_reads() -> Result<()> {
    let ds = Csv::new(fixture("good.csv")).label_column("label").read()?;
    assert_eq!(ds.items(), ["great, really", "awful", "fine"]);
    assert_eq!(ds.label_names(), ["neg", "pos"]);
    assert_eq!(ds.labels(), Some(&[1, 0, 1][..]));
    Ok(())
}

#[test]
fn missing_column() {
    let err = error_at(Csv::new(fixture("missing_column.csv")).read(), "missing_column.csv", Some(1));
    assert!(err.contains("no column `text`") && err.contains("label, body"), "{err}");
}

#[test]
fn ragged_row() -> Result<()> {
    let err = error_at(Csv::new(fixture("ragged.csv")).label_column("label").read(), "ragged.csv", Some(3));
    assert!(err.contains("3 fields where the header has 2"), "{err}");
    let skipped = Csv::new(fixture("ragged.csv")).label_column("label").skip_bad_rows().read()?;
    assert_eq!((skipped.len(), skipped.skipped()), (2, 1));
    assert!(skipped.render().get("text/plain").is_some_and(|t| t.to_string().contains("1 bad rows skipped")));
    Ok(())
}

#[test]
fn undecodable_bytes() -> Result<()> {
    let err = error_at(Csv::new(fixture("bad_utf8.csv")).read(), "bad_utf8.csv", Some(3));
    assert!(err.contains("not valid UTF-8") && err.contains(".lossy()"), "{err}");
    let lossy = Csv::new(fixture("bad_utf8.csv")).lossy().read()?;
    assert_eq!(lossy.items()[1], "caf\u{FFFD} \u{FFFD}\u{FFFD}");
    Ok(())
}

#[test]
fn empty_file() {
    let err = error_at(Csv::new(fixture("empty.csv")).read(), "empty.csv", Some(1));
    assert!(err.contains("empty"), "{err}");
    let name = format!("tuna-empty-{}.txt", std::process::id());
    let path = std::env::temp_dir().join(&name);
    let _ = std::fs::write(&path, "\n\n");
    error_at(text_lines(&path), &name, Some(1));
    let _ = std::fs::remove_file(&path);
}

#[test]
fn label_outside_the_label_set() -> Result<()> {
    let csv = Csv::new(fixture("bad_label.csv")).label_column("label").label_names(["neg", "pos"]);
    let err = error_at(csv.read(), "bad_label.csv", Some(4));
    assert!(err.contains("`joy`") && err.contains("neg, pos"), "{err}");
    let jsonl = Jsonl::new(fixture("bad_label.jsonl")).label_field("label").label_names(["neg", "pos"]);
    error_at(jsonl.read(), "bad_label.jsonl", Some(2));
    let kept = jsonl.skip_bad_rows().read()?;
    assert_eq!((kept.len(), kept.skipped()), (1, 1));
    Ok(())
}

#[test]
fn unreadable_image() -> Result<()> {
    let folder = ImageFolder::new(fixture("images"));
    let err = error_at(folder.read(), "broken.png", None);
    assert!(err.contains("cannot decode"), "{err}");
    let ok = folder.skip_bad_rows().read()?;
    assert_eq!((ok.len(), ok.skipped()), (2, 1));
    assert_eq!(ok.label_names(), ["circle", "square"]);
    let (img, label) = ok.get(0).ok_or_else(|| Error::msg("empty"))?;
    assert_eq!((img.width(), img.height(), img.channels(), label), (4, 3, 1, Some(0)));
    assert_eq!(img.pixels()[..3], [0, 20, 40]);
    Ok(())
}

#[test]
fn text_lines_keep_documents() -> Result<()> {
    let ds = text_lines(fixture("lines.txt"))?;
    assert_eq!(ds.items(), ["first document", "second document"]);
    Ok(())
}
