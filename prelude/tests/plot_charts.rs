//! Every chart renders valid SVG (parsed back by resvg) and PNG, holds the elements it promises
//! (titles, axis labels, legend names, counts, captions, image tiles), shows itself as SVG by
//! default and as PNG after `.png()`, and rejects tensors of the wrong shape with a clear error.
//! Set TUNA_PLOT_OUT=dir to keep a PNG of each chart for looking at.

use tch::{Device, Kind, Tensor};
use tuna::display::Render;
use tuna::plot::svg_to_png;
use tuna::prelude::*;

/// Checks the SVG parses and renders, the PNG is a real PNG of twice the size, and keeps it when asked.
fn check(name: &str, svg: &str, png: tuna::Result<Vec<u8>>) -> image::DynamicImage {
    assert!(svg.starts_with("<svg"), "{name}: not an SVG document: {}", &svg[..60.min(svg.len())]);
    assert!(svg.trim_end().ends_with("</svg>"), "{name}: SVG not closed");
    let png = png.unwrap_or_else(|e| panic!("{name}: PNG failed: {e}"));
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{name}: PNG signature");
    let img = image::load_from_memory(&png).unwrap_or_else(|e| panic!("{name}: PNG does not decode: {e}"));
    assert!(img.width() >= 200 && img.height() >= 100, "{name}: {}×{}", img.width(), img.height());
    // Not a blank page: some pixels are dark (text, lines).
    let dark = img.to_luma8().pixels().filter(|p| p.0[0] < 100).count();
    assert!(dark > 200, "{name}: only {dark} dark pixels; nothing drawn?");
    if let Ok(dir) = std::env::var("TUNA_PLOT_OUT") {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(format!("{dir}/{name}.png"), svg_to_png(svg, 2.0).unwrap()).unwrap();
        std::fs::write(format!("{dir}/{name}.svg"), svg).unwrap();
    }
    img
}

fn has_all(name: &str, svg: &str, texts: &[&str]) {
    for t in texts {
        assert!(svg.contains(t), "{name}: missing {t:?}");
    }
}

#[test]
fn line_chart_with_several_runs_and_log_x() {
    let run = |k: f64| (1..=50).map(move |s| (s as f64, 2.0 * (-(s as f64) / (10.0 * k)).exp() + 0.3)).collect::<Vec<_>>();
    let chart = LineChart::new("training loss, three runs").x_label("step").y_label("loss").runs([("full", run(1.0)), ("LoRA r=8", run(2.0)), ("BitFit", run(4.0))]);
    let svg = chart.to_svg();
    has_all("loss", &svg, &["training loss, three runs", "step", "loss", "full", "LoRA r=8", "BitFit"]);
    check("line_runs", &svg, chart.to_png());
    let b = chart.clone().render();
    assert!(b.get("image/svg+xml").is_some() && b.get("image/png").is_none());
    let b = chart.png().render();
    assert!(b.get("image/png").is_some() && b.get("image/svg+xml").is_none(), "png() shows PNG");
    assert!(b.metadata().contains_key("image/png"), "PNG carries its display size");
}

#[test]
fn error_bars_over_dataset_sizes_on_log_x() {
    let mut chart = ErrorBarChart::new("accuracy vs training examples").log_x().x_label("training examples").y_label("accuracy");
    for (strategy, base) in [("full", 0.55), ("LoRA", 0.5), ("BitFit", 0.45)] {
        for (i, n) in [100.0, 1000.0, 10000.0].into_iter().enumerate() {
            for seed in 0..3 {
                chart.add(strategy, n, base + 0.1 * i as f64 + 0.02 * seed as f64);
            }
        }
    }
    let svg = chart.to_svg();
    has_all("errorbar", &svg, &["accuracy vs training examples", "training examples", "full", "LoRA", "BitFit", "1,000", "10,000"]);
    // A log axis is labelled at the sizes measured, also when they are not powers of ten.
    let small = ErrorBarChart::new("sizes").log_x().observe("full", 32.0, 0.6).observe("full", 128.0, 0.7).to_svg();
    has_all("errorbar ticks", &small, &[">\n32\n<", ">\n128\n<"]);
    let s = chart.summary();
    assert_eq!(s.len(), 3);
    assert!((s[0].1[1].mean - 0.67).abs() < 1e-9 && (s[0].1[1].std - 0.02).abs() < 1e-9, "{:?}", s[0].1[1]);
    check("errorbar", &svg, chart.to_png());
}

#[test]
fn confusion_matrix_shows_counts_and_class_names() {
    let chart = ConfusionChart::new(vec![vec![812, 95, 43], vec![120, 655, 180], vec![30, 88, 402]], ["negative", "neutral", "positive"]).title("tweets, validation");
    let svg = chart.to_svg();
    has_all("confusion", &svg, &["tweets, validation", "predicted", "true", "negative", "neutral", "positive", "\n812\n", "\n655\n", "\n402\n", "\n43\n"]);
    check("confusion", &svg, chart.to_png());
    // Fewer names than classes: the rest are numbered.
    let svg = ConfusionChart::new(vec![vec![1, 0, 0], vec![0, 1, 0], vec![0, 0, 1]], ["a"]).to_svg();
    has_all("confusion numbered", &svg, &["\na\n", "\n1\n", "\n2\n"]);
}

#[test]
fn roc_curve_has_auc_in_the_legend() {
    let pts: Vec<(f64, f64)> = (0..=20).map(|i| i as f64 / 20.0).map(|f| (f, f.powf(0.25))).collect();
    let chart = RocChart::new("ROC, imbalanced digits").curve("ViT + class weights", pts.clone()).curve("ViT", pts.iter().map(|&(f, t)| (f, (t + f) / 2.0)));
    let svg = chart.to_svg();
    let a = chart.aucs();
    assert!(a[0].1 > 0.75 && a[0].1 < 0.82 && a[1].1 < a[0].1, "{a:?}");
    has_all("roc", &svg, &["ROC, imbalanced digits", "false positive rate", "true positive rate", "chance", &format!("ViT + class weights (AUC {:.3})", a[0].1)]);
    check("roc", &svg, chart.to_png());
}

fn softmax_rows(n: i64, seed: i64) -> Tensor {
    tch::manual_seed(seed);
    (Tensor::randn([n, n], (Kind::Float, Device::Cpu)) * 2.0).softmax(-1, Kind::Float)
}

#[test]
fn attention_map_and_grid() {
    let tokens = ["[CLS]", "the", "movie", "was", "great", "!", "[SEP]"];
    let map = AttentionMap::new(&tokens, &softmax_rows(7, 0)).unwrap().title("layer 2, head 5").annotate();
    let svg = map.to_svg();
    has_all("attention", &svg, &["layer 2, head 5", "[CLS]", "movie", "[SEP]", "query", "key"]);
    check("attention_map", &svg, map.to_png());
    let err = AttentionMap::new(&tokens[..3], &softmax_rows(7, 0)).unwrap_err().to_string();
    assert!(err.contains("3 tokens") && err.contains("7×7"), "{err}");

    let grid_w = Tensor::stack(&(0..12).map(|i| softmax_rows(7, i)).collect::<Vec<_>>(), 0).view([3, 1, 4, 7, 7]);
    let grid = AttentionGrid::new(&tokens, &grid_w).unwrap();
    let svg = grid.to_svg();
    has_all("grid", &svg, &["layer 0", "layer 2", "head 0", "head 3", "movie"]);
    assert_eq!(svg.matches("<image").count(), 12, "one tile per layer × head");
    let h = grid.head(2, 3).unwrap();
    assert!((h[0].iter().sum::<f32>() - 1.0).abs() < 1e-5);
    let img = check("attention_grid", &svg, grid.to_png()).to_rgb8();
    let purple = img.pixels().filter(|p| p.0[0] < 90 && p.0[1] < 60 && p.0[2] > 70).count();
    assert!(purple > 12 * 1000, "attention tiles not rendered in viridis: {purple}");
    assert!(AttentionGrid::new(&tokens[..2], &grid_w).unwrap_err().to_string().contains("(layers, heads, 2, 2)"));
}

/// A 28×28 "digit": a ring, for looking at.
fn ring(shift: f64) -> Tensor {
    let c = Tensor::arange(28, (Kind::Float, Device::Cpu));
    let (y, x) = (c.view([28, 1]) - 14.0 - shift, c.view([1, 28]) - 14.0 + shift);
    let r = (&y * &y + &x * &x).sqrt();
    (-(r - 7.0).pow_tensor_scalar(2) / 4.0).exp()
}

#[test]
fn image_grid_with_captions() {
    let imgs = Tensor::stack(&(0..6).map(|i| ring(i as f64 - 3.0)).collect::<Vec<_>>(), 0);
    let grid = ImageGrid::new(&imgs).unwrap().captions((0..6).map(|i| format!("pred {i} / true {i}"))).title("digits");
    let svg = grid.to_svg();
    assert_eq!(svg.matches("<image").count(), 6);
    has_all("grid", &svg, &["digits", "pred 0 / true 0", "pred 5 / true 5", "data:image/png;base64,"]);
    let img = check("image_grid", &svg, grid.to_png());
    // The tiles are drawn (mostly black squares with a white ring), not left blank.
    let black = img.to_luma8().pixels().filter(|p| p.0[0] < 30).count();
    assert!(black > 6 * 150 * 150, "tiles not rendered: {black} black pixels");
    // Colour images (N, 3, H, W) with values outside [0, 1] are stretched, not rejected.
    let rgb = Tensor::stack(&[ring(0.0) * 4.0 - 2.0, ring(2.0), ring(-2.0)], 0).unsqueeze(0).repeat([2, 1, 1, 1]);
    let g = ImageGrid::new(&rgb).unwrap();
    assert_eq!(g.len(), 2);
    let err = ImageGrid::new(&Tensor::zeros([2, 2, 4, 4], (Kind::Float, Device::Cpu))).unwrap_err().to_string();
    assert!(err.contains("ImageGrid") && err.contains("(N, C, H, W)"), "{err}");
}

#[test]
fn saliency_overlay_has_three_panels_per_image() {
    let imgs = Tensor::stack(&[ring(0.0), ring(2.0)], 0).unsqueeze(1);
    let heat = Tensor::stack(&[ring(0.0).narrow(0, 0, 14).pad([0, 0, 0, 14], "constant", Some(0.0)), -ring(2.0)], 0);
    let chart = SaliencyMap::new(&imgs, &heat).unwrap().captions(["ring (p=0.97)", "shifted"]).title("vanilla gradient");
    let svg = chart.to_svg();
    assert_eq!(svg.matches("<image").count(), 6);
    has_all("saliency", &svg, &["vanilla gradient", "image", "saliency", "overlay", "ring (p=0.97)"]);
    let img = check("saliency", &svg, chart.to_png()).to_rgb8();
    let red = img.pixels().filter(|p| p.0[0] > 150 && p.0[2] < 80).count();
    assert!(red > 2000, "saliency panels not rendered in the hot colour map: {red} red pixels");
    let err = SaliencyMap::new(&imgs, &heat.narrow(1, 0, 10)).unwrap_err().to_string();
    assert!(err.contains("SaliencyMap"), "{err}");
}

#[test]
fn bar_chart_and_save_by_extension() {
    let chart = BarChart::new("rows per class").x_label("class").y_label("rows").bars([("negative", 16186.0), ("neutral", 15018.0), ("positive", 6954.0)]);
    check("bar", &chart.to_svg(), chart.to_png());
    let dir = std::env::temp_dir().join(format!("tuna-plot-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    chart.save(dir.join("c.svg")).unwrap();
    chart.save(dir.join("c.png")).unwrap();
    assert!(std::fs::read_to_string(dir.join("c.svg")).unwrap().contains("rows per class"));
    assert_eq!(&std::fs::read(dir.join("c.png")).unwrap()[..4], b"\x89PNG");
    let err = chart.save(dir.join("c.jpg")).unwrap_err().to_string();
    assert!(err.contains(".svg or .png"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
