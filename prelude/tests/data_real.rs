//! The real datasets fetched by `make setup` load with their documented counts, and the
//! dataset operations (stratified split, subsample, class weights) keep class proportions.

use tuna::prelude::*;

/// Fails with the fix when the data cache is missing.
fn require_data() {
    let marker = data_dir().join("tweets");
    assert!(
        marker.exists(),
        "the data cache {} is missing: run `make setup` (or `bash scripts/fetch-data.sh`) first",
        data_dir().display()
    );
}

fn proportions(counts: &[usize]) -> Vec<f64> {
    let total: usize = counts.iter().sum();
    counts.iter().map(|&c| c as f64 / total as f64).collect()
}

#[test]
fn tweets_have_38158_rows_and_3_labels() -> Result<()> {
    require_data();
    let t = tweets()?;
    assert_eq!(t.len(), 38_158);
    assert_eq!(t.label_names(), ["negative", "neutral", "positive"]);
    assert_eq!(t.class_counts(), vec![16_186, 15_018, 6_954]);
    assert!(t.origin().is_some_and(|s| s.licence.contains("MIT")));
    // Read lossily on purpose: the mis-encoded bytes are replaced, not dropped.
    assert!(t.items().iter().any(|s| s.contains('\u{FFFD}')));
    Ok(())
}

#[test]
fn stratified_split_keeps_class_proportions_within_one_percent() -> Result<()> {
    require_data();
    let t = tweets()?;
    let whole = proportions(&t.class_counts());
    let [train, valid, test] = t.split([0.8, 0.1, 0.1], 42)?;
    assert_eq!(train.len() + valid.len() + test.len(), t.len());
    assert!((train.len() as f64 / t.len() as f64 - 0.8).abs() < 0.001);
    for part in [&train, &valid, &test] {
        for (p, w) in proportions(&part.class_counts()).iter().zip(&whole) {
            assert!((p - w).abs() < 0.01, "{}: {p} vs {w}", part.name());
        }
    }
    // Same seed, same split; another seed, another order.
    let [again, _, _] = t.split([0.8, 0.1, 0.1], 42)?;
    assert_eq!(again.items()[..50], train.items()[..50]);
    let [other, _, _] = t.split([0.8, 0.1, 0.1], 7)?;
    assert_ne!(other.items()[..50], train.items()[..50]);
    assert!(t.split([0.5, 0.6], 0).is_err());
    Ok(())
}

#[test]
fn subsample_take_filter_and_class_weights() -> Result<()> {
    require_data();
    let t = tweets()?;
    let whole = proportions(&t.class_counts());
    for n in [100, 1_000, 10_000] {
        let s = t.subsample(n, 3)?;
        assert_eq!(s.len(), n);
        for (p, w) in proportions(&s.class_counts()).iter().zip(&whole) {
            assert!((p - w).abs() < 0.01 + 1.0 / n as f64, "n={n}: {p} vs {w}");
        }
    }
    assert!(t.subsample(40_000, 0).is_err());
    assert_eq!(t.take(10).items(), &t.items()[..10]);
    let positive = t.filter(|_, l| l == Some(2));
    assert_eq!(positive.len(), 6_954);
    let w = t.class_weights();
    // balanced: n / (k · count)
    assert!((w[2] - 38_158.0 / (3.0 * 6_954.0)).abs() < 1e-9);
    let lengths = t.map(|s| vec![s.len() as f32]);
    assert_eq!(lengths.labels(), t.labels());
    Ok(())
}

#[test]
fn dataset_shows_a_table_and_a_histogram() -> Result<()> {
    require_data();
    let t = tweets()?.take(200);
    let html = t.render().get("text/html").and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
    assert!(html.contains("<table>") && html.contains("<svg"), "table and histogram");
    assert!(html.contains("negative") && html.contains("licence"));
    Ok(())
}

#[test]
fn newsgroups_and_reuters_have_their_documented_counts() -> Result<()> {
    require_data();
    let train = newsgroups(Split::Train)?;
    assert_eq!((train.len(), train.num_classes()), (11_293, 20));
    assert_eq!(newsgroups(Split::Test)?.len(), 7_528);
    let r8 = reuters(Reuters::R8, Split::Train)?;
    assert_eq!((r8.len(), r8.num_classes()), (5_485, 8));
    assert_eq!(reuters(Reuters::R8, Split::Test)?.len(), 2_189);
    let r52 = reuters(Reuters::R52, Split::Train)?;
    assert_eq!((r52.len(), r52.num_classes()), (6_532, 52));
    assert_eq!(reuters(Reuters::R52, Split::Test)?.len(), 2_568);
    Ok(())
}

#[test]
fn image_datasets_have_their_documented_counts() -> Result<()> {
    require_data();
    let train = fashion_mnist(Split::Train)?;
    let test = fashion_mnist(Split::Test)?;
    assert_eq!(train.len() + test.len(), 70_000);
    assert_eq!((train.len(), train.num_classes()), (60_000, 10));
    assert_eq!(test.class_counts(), vec![1_000; 10]);
    let (img, _) = train.get(0).ok_or_else(|| Error::msg("empty"))?;
    assert_eq!((img.width(), img.height(), img.channels()), (28, 28, 1));

    let mnist = mnist_5k()?;
    assert_eq!(mnist.len(), 5_000);
    assert_eq!(mnist.class_counts(), vec![500; 10]);

    let d = digits()?;
    assert_eq!((d.len(), d.num_classes()), (1_797, 10));
    let (img, _) = d.get(0).ok_or_else(|| Error::msg("empty"))?;
    assert_eq!((img.width(), img.height()), (8, 8));
    let brightest = d.items().iter().flat_map(|i| i.pixels().iter().copied()).max();
    assert_eq!(brightest, Some(255), "0–16 scaled to 0–255");
    Ok(())
}

#[test]
fn the_bible_has_31102_verses_in_canonical_order() -> Result<()> {
    require_data();
    let b = bible()?;
    assert_eq!(b.len(), 31_102);
    assert_eq!(b.items()[0], "In the beginning God created the heaven and the earth.");
    assert_eq!(b.items()[31_101], "The grace of our Lord Jesus Christ be with you all. Amen.");
    assert!(b.items().iter().all(|v| !v.starts_with(char::is_numeric)));
    Ok(())
}
