"""The messaging protocol, checked by jupyter_kernel_test 0.7.0 against the installed kernel.

Every attribute of `KernelTests` is filled in except `code_page_something` (tuna has no pager,
so that test is skipped by design). Two of the suite's habits need care with a compiled
language: `TIMEOUT = 15` s is bound when the module is imported, so `execute_helper` is given a
longer default and the class warms the kernel up (prelude, completion, hover) before any test;
and `IopubWelcomeTests` waits for its message without a timeout, so one is added.
"""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

# Imported as a module: `from jupyter_kernel_test import KernelTests` would make pytest collect
# the base classes too, and run them against the python3 kernel.
import jupyter_kernel_test as jkt
from jupyter_client.manager import KernelManager, start_new_kernel

from kernel_client import (
    CELL_TIMEOUT,
    KERNEL_NAME,
    REPLY_TIMEOUT,
    STARTUP_TIMEOUT,
    Kernel,
    kernel_env,
    require_kernelspec,
    rust_bytes,
    tiny_png,
)

PNG_RUST = rust_bytes(tiny_png())


class TunaKernelTests(jkt.KernelTests):
    kernel_name = KERNEL_NAME
    language_name = "rust"
    file_extension = ".rs"

    code_hello_world = 'println!("hello, world");'
    code_stderr = 'eprintln!("a line on stderr");'

    # A variable defined in setUpClass, and one defined earlier in the same cell text.
    completion_samples = [
        {"text": "completion_target_v", "matches": ["completion_target_value"]},
        {"text": "let in_cell_completion_name = 1;\nin_cell_completion_n", "matches": ["in_cell_completion_name"]},
        {"text": "String::from_utf"},
    ]

    complete_code_samples = [
        "1 + 1",
        "let x = 1;",
        "fn f() {}",
        'let s = "a { b";',
        "let c = '{';",
        "// a comment with {",
        "let r = r#\"}\"#;",
        "fn f<'a>(x: &'a str) -> &'a str { x }",
        ':dep serde = { version = "1" }',
        ":vars",
    ]
    incomplete_code_samples = [
        "fn f() {",
        "let v = vec![1, 2,",
        'let s = "abc',
        "/* an open comment",
        "let r = r#\"raw",
        "for i in 0..3 {\n    println!(\"{i}\");",
    ]
    invalid_code_samples = ["}", "let x = (1];", "fn f() { ) }"]

    # No pager in tuna: test_pager is skipped.
    code_page_something = ""

    code_generate_error = 'let n: u32 = "not a number";'

    code_execute_result = [
        {"code": "6 * 7", "result": "42"},
        {"code": "vec![1, 2, 3]", "result": "[1, 2, 3]"},
        {"code": 'Html::new("<b>bold</b>")', "mime": "text/html", "result": "<b>bold</b>"},
    ]

    code_display_data = [
        {"code": 'show(&Html::new("<i>html</i>"));', "mime": "text/html"},
        {"code": 'show(&Svg::new("<svg xmlns=\\"http://www.w3.org/2000/svg\\" width=\\"4\\" height=\\"4\\"></svg>"));', "mime": "image/svg+xml"},
        {"code": f"show(&Png::new({PNG_RUST}));", "mime": "image/png"},
        {"code": 'show(&Markdown::new("**bold**"));', "mime": "text/markdown"},
        {"code": 'show(&Json(r#"{"loss": 0.5}"#.parse().unwrap()));', "mime": "application/json"},
        {"code": 'show(&LineChart::new("loss").series("train", vec![(0.0, 1.0), (1.0, 0.5)]));', "mime": "image/svg+xml"},
    ]

    # Matches "6 * 7" of code_execute_result and nothing else this class runs.
    code_history_pattern = "6 * 7"
    supported_history_operations = ("tail", "range", "search")

    # A prelude function: its documentation comes from rust-analyzer's hover.
    code_inspect_sample = "show"

    code_clear_output = 'println!("soon cleared");\nclear_output(false);'

    @classmethod
    def setUpClass(cls) -> None:
        require_kernelspec()
        cls._tmp = tempfile.TemporaryDirectory(prefix="tuna-protocol-")
        cls.km, cls.kc = start_new_kernel(
            kernel_name=cls.kernel_name, startup_timeout=STARTUP_TIMEOUT, env=kernel_env(Path(cls._tmp.name))
        )
        # Load the prelude, define the completion target, and let rust-analyzer index the
        # crate graph once, all before the suite's 15 s timeouts apply.
        k = Kernel(cls.km, cls.kc, name="jupyter_kernel_test kernel")
        k.warm_up("let completion_target_value = 1;").assert_ok()
        k.request(lambda: cls.kc.complete("completion_target_v"), timeout=CELL_TIMEOUT)
        k.request(lambda: cls.kc.inspect(cls.code_inspect_sample), timeout=CELL_TIMEOUT)

    @classmethod
    def tearDownClass(cls) -> None:
        super().tearDownClass()
        cls._tmp.cleanup()

    def execute_helper(self, code, timeout=CELL_TIMEOUT, silent=False, store_history=True, stop_on_error=True):
        return super().execute_helper(
            code, timeout=timeout, silent=silent, store_history=store_history, stop_on_error=stop_on_error
        )

    def get_non_kernel_info_reply(self, timeout=None):
        # The suite waits for complete and is_complete replies without a timeout: bound it, so
        # that a kernel that never answers fails the test instead of hanging the run.
        return super().get_non_kernel_info_reply(timeout=CELL_TIMEOUT if timeout is None else timeout)

    def test_error(self) -> None:
        super().test_error()
        # Beyond the suite: the error names itself and points at the cell's line and column.
        _, outputs = self.execute_helper(self.code_generate_error)
        error = outputs[0]["content"]
        self.assertEqual(error["ename"], "CompileError")
        self.assertIn("cell:1:14", "\n".join(error["traceback"]))

    def test_kernel_info(self) -> None:
        super().test_kernel_info()
        self.flush_channels()
        self.kc.kernel_info()
        content = self.kc.get_shell_msg(timeout=REPLY_TIMEOUT)["content"]
        self.assertEqual(content["protocol_version"], "5.4")
        self.assertEqual(content["implementation"], "tuna")
        info = content["language_info"]
        self.assertEqual(info["mimetype"], "text/rust")
        self.assertEqual(info["pygments_lexer"], "rust")
        self.assertEqual(info["codemirror_mode"], "rust")
        self.assertNotIn("pygment_lexer", info)
        self.assertIn("iopub_welcome", content.get("supported_features", []))


class TunaIopubWelcomeTests(jkt.IopubWelcomeTests):
    kernel_name = KERNEL_NAME
    support_iopub_welcome = True

    @classmethod
    def setUpClass(cls) -> None:
        require_kernelspec()
        cls._tmp = tempfile.TemporaryDirectory(prefix="tuna-welcome-")
        cls.km = KernelManager(kernel_name=cls.kernel_name)
        cls.km.start_kernel(env=kernel_env(Path(cls._tmp.name)))
        cls.kc = cls.km.client()
        # The suite waits for the welcome without a timeout: a kernel that never sends one
        # must fail the test, not hang it.
        cls.kc.get_iopub_msg = functools.partial(cls.kc.get_iopub_msg, timeout=STARTUP_TIMEOUT)

    @classmethod
    def tearDownClass(cls) -> None:
        super().tearDownClass()
        cls._tmp.cleanup()
