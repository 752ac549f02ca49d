"""Training through the real kernel: pressing stop during `Trainer::fit` ends the run at the
next step, the cell finishes normally with the partial run marked as interrupted, and a
following cell still has the trainer with its model and history.

The kernel loads this checkout's prelude (TUNA_PRELUDE), not the one the kernelspec names.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from jupyter_client.manager import KernelManager

from kernel_client import (CELL_TIMEOUT, INTERRUPT_GRACE_SECS, KERNEL_NAME, STARTUP_TIMEOUT, Kernel,
                           kernel_env, require_kernelspec)

PRELUDE = Path(__file__).resolve().parent.parent / "prelude"


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    require_kernelspec()
    directory = tmp_path_factory.mktemp("train-kernel")
    extra = {"TUNA_PRELUDE": str(PRELUDE), "TUNA_INTERRUPT_GRACE_SECS": INTERRUPT_GRACE_SECS}
    km = KernelManager(kernel_name=KERNEL_NAME)
    # The kernelspec's own env (which names main's prelude) is applied over the one passed in.
    km.kernel_spec.env.update(extra)
    km.start_kernel(env=kernel_env(directory, **extra))
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=STARTUP_TIMEOUT)
    k = Kernel(km, kc, name="training kernel")
    try:
        k.warm_up()
        yield k
    finally:
        k.shutdown()


SETUP = """
let images: Vec<Image> = (0..256u32)
    .map(|i| Image::new(28, 28, 1, (0..784u32).map(|p| ((p * (i % 4 + 1) + i) % 256) as u8).collect()))
    .collect::<Result<_>>()?;
let labels: Vec<usize> = (0..256).map(|i| i % 4).collect();
let data = Dataset::labelled("toy", images, labels, (0..4).map(|c| c.to_string()).collect())?;
let mut config = ViTConfig::tiny();
config.set_num_labels(4);
let mut trainer = Trainer::new(ViTForImageClassification::new(config)?, ImageBatch::default())
    .max_steps(1_000_000).batch_size(16).lr(1e-3);
println!("ready");
"""


def is_progress_update(m) -> bool:
    # The progress bar is displayed, then updated in place: an update means steps are done.
    return m["msg_type"] == "update_display_data"


def test_stop_during_fit_keeps_model_and_history(kernel):
    assert kernel.ok(SETUP).stream() == "ready\n"
    msg_id = kernel.send_execute('let run = trainer.fit(&data, None)?;\nprintln!("{:?} at step {}", run.stop, run.step);')
    kernel.wait_iopub(msg_id, is_progress_update, CELL_TIMEOUT, "a progress update of fit")
    kernel.interrupt()
    ex = kernel.collect(msg_id).assert_ok()
    m = re.fullmatch(r"Interrupted at step (\d+)\n", ex.stream())
    assert m, ex.describe()
    stopped_at = int(m.group(1))
    assert 0 < stopped_at < 1_000_000

    # A later cell reads the history and the model the interrupted fit left.
    code = (
        "let h = trainer.history();\n"
        "let eval = trainer.evaluate(&data)?;\n"
        'println!("{} {} {} {}", h.steps.len(), trainer.step(), h.steps.iter().all(|r| r.loss.is_finite()), eval.loss.is_finite());\n'
        "trainer.model().num_parameters()"
    )
    ex = kernel.ok(code)
    steps, step, finite, eval_finite = ex.stream().split()
    assert int(steps) == int(step) == stopped_at, ex.describe()
    assert finite == "true" and eval_finite == "true", ex.describe()
    assert int(ex.result) > 100_000, ex.describe()
