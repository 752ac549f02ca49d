"""A thin layer over jupyter_client for the kernel tests: start the installed `tuna` kernel,
send requests, and collect every iopub message a request causes, from its `busy` to its `idle`.

Messages are filed by the request that caused them (the parent `msg_id`), so a test can send
several requests at once, wait for one particular output of a running cell (to interrupt it at
the right moment), and collect each request's messages afterwards. Nothing here sleeps to
synchronise: every wait is for a message, bounded by a timeout that fails the test with what
did arrive.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import struct
import time
import zlib
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest
from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
from jupyter_client.manager import KernelManager

KERNEL_NAME = "tuna"
#: The first cell of a kernel waits for the prelude to load; with a cold build cache that
#: compiles libtorch's bindings (minutes).
FIRST_CELL_TIMEOUT = 900
#: Any later cell: compiling a cell takes 0.5-5 s on this machine, more when it is busy.
CELL_TIMEOUT = 180
#: Requests that need no compilation (kernel_info, history, is_complete, ...).
REPLY_TIMEOUT = 60
#: Starting the kernel process until it answers kernel_info.
STARTUP_TIMEOUT = 120
#: How long an interrupted cell gets before its process is restarted, for the module kernels:
#: short, so that the test of a call that never returns does not wait the default 5 s, and
#: still far longer than a loop needs to notice an interrupt.
INTERRUPT_GRACE_SECS = "3"

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def strip_ansi(text: str) -> str:
    return ANSI.sub("", text)


def require_kernelspec() -> dict[str, Any]:
    """The installed kernelspec `tuna`; fails (not skips) the test when it is missing."""
    try:
        spec = KernelSpecManager().get_kernel_spec(KERNEL_NAME)
    except NoSuchKernel:
        pytest.fail(
            "the Jupyter kernelspec `tuna` is not installed: run `. scripts/env.sh && tuna install --sys-prefix`"
        )
    return spec.to_dict()


def tuna_binary() -> str:
    """The `tuna` binary on PATH (scripts/env.sh puts the release build there)."""
    path = shutil.which("tuna")
    if not path:
        pytest.fail("no `tuna` binary on PATH: build it (`cargo build --release`) and source scripts/env.sh")
    return path


def kernel_env(directory: Path, **extra: str) -> dict[str, str]:
    """The environment for a kernel under test: ours, with a history file of its own."""
    env = dict(os.environ)
    env["TUNA_HISTORY_FILE"] = str(directory / "history.jsonl")
    env.update(extra)
    return env


@dataclass
class Execution:
    """One execute_request: its reply and every iopub message it caused, busy to idle."""

    msg_id: str
    reply: dict[str, Any]
    messages: list[dict[str, Any]]

    @property
    def content(self) -> dict[str, Any]:
        return self.reply["content"]

    @property
    def status(self) -> str:
        return self.content["status"]

    @property
    def execution_count(self) -> int:
        return self.content["execution_count"]

    @property
    def types(self) -> list[str]:
        return [m["msg_type"] for m in self.messages]

    @property
    def outputs(self) -> list[dict[str, Any]]:
        """The messages between busy and idle other than status and execute_input."""
        return [m for m in self.messages if m["msg_type"] not in ("status", "execute_input")]

    def of_type(self, msg_type: str) -> list[dict[str, Any]]:
        return [m["content"] for m in self.messages if m["msg_type"] == msg_type]

    def stream(self, name: str = "stdout") -> str:
        return "".join(c["text"] for c in self.of_type("stream") if c["name"] == name)

    @property
    def result(self) -> str | None:
        """The text/plain of the execute_result, if there is one."""
        results = self.of_type("execute_result")
        return results[0]["data"].get("text/plain") if results else None

    @property
    def error(self) -> dict[str, Any]:
        errors = self.of_type("error")
        assert len(errors) == 1, f"expected one `error` message, got {self.types}"
        return errors[0]

    def describe(self) -> str:
        """For assertion messages: the reply and a summary of the outputs."""
        parts = [f"reply={self.content}"]
        for m in self.outputs:
            c = m["content"]
            if m["msg_type"] == "stream":
                parts.append(f"stream[{c['name']}]={c['text'][:300]!r}")
            elif m["msg_type"] == "error":
                parts.append(f"error={c['ename']}: {c['evalue'][:500]!r}")
            else:
                parts.append(f"{m['msg_type']}={str(c)[:300]}")
        return "\n  ".join(parts)

    def assert_ok(self) -> "Execution":
        assert self.status == "ok", self.describe()
        return self


class Kernel:
    """A started kernel and a blocking client connected to it."""

    def __init__(self, km: KernelManager, kc, name: str = "") -> None:
        self.km = km
        self.kc = kc
        self.name = name
        self._iopub: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self._replies: dict[str, dict[str, Any]] = {}
        self._stdin: dict[str, list[dict[str, Any]]] = defaultdict(list)
        #: iopub messages without a parent (iopub_welcome).
        self.unparented: list[dict[str, Any]] = []
        #: The first cell's execution (set by the fixture that warms the kernel up).
        self.first: Execution | None = None

    # -- starting and stopping ---------------------------------------------------------------

    @classmethod
    def start(cls, directory: Path, spec_dirs: list[str] | None = None, env: dict[str, str] | None = None,
              **extra_env: str) -> "Kernel":
        """Starts the kernelspec `tuna` Jupyter finds, or the one in `spec_dirs` (a folder of
        kernelspecs, e.g. another venv's share/jupyter/kernels), with `env` (default: ours)."""
        if spec_dirs is None:
            require_kernelspec()
            km = KernelManager(kernel_name=KERNEL_NAME)
        else:
            km = KernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=KernelSpecManager(kernel_dirs=spec_dirs))
        env = dict(os.environ if env is None else env)
        env["TUNA_HISTORY_FILE"] = str(directory / "history.jsonl")
        env.update(extra_env)
        km.start_kernel(env=env)
        kc = km.client()
        kc.start_channels()
        try:
            kc.wait_for_ready(timeout=STARTUP_TIMEOUT)
        except Exception:
            kc.stop_channels()
            km.shutdown_kernel(now=True)
            raise
        return cls(km, kc)

    def warm_up(self, code: str = "1 + 1") -> Execution:
        """Runs the first cell, which waits for the prelude to load."""
        self.first = self.execute(code, timeout=FIRST_CELL_TIMEOUT)
        # The kernel tells why the prelude did not load with the first cell's output; every
        # later test would fail in confusing ways, so say it here.
        assert "prelude could not be loaded" not in self.first.stream("stderr"), self.first.stream("stderr")
        return self.first

    def restart(self) -> None:
        """Restarts the kernel process the way a front end's restart button does."""
        self.km.restart_kernel(now=False)
        self.kc.wait_for_ready(timeout=STARTUP_TIMEOUT)
        self._iopub.clear()
        self._replies.clear()

    def shutdown(self) -> None:
        self.kc.stop_channels()
        try:
            self.km.shutdown_kernel(now=False)
        except Exception:
            self.km.shutdown_kernel(now=True)

    # -- reading messages --------------------------------------------------------------------

    def _read(self, channel: str, deadline: float) -> None:
        """Reads one message from `channel` and files it by parent; queue.Empty at the deadline."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise queue.Empty
        if channel == "iopub":
            msg = self.kc.get_iopub_msg(timeout=remaining)
        elif channel == "shell":
            msg = self.kc.get_shell_msg(timeout=remaining)
        else:
            msg = self.kc.get_stdin_msg(timeout=remaining)
        parent = msg["parent_header"].get("msg_id")
        if channel == "iopub":
            if parent:
                self._iopub[parent].append(msg)
            else:
                self.unparented.append(msg)
        elif channel == "shell":
            self._replies[parent] = msg
        else:
            self._stdin[parent].append(msg)

    def wait_iopub(
        self, msg_id: str, predicate: Callable[[dict[str, Any]], bool], timeout: float, what: str
    ) -> dict[str, Any]:
        """The first iopub message of `msg_id` that satisfies `predicate` (kept for collect)."""
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            messages = self._iopub[msg_id]
            for msg in messages[seen:]:
                if predicate(msg):
                    return msg
            seen = len(messages)
            try:
                self._read("iopub", deadline)
            except queue.Empty:
                types = [m["msg_type"] for m in self._iopub[msg_id]]
                pytest.fail(f"{self.name}: no {what} within {timeout} s; iopub messages so far: {types}")

    def wait_reply(self, msg_id: str, timeout: float = REPLY_TIMEOUT) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while msg_id not in self._replies:
            try:
                self._read("shell", deadline)
            except queue.Empty:
                pytest.fail(f"{self.name}: no shell reply to {msg_id} within {timeout} s")
        return self._replies.pop(msg_id)

    def wait_stdin(self, msg_id: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while not self._stdin[msg_id]:
            try:
                self._read("stdin", deadline)
            except queue.Empty:
                pytest.fail(f"{self.name}: no stdin request for {msg_id} within {timeout} s")
        return self._stdin[msg_id].pop(0)

    def until_idle(self, msg_id: str, timeout: float) -> list[dict[str, Any]]:
        """Every iopub message of `msg_id` up to its idle status, checked to start with busy."""
        self.wait_iopub(
            msg_id,
            lambda m: m["msg_type"] == "status" and m["content"]["execution_state"] == "idle",
            timeout,
            "idle status",
        )
        messages = self._iopub.pop(msg_id)
        types = [m["msg_type"] for m in messages]
        assert messages[0]["msg_type"] == "status" and messages[0]["content"]["execution_state"] == "busy", (
            f"the first iopub message of a request must be status busy, got {types}"
        )
        idle = [i for i, m in enumerate(messages) if m["msg_type"] == "status" and m["content"]["execution_state"] == "idle"]
        assert idle == [len(messages) - 1], f"idle must come last, once: {types}"
        return messages

    def late_messages(self, msg_id: str, seconds: float) -> list[dict[str, Any]]:
        """iopub messages of `msg_id` that arrive within `seconds` after it was collected: there
        should be none (a front end stops listening to a request at its idle)."""
        deadline = time.monotonic() + seconds
        while True:
            try:
                self._read("iopub", deadline)
            except queue.Empty:
                return self._iopub.pop(msg_id, [])

    # -- requests ----------------------------------------------------------------------------

    def send_execute(self, code: str, **kwargs: Any) -> str:
        return self.kc.execute(code, **kwargs)

    def collect(self, msg_id: str, timeout: float = CELL_TIMEOUT) -> Execution:
        """Waits for the request's idle, then its reply, and checks the envelope: busy first,
        execute_input (when not silent) next, idle last."""
        messages = self.until_idle(msg_id, timeout)
        reply = self.wait_reply(msg_id, REPLY_TIMEOUT)
        return Execution(msg_id, reply, messages)

    def execute(self, code: str, timeout: float = CELL_TIMEOUT, **kwargs: Any) -> Execution:
        msg_id = self.send_execute(code, **kwargs)
        ex = self.collect(msg_id, timeout)
        if not kwargs.get("silent", False):
            assert ex.types[1] == "execute_input", f"execute_input must follow busy: {ex.types}"
            assert ex.messages[1]["content"]["code"] == code
        return ex

    def ok(self, code: str, timeout: float = CELL_TIMEOUT, **kwargs: Any) -> Execution:
        """Executes `code` and asserts it succeeded."""
        return self.execute(code, timeout, **kwargs).assert_ok()

    def request(self, send: Callable[[], str], timeout: float = REPLY_TIMEOUT) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Sends a non-execute request with `send` (returning its msg_id); its reply and its
        iopub messages (busy ... idle)."""
        msg_id = send()
        reply = self.wait_reply(msg_id, timeout)
        messages = self.until_idle(msg_id, timeout)
        return reply, messages

    def interrupt(self) -> None:
        """The stop button: an interrupt_request on the control channel (interrupt_mode message)."""
        self.km.interrupt_kernel()


def tiny_png(rgba: tuple[int, int, int, int] = (0, 128, 128, 255)) -> bytes:
    """A valid 1×1 PNG of one colour: signature, IHDR, IDAT, IEND with their CRCs."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 6, 0, 0, 0)  # 1×1, 8-bit RGBA
    idat = zlib.compress(bytes([0, *rgba]))  # one scanline: filter 0, then the pixel
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def rust_bytes(data: bytes) -> str:
    """`data` as a Rust `vec![0x.., ...]` expression."""
    return "vec![" + ", ".join(f"0x{b:02x}" for b in data) + "]"
