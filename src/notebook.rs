//! `tuna run`: executes a notebook headless through the same engine the kernel uses and
//! writes every output into it (nbformat 4), as nbclient would. No Python needed.

use crate::engine::{lock, Engine, Frontend, Outcome};
use crate::output::Sink;
use anyhow::{Context, Result};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Outputs of the notebook's cells as they are produced.
#[derive(Default)]
struct Outputs {
    /// Outputs per cell index.
    cells: HashMap<usize, Vec<Value>>,
    current: usize,
    /// Where each display id was shown: (cell, output index).
    displays: HashMap<String, Vec<(usize, usize)>>,
    /// A `clear_output(wait=True)` waiting for the next output.
    clear_pending: bool,
}

impl Outputs {
    fn push(&mut self, output: Value, display_id: Option<&str>) {
        if std::mem::take(&mut self.clear_pending) {
            self.clear();
        }
        let cell = self.cells.entry(self.current).or_default();
        // Consecutive stream text of one name merges into one output, as nbclient writes it.
        if output["output_type"] == "stream" {
            if let Some(last) = cell.last_mut().filter(|l| l["output_type"] == "stream" && l["name"] == output["name"]) {
                let text = format!("{}{}", last["text"].as_str().unwrap_or(""), output["text"].as_str().unwrap_or(""));
                last["text"] = Value::String(text);
                return;
            }
        }
        cell.push(output);
        if let Some(id) = display_id {
            let index = cell.len() - 1;
            self.displays.entry(id.to_owned()).or_default().push((self.current, index));
        }
    }

    fn clear(&mut self) {
        let current = self.current;
        self.cells.remove(&current);
        for places in self.displays.values_mut() {
            places.retain(|(cell, _)| *cell != current);
        }
    }

    fn update(&mut self, id: &str, data: &Value, metadata: &Value) {
        for &(cell, index) in self.displays.get(id).into_iter().flatten() {
            if let Some(output) = self.cells.get_mut(&cell).and_then(|c| c.get_mut(index)) {
                output["data"] = data.clone();
                output["metadata"] = metadata.clone();
            }
        }
    }
}

struct NotebookSink(Arc<Mutex<Outputs>>);

impl Sink for NotebookSink {
    fn publish(&self, msg_type: &str, content: Value) {
        let mut outputs = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let display_id = content["transient"]["display_id"].as_str().map(str::to_owned);
        match msg_type {
            "stream" => outputs.push(json!({ "output_type": "stream", "name": content["name"], "text": content["text"] }), None),
            "display_data" => outputs.push(
                json!({ "output_type": "display_data", "data": content["data"], "metadata": content["metadata"] }),
                display_id.as_deref(),
            ),
            "update_display_data" => {
                if let Some(id) = display_id {
                    outputs.update(&id, &content["data"], &content["metadata"]);
                }
            }
            "clear_output" => {
                if content["wait"].as_bool().unwrap_or(false) {
                    outputs.clear_pending = true;
                } else {
                    outputs.clear();
                }
            }
            _ => {}
        }
    }
}

/// Executes `input` and writes the result to `output` (default: in place). Stops at the first
/// error unless `allow_errors`; returns the exit code (1 when a cell failed).
pub fn run(input: &Path, output: Option<&Path>, allow_errors: bool) -> Result<i32> {
    let text = std::fs::read_to_string(input).with_context(|| format!("reading {}", input.display()))?;
    let mut notebook: Value = serde_json::from_str(&text).with_context(|| format!("{} is not a notebook (JSON)", input.display()))?;
    let outputs = Arc::new(Mutex::new(Outputs::default()));
    let start = Instant::now();
    let mut engine = Engine::start(Arc::new(NotebookSink(outputs.clone())), Frontend::Notebook)?;
    engine.load_prelude()?;
    // rust-analyzer (the types of new variables) warms up while the first cells compile.
    engine.warm_analysis();
    eprintln!("tuna: kernel ready in {:.1} s", start.elapsed().as_secs_f64());

    let cells = notebook["cells"].as_array().context("the notebook has no `cells` list")?.clone();
    let mut count = 0;
    let mut failed = false;
    let code_cells = cells.iter().filter(|c| c["cell_type"] == "code").count();
    for (index, cell) in cells.iter().enumerate() {
        if cell["cell_type"] != "code" {
            continue;
        }
        let source = source_text(&cell["source"]);
        count += 1;
        lock(&outputs).current = index;
        let cell_start = Instant::now();
        let outcome = engine.execute(&source, &|_, _| String::new());
        let mut out = lock(&outputs);
        let status = match outcome {
            Outcome::Ok(data) => {
                if !data.is_empty() {
                    out.push(json!({ "output_type": "execute_result", "execution_count": count, "data": data, "metadata": {} }), None);
                }
                "ok"
            }
            Outcome::Error(report) => {
                out.push(json!({ "output_type": "error", "ename": report.ename, "evalue": report.evalue, "traceback": report.traceback }), None);
                failed = true;
                "error"
            }
        };
        eprintln!("tuna: cell {count}/{code_cells} {status} ({:.1} s)", cell_start.elapsed().as_secs_f64());
        notebook["cells"][index]["execution_count"] = json!(count);
        if failed && !allow_errors && !raises_exception(cell) {
            eprintln!("{}", out.cells.get(&index).and_then(|o| o.last()).map(error_text).unwrap_or_default());
            break;
        }
        failed = false;
    }
    let out = lock(&outputs);
    for (index, cell) in notebook["cells"].as_array_mut().into_iter().flatten().enumerate() {
        if cell["cell_type"] == "code" {
            cell["outputs"] = Value::Array(out.cells.get(&index).cloned().unwrap_or_default());
        }
    }
    let metadata = notebook["metadata"].as_object_mut().map(std::mem::take).unwrap_or_default();
    notebook["metadata"] = Value::Object(with_kernel_metadata(metadata));
    let target = output.unwrap_or(input);
    if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(target, serde_json::to_string_pretty(&notebook)? + "\n").with_context(|| format!("writing {}", target.display()))?;
    let images = save_images(&notebook, target)?;
    eprintln!(
        "tuna: wrote {} and {images} image file(s) beside it ({:.1} s in all)",
        target.display(),
        start.elapsed().as_secs_f64()
    );
    Ok(if failed { 1 } else { 0 })
}


/// Writes every SVG and PNG output of `notebook` next to `target` (`NAME-cell3-1.svg`, …), so
/// the plots of a headless run can be looked at without opening the notebook.
fn save_images(notebook: &Value, target: &Path) -> Result<usize> {
    use base64::Engine as _;
    let stem = target.file_stem().and_then(|s| s.to_str()).unwrap_or("notebook");
    let dir = target.parent().unwrap_or(Path::new("."));
    let mut written = 0;
    for (index, cell) in notebook["cells"].as_array().into_iter().flatten().enumerate() {
        for (k, output) in cell["outputs"].as_array().into_iter().flatten().enumerate() {
            let data = &output["data"];
            let (ext, bytes) = if let Some(svg) = data["image/svg+xml"].as_str() {
                ("svg", svg.as_bytes().to_vec())
            } else if let Some(png) = data["image/png"].as_str() {
                let clean: String = png.chars().filter(|c| !c.is_whitespace()).collect();
                match base64::engine::general_purpose::STANDARD.decode(clean) {
                    Ok(bytes) => ("png", bytes),
                    Err(_) => continue,
                }
            } else {
                continue;
            };
            let path = dir.join(format!("{stem}-cell{index}-{k}.{ext}"));
            std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
            written += 1;
        }
    }
    Ok(written)
}

/// A cell's source: nbformat allows a string or a list of lines.
fn source_text(source: &Value) -> String {
    match source {
        Value::Array(lines) => lines.iter().filter_map(Value::as_str).collect(),
        Value::String(s) => s.clone(),
        _ => String::new(),
    }
}

/// Cells tagged `raises-exception` are expected to fail (nbclient's convention).
fn raises_exception(cell: &Value) -> bool {
    cell["metadata"]["tags"].as_array().is_some_and(|tags| tags.iter().any(|t| t == "raises-exception"))
}

fn error_text(output: &Value) -> String {
    let lines: Vec<&str> = output["traceback"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    lines.join("\n")
}

fn with_kernel_metadata(mut metadata: Map<String, Value>) -> Map<String, Value> {
    metadata.insert("kernelspec".into(), json!({ "name": "tuna", "display_name": "Rust (tuna)", "language": "rust" }));
    metadata.insert("language_info".into(), crate::server::kernel_info()["language_info"].clone());
    metadata
}
