"""The kernel through jupyter_client, beyond what jupyter_kernel_test checks: signatures,
stop_on_error, interrupts that keep state, panics, stdin, large outputs, silent execution,
user expressions, history across a restart.

One kernel serves the module (fixture `kernel` in conftest.py, interrupt grace period 3 s);
each test defines the variables it reads, so the tests do not depend on one another. The
grace-period restart and the kernel restart come last, since they reset the notebook's state.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from datetime import datetime
from pathlib import Path

import pytest
import zmq
from jupyter_client.session import Session

from kernel_client import CELL_TIMEOUT, INTERRUPT_GRACE_SECS, REPLY_TIMEOUT, Execution, require_kernelspec, strip_ansi


def is_stream_with(text: str):
    return lambda m: m["msg_type"] == "stream" and text in m["content"]["text"]


def is_display(m) -> bool:
    return m["msg_type"] == "display_data"


def interrupt_when(kernel, code: str, started, what: str, timeout: float = CELL_TIMEOUT) -> Execution:
    """Runs `code`, presses stop once an iopub message satisfies `started` (the cell is then
    surely inside its loop or call), and collects the cell."""
    msg_id = kernel.send_execute(code)
    kernel.wait_iopub(msg_id, started, CELL_TIMEOUT, what)
    kernel.interrupt()
    return kernel.collect(msg_id, timeout)


def assert_interrupted_in_place(ex: Execution) -> None:
    """The cell stopped at an interrupt check, without restarting the process."""
    assert ex.status == "error", ex.describe()
    assert ex.content["ename"] == "Interrupted", ex.describe()
    assert ex.error["ename"] == "Interrupted"
    assert "restarted" not in ex.content["evalue"], f"the process was restarted for a cell that polls: {ex.describe()}"


# -- installation --------------------------------------------------------------------------------


def test_kernelspec_as_installed():
    spec = require_kernelspec()
    assert spec["display_name"] == "Rust (tuna)"
    assert spec["language"] == "rust"
    assert spec["interrupt_mode"] == "message"
    assert Path(spec["argv"][0]).name == "tuna" and spec["argv"][1:] == ["kernel", "-f", "{connection_file}"]
    env = spec["env"]
    # Kernels inherit the server's environment, which rarely has cargo or libtorch on its paths.
    for name in ("PATH", "LD_LIBRARY_PATH", "CARGO_HOME", "RUSTUP_HOME"):
        assert env.get(name), f"the kernelspec's env does not carry {name}: {sorted(env)}"
    cargo = shutil.which("cargo")
    assert cargo and str(Path(cargo).parent) in env["PATH"].split(os.pathsep), env["PATH"]
    assert any(Path(p, "libtorch_cpu.so").exists() for p in env["LD_LIBRARY_PATH"].split(os.pathsep)), env["LD_LIBRARY_PATH"]


# -- execution basics --------------------------------------------------------------------------


def test_execution_count_starts_at_1_and_counts_stored_cells(kernel):
    first = kernel.first
    assert first.execution_count == 1, first.describe()
    assert first.messages[1]["content"]["execution_count"] == 1  # execute_input
    assert first.of_type("execute_result")[0]["execution_count"] == 1
    assert first.result == "2"

    n = kernel.ok("1").execution_count
    kernel.ok("2", store_history=False)
    kernel.ok("3", silent=True)
    assert kernel.ok("4").execution_count == n + 1


def test_busy_and_idle_surround_every_request(kernel):
    requests = {
        "kernel_info": lambda: kernel.kc.kernel_info(),
        "is_complete": lambda: kernel.kc.is_complete("1 + 1"),
        "history": lambda: kernel.kc.history(hist_access_type="tail", n=1),
        "comm_info": lambda: kernel.kc.comm_info(),
        "complete": lambda: kernel.kc.complete("Strin"),
        "inspect": lambda: kernel.kc.inspect("show"),
    }
    for name, send in requests.items():
        reply, messages = kernel.request(send, timeout=CELL_TIMEOUT)
        assert reply["msg_type"] == f"{name}_reply"
        assert [m["msg_type"] for m in messages] == ["status", "status"], f"{name}: {messages}"

    ex = kernel.ok('println!("out");\n6 * 7')
    assert ex.types == ["status", "execute_input", "stream", "execute_result", "status"], ex.types


def test_is_complete_answers_complete_incomplete_and_invalid(kernel):
    expected = {
        "1 + 1": "complete",
        "let s = \"{\";": "complete",
        "fn f() {": "incomplete",
        "let v = vec![1,\n  2": "incomplete",
        'let s = "open': "incomplete",
        "/* open": "incomplete",
        "}": "invalid",
        "let x = (1];": "invalid",
    }
    for code, status in expected.items():
        reply, _ = kernel.request(lambda: kernel.kc.is_complete(code))
        assert reply["content"]["status"] == status, code
        if status == "incomplete":
            assert isinstance(reply["content"].get("indent"), str), reply["content"]


def test_complete_reports_cursor_positions_in_characters(kernel):
    # Non-ASCII text before the cursor: Jupyter counts positions in characters, not bytes.
    code = 'let accents = "ééééé";\nlet completion_after_accents = 1;\ncompletion_after_acc'
    reply, _ = kernel.request(lambda: kernel.kc.complete(code, len(code)), timeout=CELL_TIMEOUT)
    content = reply["content"]
    assert "completion_after_accents" in content["matches"], content
    assert content["cursor_end"] == len(code), content
    assert content["cursor_start"] == len(code) - len("completion_after_acc"), content


def test_inspect_finds_prelude_documentation(kernel):
    reply, _ = kernel.request(lambda: kernel.kc.inspect("show", 2), timeout=CELL_TIMEOUT)
    content = reply["content"]
    assert content["status"] == "ok" and content["found"], content
    assert "fn show" in content["data"]["text/plain"], content


def test_comm_messages_are_tolerated(kernel):
    reply, _ = kernel.request(lambda: kernel.kc.comm_info())
    assert reply["content"] == {"status": "ok", "comms": {}}
    comm_id = uuid.uuid4().hex
    msg = kernel.kc.session.msg("comm_open", {"comm_id": comm_id, "target_name": "no.such.target", "data": {}})
    kernel.kc.shell_channel.send(msg)
    messages = kernel.until_idle(msg["header"]["msg_id"], REPLY_TIMEOUT)
    closes = [m["content"] for m in messages if m["msg_type"] == "comm_close"]
    assert closes and closes[0]["comm_id"] == comm_id, messages
    for msg_type in ("comm_msg", "comm_close"):
        kernel.kc.shell_channel.send(kernel.kc.session.msg(msg_type, {"comm_id": comm_id, "data": {}}))
    assert kernel.ok("40 + 2").result == "42"


# -- signatures --------------------------------------------------------------------------------


def test_wrongly_signed_request_gets_no_reply_and_runs_nothing(kernel, tmp_path):
    """A request signed with another key is dropped; a correctly signed one sent right after on
    the same connection is answered, which proves the first was read (and discarded) first."""
    info = kernel.km.get_connection_info(session=False)
    good = Session(key=kernel.km.session.key, signature_scheme=kernel.km.session.signature_scheme)
    wrong = Session(key=b"not-the-kernel-key", signature_scheme=kernel.km.session.signature_scheme)
    forged_marker = tmp_path / "forged"
    honest_marker = tmp_path / "honest"

    def write(path):
        return f'std::fs::write("{path}", "ran").unwrap();'

    socket = zmq.Context.instance().socket(zmq.DEALER)
    socket.linger = 0
    socket.connect(f"{info['transport']}://{info['ip']}:{info['shell_port']}")
    try:
        forged = wrong.send(socket, "execute_request", _execute_content(write(forged_marker)))
        # A correct key but a tampered content frame: the signature no longer matches.
        tampered = good.msg("execute_request", _execute_content('println!("signed");'))
        tampered_frames = good.serialize(tampered)
        tampered_frames[-1] = tampered_frames[-1].replace(b"signed", b"forged")  # the content frame
        socket.send_multipart(tampered_frames)
        honest = good.send(socket, "execute_request", _execute_content(write(honest_marker)))

        assert socket.poll(CELL_TIMEOUT * 1000), "no reply to the correctly signed request"
        _, reply = good.recv(socket, mode=zmq.NOBLOCK)
        assert reply["parent_header"]["msg_id"] == honest["header"]["msg_id"], reply
        assert reply["content"]["status"] == "ok", reply["content"]
        # Nothing else comes back on this connection.
        assert not socket.poll(1000), "a wrongly signed request got a reply"
    finally:
        socket.close()

    assert honest_marker.exists()
    assert not forged_marker.exists(), "the wrongly signed execute_request ran"
    # And nothing was published on its behalf.
    for msg in (forged, tampered):
        assert not kernel.late_messages(msg["header"]["msg_id"], 0.5)


def _execute_content(code: str) -> dict:
    return {
        "code": code,
        "silent": False,
        "store_history": True,
        "user_expressions": {},
        "allow_stdin": False,
        "stop_on_error": True,
    }


# -- errors ------------------------------------------------------------------------------------


def test_stop_on_error_aborts_the_queue(kernel, tmp_path):
    marker = tmp_path / "ran"
    first = kernel.send_execute('panic!("first cell fails");')
    second = kernel.send_execute(f'std::fs::write("{marker}", "ran").unwrap();')
    third = kernel.send_execute("1 + 1")
    failed = kernel.collect(first)
    assert failed.status == "error", failed.describe()
    for msg_id in (second, third):
        aborted = kernel.collect(msg_id)
        assert aborted.status == "aborted", aborted.describe()
        assert aborted.outputs == [], aborted.describe()
    assert not marker.exists(), "a request queued behind a failed cell ran"
    # The queue is cleared only once: the next request runs.
    assert kernel.ok("2 + 2").result == "4"


def test_stop_on_error_false_keeps_the_queue(kernel):
    first = kernel.send_execute('panic!("fails but does not stop the queue");', stop_on_error=False)
    second = kernel.send_execute("3 + 3")
    assert kernel.collect(first).status == "error"
    assert kernel.collect(second).assert_ok().result == "6"


def test_panic_is_an_error_and_keeps_variables(kernel):
    kernel.ok("let kept_before_panic = vec![1, 2, 3];")
    ex = kernel.execute('println!("about to panic");\npanic!("boom {}", 42);')
    assert ex.status == "error", ex.describe()
    assert ex.content["ename"] == "panic"
    assert "boom 42" in ex.content["evalue"]
    assert ex.stream() == "about to panic\n"
    assert [m["msg_type"] for m in ex.outputs] == ["stream", "error"], ex.types
    assert kernel.ok("kept_before_panic.len()").result == "3"


def test_compile_error_points_at_line_and_column_of_the_cell(kernel):
    ex = kernel.execute('let fine = 1;\nlet bad: u32 = "text";')
    assert ex.status == "error" and ex.content["ename"] == "CompileError", ex.describe()
    assert "cell:2:16" in strip_ansi("\n".join(ex.content["traceback"])), ex.content["traceback"]
    # Columns stay right on a line where the kernel inserted an interrupt check.
    ex = kernel.execute('for i in 0..3 { let y: u8 = "s"; }')
    assert ex.content["ename"] == "CompileError", ex.describe()
    assert "cell:1:29" in strip_ansi("\n".join(ex.content["traceback"])), ex.content["traceback"]


def test_cells_link_the_prelude_as_one_shared_library(kernel):
    """While the prelude is the only dependency, cells link prelude/dylib (libtuna_dylib.so),
    not a copy of the prelude each. tch's generic functions, compiled into the cell, call
    libtorch's C shim directly: those symbols must resolve too."""
    assert kernel.ok('std::fs::read_to_string("/proc/self/maps")?.contains("libtuna_dylib.so")').result == "true"
    kernel.ok("let shared = tch::Tensor::arange(6, (tch::Kind::Float, tch::Device::Cpu)).reshape([2, 3]);")
    assert kernel.ok("shared.sum(tch::Kind::Float).double_value(&[])").result == "15.0"


def test_a_path_dependency_edited_mid_session_is_rebuilt(kernel, tmp_path):
    """Cells run rustc without cargo while nothing cargo checks has changed
    (vendor/evcxr/src/module/direct.rs); an edited path dependency must still be rebuilt.
    Adding it also moves cells from the prelude's dylib to its rlib, which can share
    dependencies with other crates: a tensor made before stays usable."""
    kernel.ok("let before_dep = tch::Tensor::ones([2, 2], (tch::Kind::Float, tch::Device::Cpu));")
    crate = tmp_path / "edited"
    (crate / "src").mkdir(parents=True)
    (crate / "Cargo.toml").write_text('[package]\nname = "edited"\nversion = "0.1.0"\nedition = "2021"\n')
    lib = crate / "src" / "lib.rs"
    lib.write_text("pub fn value() -> i32 { 1 }\n")
    kernel.ok(f':dep edited = {{ path = "{crate}" }}')
    assert kernel.ok("edited::value()").result == "1"
    assert kernel.ok("edited::value() + 10").result == "11"
    lib.write_text("pub fn value() -> i32 { 2 }\n")
    assert kernel.ok("edited::value()").result == "2"
    assert kernel.ok("edited::value() + 10").result == "12"
    assert kernel.ok("before_dep.sum(tch::Kind::Float).double_value(&[]) + edited::value() as f64").result == "6.0"


# -- stdin ----------------------------------------------------------------------------------


def test_input_request_round_trip(kernel):
    msg_id = kernel.send_execute(
        'let name = input("Your name: ");\nlet secret = password("Secret: ");\n'
        'println!("hello {name}");\n(name.len(), secret.len())',
        allow_stdin=True,
    )
    # Answer both requests before asserting anything: a cell left waiting for input would
    # block every later test.
    requests = []
    for answer in ("tuna", "hunter22"):
        requests.append(kernel.wait_stdin(msg_id, CELL_TIMEOUT))
        kernel.kc.input(answer)
    ex = kernel.collect(msg_id).assert_ok()
    assert "hello tuna" in ex.stream(), ex.describe()
    assert ex.result == "(4, 8)"
    assert [r["msg_type"] for r in requests] == ["input_request", "input_request"]
    assert [bool(r["content"]["password"]) for r in requests] == [False, True]
    assert [r["content"]["prompt"] for r in requests] == ["Your name: ", "Secret: "]


def test_input_without_stdin_does_not_block(kernel):
    ex = kernel.ok('input("nobody answers: ").len()', allow_stdin=False)
    assert ex.result == "0"


# -- output ----------------------------------------------------------------------------------


def test_twenty_thousand_lines_arrive_whole_before_idle(kernel):
    ex = kernel.ok('for i in 0..20_000 {\n    println!("line {i}");\n}')
    assert ex.stream() == "".join(f"line {i}\n" for i in range(20_000))
    streams = ex.of_type("stream")
    assert len(streams) <= 1000, f"{len(streams)} stream messages for 20,000 lines: not batched"
    assert not kernel.late_messages(ex.msg_id, 1.0), "output arrived after idle"


def test_eight_megabytes_arrive_whole_before_idle(kernel):
    ex = kernel.ok('for i in 0..8192 {\n    println!("{i:06} {}", "y".repeat(1016));\n}')
    text = ex.stream()
    assert len(text) == 8 * 1024 * 1024, len(text)
    assert text == "".join(f"{i:06} {'y' * 1016}\n" for i in range(8192))
    assert not kernel.late_messages(ex.msg_id, 1.0), "output arrived after idle"


def test_one_eight_megabyte_line_arrives_whole(kernel):
    ex = kernel.ok('let big = "z".repeat(8 * 1024 * 1024);\nprintln!("{big}");')
    text = ex.stream()
    assert len(text) == 8 * 1024 * 1024 + 1, len(text)
    assert text == "z" * (8 * 1024 * 1024) + "\n"


def test_silent_execution_publishes_nothing(kernel):
    n = kernel.ok("1").execution_count
    ex = kernel.execute('println!("loud?");\neprintln!("loud?");\nshow(&Html::new("<b>loud?</b>"));\n42', silent=True)
    assert ex.status == "ok", ex.describe()
    assert ex.types == ["status", "status"], f"a silent execution published {ex.types}"
    ex = kernel.execute('let silent_error: u32 = "x";', silent=True)
    assert ex.status == "error"
    assert ex.types == ["status", "status"], f"a silent execution published {ex.types}"
    assert kernel.ok("2").execution_count == n + 1


def test_user_expressions_are_evaluated(kernel):
    ex = kernel.ok(
        "let ue_base = 20;",
        user_expressions={"double": "ue_base * 2 + 2", "broken": "ue_missing + 1"},
    )
    results = ex.content["user_expressions"]
    assert results["double"]["status"] == "ok", results
    assert results["double"]["data"]["text/plain"] == "42"
    assert results["broken"]["status"] == "error", results
    assert results["broken"]["ename"] == "CompileError"
    assert ex.outputs == [], "user expressions must not publish output"


def test_display_updates_are_coalesced_and_end_on_the_last_value(kernel):
    ex = kernel.ok(
        'let h = show(&Text("0".to_string()));\n'
        "for i in 1..=1000 {\n    h.update(&Text(i.to_string()));\n"
        "    std::thread::sleep(std::time::Duration::from_micros(500));\n}"
    )
    (display,) = ex.of_type("display_data")
    display_id = display["transient"]["display_id"]
    updates = [m for m in ex.messages if m["msg_type"] == "update_display_data"]
    assert updates, ex.types
    assert all(u["content"]["transient"]["display_id"] == display_id for u in updates)
    assert updates[-1]["content"]["data"]["text/plain"] == "1000"
    # At most ten a second: 100 ms between two updates as the kernel stamped them, except the
    # final one, which is sent when the cell ends.
    dates = [_date(u) for u in updates[:-1]]
    gaps = [(b - a).total_seconds() for a, b in zip(dates, dates[1:])]
    assert all(g >= 0.08 for g in gaps), gaps
    assert len(updates) < 1000


def _date(msg) -> datetime:
    date = msg["header"]["date"]
    return date if isinstance(date, datetime) else datetime.fromisoformat(date)


# -- interrupts --------------------------------------------------------------------------------


def test_interrupting_a_prelude_loop_ends_it_cleanly(kernel):
    """`progress` as an iterator (no `for` the kernel could add a check to): the loop ends at
    the interrupt and the rest of the cell runs."""
    kernel.ok("let kept_before_progress = 41u64;")
    code = "let total: u64 = progress(0..u64::MAX).map(|i| i % 7).sum();\n" 'println!("after the loop");\n' "total > 0"
    ex = interrupt_when(kernel, code, is_display, "progress bar").assert_ok()
    assert ex.stream() == "after the loop\n", ex.describe()
    assert ex.result == "true"
    bars = [m["content"]["data"]["text/html"] for m in ex.messages if m["msg_type"] in ("display_data", "update_display_data")]
    assert "(interrupted)" in bars[-1], bars[-1]
    assert kernel.ok("kept_before_progress + (total > 0) as u64").result == "42"


def test_interrupting_a_for_loop_over_progress_keeps_variables(kernel):
    kernel.ok("let kept_before_for_progress = 41u64;")
    code = "let mut seen = 0u64;\nfor i in progress(0..u64::MAX) {\n    seen = seen.wrapping_add(i);\n}\n" 'println!("loop ended");'
    ex = interrupt_when(kernel, code, is_display, "progress bar")
    # Either the progress iterator ends the loop (the cell finishes) or the check the kernel put
    # in the loop body stops the cell first: both keep the notebook's state.
    if ex.status == "ok":
        assert ex.stream() == "loop ended\n", ex.describe()
    else:
        assert_interrupted_in_place(ex)
    assert kernel.ok("kept_before_for_progress + 1").result == "42"


def test_interrupting_a_tight_loop_that_never_polls(kernel):
    kernel.ok("let kept_before_spin = 7u64;")
    code = 'println!("spinning");\nlet mut x = 0u64;\nloop { x = x.wrapping_add(1); }'
    ex = interrupt_when(kernel, code, is_stream_with("spinning"), "the line printed before the loop")
    assert_interrupted_in_place(ex)
    assert [m["msg_type"] for m in ex.outputs] == ["stream", "error"], ex.types
    assert kernel.ok("kept_before_spin * 6").result == "42"


def test_interrupting_a_loop_in_a_function_defined_in_the_cell(kernel):
    kernel.ok("let kept_before_fn_loop = 2u64;")
    code = (
        "fn spin_forever() -> u64 {\n    let mut n = 0u64;\n    while n != u64::MAX { n = n.wrapping_add(2); }\n    n\n}\n"
        'println!("calling");\nspin_forever()'
    )
    assert_interrupted_in_place(interrupt_when(kernel, code, is_stream_with("calling"), "the line printed before the call"))
    assert kernel.ok("kept_before_fn_loop * 21").result == "42"


def test_interrupt_when_idle_is_harmless(kernel):
    kernel.interrupt()
    assert kernel.ok("let after_idle_interrupt = 1;\nafter_idle_interrupt").result == "1"


def test_a_call_that_never_returns_is_stopped_by_restarting_the_process(kernel):
    kernel.ok("let kept_before_sleep = 5u64;\nfn survives_restart(x: u64) -> u64 { x * 3 }")
    code = 'println!("sleeping");\nstd::thread::sleep(std::time::Duration::from_secs(600));'
    ex = interrupt_when(kernel, code, is_stream_with("sleeping"), "the line printed before the sleep", timeout=float(INTERRUPT_GRACE_SECS) + CELL_TIMEOUT)
    assert ex.status == "error", ex.describe()
    assert ex.content["ename"] == "Interrupted", ex.describe()
    evalue = ex.content["evalue"]
    # It says plainly what was lost and what was kept.
    assert "restarted" in evalue, evalue
    assert re.search(r"Lost:[^\n]*kept_before_sleep", evalue), evalue
    assert re.search(r"Kept:[^\n]*functions", evalue), evalue
    # ... and that is what happened: the function is still there, the variable is not.
    assert kernel.ok("survives_restart(14)").result == "42"
    lost = kernel.execute("kept_before_sleep")
    assert lost.status == "error" and lost.content["ename"] == "CompileError", lost.describe()
    # The prelude is still loaded in the new process.
    assert kernel.ok('show(&Html::new("<i>after the restart</i>"));').of_type("display_data")


# -- restart and history -----------------------------------------------------------------------


def test_restart_keeps_history_and_runs_new_cells(kernel):
    codes = ["let history_a = 1;", "history_a + 1", "history_a + 1", "history_a * 10"]
    counts = [kernel.ok(code).execution_count for code in codes]
    kernel.ok("let history_silent = 1;", silent=True)
    kernel.ok("let history_unstored = 1;", store_history=False)
    tail = _history(kernel, hist_access_type="tail", n=4)
    assert [h[2] for h in tail] == codes
    assert [h[1] for h in tail] == counts
    session = tail[0][0]
    assert {h[0] for h in tail} == {session}

    kernel.restart()
    first = kernel.warm_up("let history_d = 4;")
    assert first.assert_ok().execution_count == 1, "execution_count restarts at 1 in a new kernel"
    gone = kernel.execute("history_a")
    assert gone.content["ename"] == "CompileError", "a restarted kernel still had an old variable"
    assert kernel.ok("history_d * 10").result == "40"

    tail = _history(kernel, hist_access_type="tail", n=7)
    assert [h[2] for h in tail] == codes + ["let history_d = 4;", "history_a", "history_d * 10"]
    assert [h[0] for h in tail] == [session] * 4 + [session + 1] * 3
    assert [h[1] for h in tail[4:]] == [1, 2, 3]
    # With output: [input, output] pairs.
    with_output = _history(kernel, hist_access_type="tail", n=1, output=True)
    assert with_output[0][2][0] == "history_d * 10"

    # range: absolute and relative (negative) session numbers, stop exclusive.
    assert [h[2] for h in _history(kernel, hist_access_type="range", session=session, start=counts[0], stop=counts[0] + 2)] == codes[:2]
    assert [h[2] for h in _history(kernel, hist_access_type="range", session=-1, start=counts[3], stop=counts[3] + 1)] == codes[3:]
    assert [h[2] for h in _history(kernel, hist_access_type="range", session=0, start=1, stop=2)] == ["let history_d = 4;"]

    # search: a glob over the whole input, with n (the last n) and unique.
    search = lambda **kw: [h[2] for h in _history(kernel, hist_access_type="search", **kw)]  # noqa: E731
    assert search(pattern="history_a*") == ["history_a + 1", "history_a + 1", "history_a * 10", "history_a"]
    assert search(pattern="history_a*", n=2) == ["history_a * 10", "history_a"]
    assert search(pattern="history_a +*", unique=True) == ["history_a + 1"]
    assert search(pattern="*history_a*", n=2, unique=True) == ["history_a * 10", "history_a"]
    assert search(pattern="*history_silent*") == []
    assert search(pattern="*history_unstored*") == []


def _history(kernel, **kwargs):
    kwargs.setdefault("output", False)
    reply, _ = kernel.request(lambda: kernel.kc.history(raw=True, **kwargs))
    assert reply["content"]["status"] == "ok", reply["content"]
    return reply["content"]["history"]


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
