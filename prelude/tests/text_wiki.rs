//! The Wikipedia dump becomes clean plain text, and corpora are grouped into fixed blocks.

use tuna::prelude::*;

#[test]
fn wikipedia_dump_becomes_plain_text() -> Result<()> {
    assert!(data_dir().join("wikipedia").exists(), "run `make setup` to fetch the Wikipedia dump into $TUNA_DATA");
    let articles = wikipedia_articles(wikipedia_dump()?)?;
    // 206 pages: 205 in the main namespace, 99 of them redirects.
    assert_eq!(articles.len(), 106);
    let anarchism = articles.iter().find(|a| a.title == "Anarchism").ok_or_else(|| Error::msg("no Anarchism"))?;
    assert!(anarchism.text.starts_with("Anarchism is"), "{}", &anarchism.text[..200]);
    let total: usize = articles.iter().map(|a| a.text.len()).sum();
    assert!(total > 2_000_000, "{total} bytes of text");
    for a in &articles {
        for markup in ["{{", "}}", "[[", "]]", "<ref", "'''", "{|", "&amp;", "&lt;"] {
            assert!(!a.text.contains(markup), "{}: `{markup}` left in the text", a.title);
        }
    }
    Ok(())
}

#[test]
fn wikipedia_blocks_for_pretraining() -> Result<()> {
    let tok = Tokenizer::from_file(data_dir().join("all-MiniLM-L6-v2"))?;
    let wiki = wikipedia()?.take(3);
    let blocks = text_blocks(&tok, &wiki, 128)?;
    assert!(blocks.len() > 5, "{} blocks", blocks.len());
    assert!(blocks.items().iter().all(|b| b.len() == 128 && b.attention_mask.iter().all(|&a| a == 1)));
    let total: usize = tok.clone().no_truncation().tokenize(&wiki)?.items().iter().map(|e| e.len()).sum();
    assert_eq!(blocks.len(), total / 128, "only the last partial block is dropped");
    Ok(())
}
