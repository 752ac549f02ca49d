//! Turns what the child process prints into Jupyter output, in order and on time.
//!
//! evcxr hands the kernel the child's stdout and stderr line by line. Plain lines become
//! `stream` messages, batched so that a cell printing 20,000 lines sends a few hundred
//! messages, not 20,000 (JupyterLab drops output past ~1000 messages a second). Lines that
//! start with the prelude's message prefix carry display messages (`display_data`,
//! `update_display_data`, `clear_output`) and events. Updates of one display are coalesced to
//! at most ten a second: only the newest is kept while a display is "cooling down", and all
//! pending updates are sent when the cell ends, so the last value always arrives.
//! evcxr's display protocol, `EVCXR_BEGIN_CONTENT <mime>` … `EVCXR_END_CONTENT`, printed by
//! crates mid-cell (plotters' `evcxr_figure`, `evcxr_display` methods), becomes a
//! `display_data` at the moment it is printed, in order with the text around it; blocks printed
//! back to back with different mime types are one bundle. (A cell's final value is marked by the
//! prelude and kept by evcxr for the `execute_result`.)
//! [`Forwarder::flush`] is the barrier the engine waits on before it replies.

use crossbeam_channel::{select, Receiver, Sender};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Prefix of the prelude's message lines (see `prelude/src/display/mod.rs`).
pub const MESSAGE_PREFIX: &str = "\u{1e}TUNA_MSG ";

/// Least time between two updates of one display.
const UPDATE_INTERVAL: Duration = Duration::from_millis(100);
/// Longest time plain output waits to be batched.
const STREAM_BATCH: Duration = Duration::from_millis(20);
/// evcxr's display protocol: a block of one mime type's content.
const BEGIN_CONTENT: &str = "EVCXR_BEGIN_CONTENT ";
const END_CONTENT: &str = "EVCXR_END_CONTENT";
/// Largest stream message; longer output is split.
const STREAM_MAX_BYTES: usize = 1 << 20;

/// Where output goes: the Jupyter iopub channel, a notebook file, a terminal.
pub trait Sink: Send + Sync {
    /// Publishes one iopub message of the current cell.
    fn publish(&self, msg_type: &str, content: Value);
}

/// What the child reported about the running cell besides its output.
#[derive(Debug, Default, Clone)]
pub struct CellEvents {
    /// The cell was stopped by an interrupt check.
    pub interrupted: bool,
    /// The cell's panic: where (when known) and its message.
    pub panic: Option<(Option<String>, String)>,
}

enum Control {
    /// Publish everything received so far, then answer with the cell's events.
    Flush(Sender<CellEvents>),
    /// Drop or keep output (silent executions keep none).
    Mute(bool),
}

/// The thread that forwards the child's output to a [`Sink`].
pub struct Forwarder {
    control: Sender<Control>,
}

impl Forwarder {
    /// Starts forwarding `stdout` and `stderr` to `sink`.
    pub fn start(stdout: Receiver<String>, stderr: Receiver<String>, sink: Arc<dyn Sink>) -> Self {
        let (control, control_rx) = crossbeam_channel::unbounded();
        std::thread::Builder::new()
            .name("tuna-output".into())
            .spawn(move || State::new(sink).run(stdout, stderr, control_rx))
            .expect("spawning the output thread");
        Forwarder { control }
    }

    /// Publishes all output received so far and returns what the cell reported.
    pub fn flush(&self) -> CellEvents {
        let (tx, rx) = crossbeam_channel::bounded(1);
        if self.control.send(Control::Flush(tx)).is_err() {
            return CellEvents::default();
        }
        rx.recv().unwrap_or_default()
    }

    /// Drops output from now on (`true`) or publishes it again (`false`).
    pub fn mute(&self, muted: bool) {
        let _ = self.control.send(Control::Mute(muted));
    }
}

struct PendingUpdate {
    content: Value,
}

struct State {
    sink: Arc<dyn Sink>,
    stdout: String,
    stderr: String,
    stream_since: Option<Instant>,
    last_update: HashMap<String, Instant>,
    pending: HashMap<String, PendingUpdate>,
    events: CellEvents,
    /// Lines of a panic report being read from stderr.
    in_panic: bool,
    muted: bool,
    /// An evcxr content block being read: its mime type and text.
    block: Option<(String, String)>,
    /// Finished blocks not yet published, and since when: the next block joins them when its
    /// mime type is new and it follows at once.
    bundle: serde_json::Map<String, Value>,
    bundle_since: Option<Instant>,
}

impl State {
    fn new(sink: Arc<dyn Sink>) -> Self {
        State {
            sink,
            stdout: String::new(),
            stderr: String::new(),
            stream_since: None,
            last_update: HashMap::new(),
            pending: HashMap::new(),
            events: CellEvents::default(),
            in_panic: false,
            muted: false,
            block: None,
            bundle: serde_json::Map::new(),
            bundle_since: None,
        }
    }

    fn run(mut self, stdout: Receiver<String>, stderr: Receiver<String>, control: Receiver<Control>) {
        loop {
            let timeout = self.next_deadline().map(|d| d.saturating_duration_since(Instant::now()));
            let tick = timeout.map(crossbeam_channel::after).unwrap_or_else(crossbeam_channel::never);
            select! {
                recv(stdout) -> line => match line {
                    Ok(line) => self.stdout_line(line),
                    Err(_) => return,
                },
                recv(stderr) -> line => if let Ok(line) = line { self.stderr_line(line) },
                recv(control) -> msg => match msg {
                    Ok(Control::Flush(reply)) => {
                        self.drain(&stdout, &stderr);
                        self.flush_all();
                        let _ = reply.send(std::mem::take(&mut self.events));
                        self.in_panic = false;
                    }
                    Ok(Control::Mute(muted)) => {
                        self.drain(&stdout, &stderr);
                        self.flush_all();
                        self.muted = muted;
                    }
                    Err(_) => return,
                },
                recv(tick) -> _ => {}
            }
            self.flush_due();
        }
    }

    /// Takes in every line already received. stderr comes through a separate pipe and thread
    /// in evcxr, so a line written just before the cell ended can lag: wait until stderr has
    /// been quiet for a few milliseconds.
    fn drain(&mut self, stdout: &Receiver<String>, stderr: &Receiver<String>) {
        while let Ok(line) = stdout.try_recv() {
            self.stdout_line(line);
        }
        while let Ok(line) = stderr.recv_timeout(Duration::from_millis(5)) {
            self.stderr_line(line);
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        let stream = match (self.stream_since, self.bundle_since) {
            (Some(a), Some(b)) => Some(a.min(b) + STREAM_BATCH),
            (a, b) => a.or(b).map(|t| t + STREAM_BATCH),
        };
        let update = self
            .pending
            .keys()
            .filter_map(|id| self.last_update.get(id).map(|t| *t + UPDATE_INTERVAL))
            .min();
        match (stream, update) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn stdout_line(&mut self, line: String) {
        if let Some((mime, text)) = &mut self.block {
            if line == END_CONTENT {
                let (mime, text) = (std::mem::take(mime), std::mem::take(text));
                self.block = None;
                if self.bundle.contains_key(&mime) {
                    self.publish_bundle();
                }
                self.bundle.insert(mime, Value::String(text));
                self.bundle_since.get_or_insert_with(Instant::now);
            } else {
                if !text.is_empty() {
                    text.push('\n');
                }
                text.push_str(&line);
            }
            return;
        }
        if let Some(mime) = line.strip_prefix(BEGIN_CONTENT) {
            self.block = Some((mime.trim().to_owned(), String::new()));
            return;
        }
        self.publish_bundle();
        if let Some(message) = line.strip_prefix(MESSAGE_PREFIX) {
            match serde_json::from_str::<Value>(message) {
                Ok(msg) => self.message(msg),
                Err(_) => self.text(false, line),
            }
        } else {
            self.text(false, line);
        }
    }

    fn stderr_line(&mut self, line: String) {
        // Without the prelude's hook, the default panic hook writes
        // "thread '<unnamed>' (ID) panicked at FILE:L:C:" then the message.
        if line.starts_with("thread '") && line.contains(" panicked at ") {
            self.in_panic = true;
            if self.events.panic.is_none() {
                let location = line.split(" panicked at ").nth(1).map(|l| l.trim_end_matches(':').to_owned());
                self.events.panic = Some((location, String::new()));
            }
            return;
        }
        if self.in_panic {
            if line.starts_with("note: run with `RUST_BACKTRACE") {
                self.in_panic = false;
            } else if let Some((_, message)) = &mut self.events.panic {
                if !message.is_empty() {
                    message.push('\n');
                }
                message.push_str(&line);
            }
            return;
        }
        self.text(true, line);
    }

    fn text(&mut self, is_stderr: bool, line: String) {
        if self.muted {
            return;
        }
        let buf = if is_stderr { &mut self.stderr } else { &mut self.stdout };
        buf.push_str(&line);
        buf.push('\n');
        self.stream_since.get_or_insert_with(Instant::now);
        if self.stdout.len() + self.stderr.len() >= STREAM_MAX_BYTES {
            self.flush_streams();
        }
    }

    fn message(&mut self, msg: Value) {
        let msg_type = msg["msg_type"].as_str().unwrap_or_default().to_owned();
        let content = msg["content"].clone();
        match msg_type.as_str() {
            "tuna_interrupted" => self.events.interrupted = true,
            "tuna_panic" => {
                if self.events.panic.is_none() {
                    let location = content["location"].as_str().map(str::to_owned);
                    let message = content["message"].as_str().unwrap_or_default().to_owned();
                    self.events.panic = Some((location, message));
                }
            }
            _ if self.muted => {}
            "update_display_data" => {
                let id = content["transient"]["display_id"].as_str().unwrap_or_default().to_owned();
                let now = Instant::now();
                let cooling = self.last_update.get(&id).is_some_and(|t| now - *t < UPDATE_INTERVAL);
                if cooling {
                    self.pending.insert(id, PendingUpdate { content });
                } else {
                    self.flush_streams();
                    self.pending.remove(&id);
                    self.last_update.insert(id, now);
                    self.sink.publish(&msg_type, content);
                }
            }
            "display_data" | "clear_output" => {
                self.flush_streams();
                if let Some(id) = content["transient"]["display_id"].as_str() {
                    self.last_update.insert(id.to_owned(), Instant::now());
                }
                self.sink.publish(&msg_type, content);
            }
            _ => {}
        }
    }

    /// Publishes the evcxr content blocks read so far as one `display_data`.
    fn publish_bundle(&mut self) {
        self.bundle_since = None;
        if self.bundle.is_empty() {
            return;
        }
        let data = std::mem::take(&mut self.bundle);
        if self.muted {
            return;
        }
        self.flush_streams();
        self.sink.publish("display_data", json!({ "data": data, "metadata": {}, "transient": {} }));
    }

    fn flush_streams(&mut self) {
        for (name, buf) in [("stdout", &mut self.stdout), ("stderr", &mut self.stderr)] {
            if !buf.is_empty() {
                let text = std::mem::take(buf);
                self.sink.publish("stream", json!({ "name": name, "text": text }));
            }
        }
        self.stream_since = None;
    }

    fn flush_due(&mut self) {
        let now = Instant::now();
        if self.bundle_since.is_some_and(|t| now - t >= STREAM_BATCH) {
            self.publish_bundle();
        }
        if self.stream_since.is_some_and(|t| now - t >= STREAM_BATCH) {
            self.flush_streams();
        }
        let due: Vec<String> = self
            .pending
            .keys()
            .filter(|id| self.last_update.get(*id).is_none_or(|t| now - *t >= UPDATE_INTERVAL))
            .cloned()
            .collect();
        for id in due {
            if let Some(update) = self.pending.remove(&id) {
                self.flush_streams();
                self.last_update.insert(id, now);
                self.sink.publish("update_display_data", update.content);
            }
        }
    }

    fn flush_all(&mut self) {
        if let Some((mime, text)) = self.block.take() {
            // A block the cell never ended (it panicked mid-print): shown as text.
            self.text(false, format!("{BEGIN_CONTENT}{mime}\n{text}"));
        }
        self.publish_bundle();
        self.flush_streams();
        let pending: Vec<(String, PendingUpdate)> = self.pending.drain().collect();
        for (id, update) in pending {
            self.last_update.insert(id, Instant::now());
            self.sink.publish("update_display_data", update.content);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Collect(Mutex<Vec<(String, Value)>>);

    impl Sink for Collect {
        fn publish(&self, msg_type: &str, content: Value) {
            self.0.lock().unwrap().push((msg_type.to_owned(), content));
        }
    }

    fn update(id: &str, value: usize) -> String {
        let content = json!({"data": {"text/plain": value.to_string()}, "metadata": {}, "transient": {"display_id": id}});
        format!("{MESSAGE_PREFIX}{}", json!({"msg_type": "update_display_data", "content": content}))
    }

    #[test]
    fn lines_are_batched_and_flushed_before_the_reply() {
        let sink = Arc::new(Collect::default());
        let (out_tx, out_rx) = crossbeam_channel::unbounded();
        let (_err_tx, err_rx) = crossbeam_channel::unbounded();
        let fwd = Forwarder::start(out_rx, err_rx, sink.clone());
        for i in 0..20_000 {
            out_tx.send(format!("line {i}")).unwrap();
        }
        fwd.flush();
        let msgs = sink.0.lock().unwrap();
        let text: String = msgs.iter().map(|(_, c)| c["text"].as_str().unwrap()).collect();
        assert_eq!(text.lines().count(), 20_000);
        assert!(text.ends_with("line 19999\n"));
        assert!(msgs.len() < 100, "{} messages", msgs.len());
    }

    #[test]
    fn tight_updates_are_coalesced_and_the_last_one_arrives() {
        let sink = Arc::new(Collect::default());
        let (out_tx, out_rx) = crossbeam_channel::unbounded();
        let (_err_tx, err_rx) = crossbeam_channel::unbounded();
        let fwd = Forwarder::start(out_rx, err_rx, sink.clone());
        for i in 0..=1000 {
            out_tx.send(update("d", i)).unwrap();
        }
        fwd.flush();
        let msgs = sink.0.lock().unwrap();
        assert!(msgs.len() <= 3, "{} updates", msgs.len());
        assert_eq!(msgs.last().unwrap().1["data"]["text/plain"], "1000");
    }

    #[test]
    fn content_blocks_become_display_data_in_order() {
        let sink = Arc::new(Collect::default());
        let (out_tx, out_rx) = crossbeam_channel::unbounded();
        let (_err_tx, err_rx) = crossbeam_channel::unbounded();
        let fwd = Forwarder::start(out_rx, err_rx, sink.clone());
        for line in [
            "before",
            "EVCXR_BEGIN_CONTENT text/html",
            "<b>one</b>",
            "<i>two lines</i>",
            "EVCXR_END_CONTENT",
            "EVCXR_BEGIN_CONTENT text/plain",
            "one",
            "EVCXR_END_CONTENT",
            "EVCXR_BEGIN_CONTENT text/plain",
            "second",
            "EVCXR_END_CONTENT",
            "after",
        ] {
            out_tx.send(line.into()).unwrap();
        }
        fwd.flush();
        let msgs = sink.0.lock().unwrap();
        let kinds: Vec<&str> = msgs.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(kinds, ["stream", "display_data", "display_data", "stream"]);
        assert_eq!(msgs[0].1["text"], "before\n");
        assert_eq!(msgs[1].1["data"]["text/html"], "<b>one</b>\n<i>two lines</i>");
        assert_eq!(msgs[1].1["data"]["text/plain"], "one");
        assert_eq!(msgs[2].1["data"]["text/plain"], "second");
        assert_eq!(msgs[3].1["text"], "after\n");
    }

    #[test]
    fn panics_are_reported_not_printed() {
        let sink = Arc::new(Collect::default());
        let (_out_tx, out_rx) = crossbeam_channel::unbounded();
        let (err_tx, err_rx) = crossbeam_channel::unbounded();
        let fwd = Forwarder::start(out_rx, err_rx, sink.clone());
        err_tx.send("thread '<unnamed>' (42) panicked at src/lib.rs:3:5:".into()).unwrap();
        err_tx.send("boom".into()).unwrap();
        err_tx.send("note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace".into()).unwrap();
        err_tx.send("after".into()).unwrap();
        let events = fwd.flush();
        assert_eq!(events.panic.unwrap().1, "boom");
        let msgs = sink.0.lock().unwrap();
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0].1["text"], "after\n");
    }
}
