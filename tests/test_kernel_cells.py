"""What a cell's code makes of the kernel: an error returned through `?` is the cell's error,
new variables are named by rustc (rust-analyzer switched off here), evcxr's display protocol
printed mid-cell shows at once, history search with `n`, and a cell that aborts the process.

The module's kernel runs with `TUNA_RUST_ANALYZER=0`: nothing in it may wait for, or depend on,
rust-analyzer (which would otherwise take 13-19 s to answer the first `let` after a start).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from kernel_client import (
    FIRST_CELL_TIMEOUT,
    INTERRUPT_GRACE_SECS,
    KERNEL_NAME,
    STARTUP_TIMEOUT,
    Kernel,
    kernel_env,
    strip_ansi,
    tuna_binary,
)


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    directory = tmp_path_factory.mktemp("kernel")
    k = Kernel.start(directory, TUNA_INTERRUPT_GRACE_SECS=INTERRUPT_GRACE_SECS, TUNA_RUST_ANALYZER="0")
    try:
        k.warm_up()
        yield k
    finally:
        k.shutdown()


def traceback_text(ex) -> str:
    return strip_ansi("\n".join(ex.content["traceback"]))


# -- errors through `?` ------------------------------------------------------------------------


def test_question_mark_on_a_std_error_is_the_cells_error(kernel):
    kernel.ok("let kept_before_error = 7;")
    ex = kernel.execute('println!("before");\nlet x: i32 = "abc".parse()?;\nprintln!("never");')
    assert ex.status == "error", ex.describe()
    assert ex.content["ename"] == "ParseIntError", ex.content
    assert ex.content["evalue"] == "invalid digit found in string"
    assert "cell:2" in traceback_text(ex) and '"abc".parse()?' in traceback_text(ex), traceback_text(ex)
    # One error message on iopub, after the text printed before it; nothing on stderr.
    assert [m["msg_type"] for m in ex.outputs] == ["stream", "error"], ex.types
    assert ex.stream() == "before\n" and ex.stream("stderr") == ""
    assert kernel.ok("kept_before_error * 6").result == "42"


def test_question_mark_on_a_tuna_error_names_its_variant_and_causes(kernel, tmp_path):
    missing = tmp_path / "missing.json"
    ex = kernel.execute(f'let tokenizer = Tokenizer::from_file("{missing}")?;')
    assert ex.status == "error", ex.describe()
    assert ex.content["ename"] == "tuna::Error::Io", ex.content
    assert str(missing) in ex.content["evalue"], ex.content
    # The cause (the OS error) is part of the message.
    assert "No such file" in ex.content["evalue"] or "os error" in ex.content["evalue"], ex.content


def test_question_mark_on_an_anyhow_style_error_and_the_queue_is_aborted(kernel, tmp_path):
    marker = tmp_path / "ran"
    first = kernel.send_execute('let n = 1;\nErr::<(), _>(Error::msg("custom failure"))?;')
    second = kernel.send_execute(f'std::fs::write("{marker}", "ran").unwrap();')
    failed = kernel.collect(first)
    assert failed.status == "error" and "custom failure" in failed.content["evalue"], failed.describe()
    assert kernel.collect(second).status == "aborted"
    assert not marker.exists()


def test_tuna_run_stops_at_a_failing_cell_and_nbclient_raises(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": KERNEL_NAME, "display_name": "Rust (tuna)", "language": "rust"}
    nb.cells = [
        nbformat.v4.new_code_cell("let a = 1;"),
        nbformat.v4.new_code_cell("let b = a + 1;"),
        nbformat.v4.new_code_cell('let c: i32 = "three".parse()?;'),
        nbformat.v4.new_code_cell(f'std::fs::write("{tmp_path / "ran"}", "ran").unwrap();'),
    ]
    path = tmp_path / "fails.ipynb"
    nbformat.write(nb, path)
    proc = subprocess.run(
        [tuna_binary(), "run", str(path), "-o", str(tmp_path / "out.ipynb")],
        cwd=tmp_path, env=kernel_env(tmp_path), capture_output=True, text=True, timeout=FIRST_CELL_TIMEOUT,
    )
    assert proc.returncode != 0, proc.stderr
    assert "ParseIntError" in proc.stderr and "cell 3" in proc.stderr.lower(), proc.stderr
    assert not (tmp_path / "ran").exists(), "tuna run went on after the failing cell"

    client = NotebookClient(nbformat.read(path, as_version=4), kernel_name=KERNEL_NAME,
                            timeout=FIRST_CELL_TIMEOUT, startup_timeout=STARTUP_TIMEOUT)
    with pytest.raises(CellExecutionError, match="ParseIntError"):
        client.execute(env=kernel_env(tmp_path))


# -- variables named by rustc ------------------------------------------------------------------


@pytest.mark.parametrize("notebook", ["five-lets", "00-tour"])
def test_restart_and_run_all_needs_no_rust_analyzer(tmp_path, notebook):
    """"Restart and Run All" as `tuna run` does it, with rust-analyzer switched off: a cell that
    needed it would fail, not wait."""
    if notebook == "five-lets":
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell(c) for c in [
            "let a = 1;", 'let b = vec!["x".to_string()];', "let c = Tensor::ones([2, 2], (Kind::Float, Device::Cpu));",
            "let d = std::collections::BTreeMap::from([(1, a)]);", "let e = (b.len(), c.numel(), d[&1]);", "e",
        ]]
        path = tmp_path / "five-lets.ipynb"
        nbformat.write(nb, path)
    else:
        path = Path(__file__).resolve().parent.parent / "notebooks" / "00-tour.ipynb"
    out = tmp_path / "out.ipynb"
    proc = subprocess.run(
        [tuna_binary(), "run", str(path), "-o", str(out)],
        cwd=tmp_path, env=kernel_env(tmp_path, TUNA_RUST_ANALYZER="0"), capture_output=True, text=True,
        timeout=FIRST_CELL_TIMEOUT,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    if notebook == "five-lets":
        last = nbformat.read(out, as_version=4).cells[-1].outputs[0]
        assert last["data"]["text/plain"] == "(1, 4, 1)", last


VARIABLES = [
    # (defining cell, using cell, expected text/plain of the using cell)
    ('let pairs_annotated: Vec<(String, f32)> = vec![("a".into(), 1.5)];', "pairs_annotated[0].1", "1.5"),
    ('let pairs = vec![("a".to_string(), 2.5f32)];', "pairs[0].0.len() as f32 + pairs[0].1", "3.5"),
    ("let t = tch::Tensor::from_slice(&[1i64, 2, 3]);", "t.size()", "[3]"),
    ('let tok = Tokenizer::train_wordpiece(&["hello world", "hello there"], 40)?;', "tok.vocab_size() > 5", "true"),
    ("let bert_config = BertConfig::tiny();", "bert_config.hidden_size", "64"),
    ("struct Point { x: i32 }\nlet point = Point { x: 4 };", "point.x * 2", "8"),
    ('let map = std::collections::HashMap::from([("k".to_string(), 3)]);', 'map["k"]', "3"),
    ("let shared = std::rc::Rc::new(std::cell::RefCell::new(1u8));", "{ *shared.borrow_mut() += 1; *shared.borrow() }", "2"),
    ("let chain = (0..3u8).rev().take(2).chain(7..8);", "chain.collect::<Vec<_>>()", "[2, 1, 7]"),
    ('let greeting = "hi";', "greeting.len()", "2"),
    ("let n = 5;", "n.pow(2)", "25"),
    ("let m = 5;\nlet small: u8 = m;", "m.checked_add(251)", "None"),
    ("let double: Box<dyn Fn(i32) -> i32> = Box::new(|x| x * 2);", "double(21)", "42"),
    # Every kind of pattern a top-level `let` binds names with.
    ("let [first_part, second_part] = [vec![1u8], vec![2, 3]];", "first_part.len() + second_part.len()", "3"),
    ('let (count, (name, Some(score))) = (2usize, ("x", Some(0.5f32))) else { panic!() };', "(count, name, score)", '(2, "x", 0.5)'),
    ("let &borrowed_copy = &7u16;", "borrowed_copy + 1", "8"),
    ("let (parenthesised) = 9i64;", "parenthesised * 2", "18"),
]


@pytest.mark.parametrize("define,use,expected", VARIABLES, ids=[v[0].split("=")[0][4:].strip() for v in VARIABLES])
def test_each_kind_of_variable_is_usable_in_the_next_cell(kernel, define, use, expected):
    kernel.ok(define)
    assert kernel.ok(use).result == expected


def test_a_trainer_variable_survives_to_the_next_cell(kernel):
    kernel.ok(
        "let mut vit_config = ViTConfig::tiny();\nvit_config.set_num_labels(4);\n"
        "let trainer = Trainer::new(ViTForImageClassification::new(vit_config)?, ImageBatch::default()).batch_size(16);"
    )
    assert kernel.ok("let trainer = trainer.lr(1e-3); 1").result == "1"


@pytest.mark.parametrize("code,says", [
    ("let add_one = |x: i32| x + 1;", "closure"),
    ("fn numbers() -> impl Iterator<Item = i32> { 0..3 }\nlet it = numbers();", "cannot be persisted"),
    ("let owned = 5;\nlet borrowed = &owned;", "owned"),
])
def test_unstorable_variables_are_refused_before_the_cell_runs(kernel, tmp_path, code, says):
    marker = tmp_path / "ran"
    ex = kernel.execute(f'std::fs::write("{marker}", "ran").unwrap();\n{code}')
    assert ex.status == "error", ex.describe()
    assert says in ex.content["evalue"] + traceback_text(ex), ex.describe()
    assert not marker.exists(), "the cell ran although its variable could not be stored"


# -- evcxr's display protocol ------------------------------------------------------------------


def test_content_blocks_printed_mid_cell_are_display_data_in_order(kernel):
    ex = kernel.ok(
        'println!("before");\n'
        'println!("EVCXR_BEGIN_CONTENT text/html\\n<b>first</b>\\nEVCXR_END_CONTENT");\n'
        'println!("between");\n'
        'for i in 0..2 { println!("EVCXR_BEGIN_CONTENT text/plain\\nplot {i}\\nEVCXR_END_CONTENT"); }\n'
        'println!("after");\n'
        '"the value"'
    )
    kinds = [(m["msg_type"], m["content"].get("text") or json.dumps(m["content"].get("data"))) for m in ex.outputs]
    types = [k for k, _ in kinds]
    assert types == ["stream", "display_data", "stream", "display_data", "display_data", "stream", "execute_result"], kinds
    assert ex.outputs[1]["content"]["data"] == {"text/html": "<b>first</b>"}
    assert [m["content"]["data"]["text/plain"] for m in ex.outputs[3:5]] == ["plot 0", "plot 1"]
    assert ex.result == '"the value"'


def test_plotters_evcxr_figure_through_a_dep(kernel):
    kernel.ok(':dep plotters = { version = "0.3.7", default-features = false, features = ["evcxr", "line_series"] }', timeout=900)
    ex = kernel.ok(
        "use plotters::prelude::*;\n"
        "for k in 1..=2 {\n"
        "    let figure = evcxr_figure((200, 100), |root| {\n"
        "        let mut chart = ChartBuilder::on(&root).build_cartesian_2d(0f32..1f32, 0f32..2f32)?;\n"
        "        chart.draw_series(LineSeries::new((0..10).map(|x| (x as f32 / 10.0, k as f32 * x as f32 / 10.0)), &RED))?;\n"
        "        Ok(())\n"
        "    });\n"
        "    figure.evcxr_display();\n"
        '    println!("drew {k}");\n'
        "}",
        timeout=900,
    )
    # (The first compile after the `:dep` may say on stderr what it built.)
    shown = [m for m in ex.outputs if m["msg_type"] == "display_data" or m["content"].get("name") == "stdout"]
    assert [m["msg_type"] for m in shown] == ["display_data", "stream", "display_data", "stream"], ex.describe()
    assert [m["content"]["text"] for m in shown[1::2]] == ["drew 1\n", "drew 2\n"]
    svgs = [m["content"]["data"]["text/html"] for m in shown[::2]]
    assert all("<svg" in svg for svg in svgs) and svgs[0] != svgs[1]


# -- history -----------------------------------------------------------------------------------


def test_history_search_with_n_returns_the_last_n_matches(kernel):
    for _ in range(3):
        kernel.ok("let searched_for = 3;")
    reply, _ = kernel.request(lambda: kernel.kc.history(raw=True, output=False, hist_access_type="search", pattern="let searched_for*", n=3))
    assert [h[2] for h in reply["content"]["history"]] == ["let searched_for = 3;"] * 3
    reply, _ = kernel.request(lambda: kernel.kc.history(raw=True, output=False, hist_access_type="search", pattern="let searched_for*", n=3, unique=True))
    assert [h[2] for h in reply["content"]["history"]] == ["let searched_for = 3;"]


# -- a cell that aborts the process (last: it loses the notebook's variables) --------------------


def test_the_cell_after_an_abort_runs_on_the_restarted_process(kernel):
    for attempt in range(50):
        aborted = kernel.send_execute("std::process::abort();", stop_on_error=False)
        after = kernel.send_execute(f"{attempt} + 1")
        died = kernel.collect(aborted)
        assert died.status == "error" and died.content["ename"] == "ProcessDied", died.describe()
        ran = kernel.collect(after)
        assert ran.status == "ok" and ran.result == str(attempt + 1), f"attempt {attempt}: {ran.describe()}"
