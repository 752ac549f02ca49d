//! The evaluation thread of the Jupyter kernel: runs queued execute, complete and inspect
//! requests on the [`Engine`] one at a time and publishes what they produce.

use crate::engine::{lock, Engine, Frontend, Interrupter, Outcome};
use crate::history::History;
use crate::output::Sink;
use crate::report::ErrorReport;
use crate::wire::Message;
use serde_json::{json, Map, Value};
use std::collections::VecDeque;
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc::UnboundedSender;

/// A request for the evaluation thread.
pub struct Job {
    pub msg: Message,
}

/// What the socket tasks and the evaluation thread share.
pub struct Shared {
    iopub: UnboundedSender<Message>,
    shell: UnboundedSender<Message>,
    stdin: UnboundedSender<Message>,
    pub history: History,
    interrupter: Mutex<Option<Interrupter>>,
    pending_input: Mutex<Option<Sender<Message>>>,
    /// The request whose output is being published.
    current: Mutex<Option<Message>>,
}


impl Shared {
    pub fn new(
        iopub: UnboundedSender<Message>,
        shell: UnboundedSender<Message>,
        stdin: UnboundedSender<Message>,
        history: History,
    ) -> Self {
        Shared {
            iopub,
            shell,
            stdin,
            history,
            interrupter: Mutex::new(None),
            pending_input: Mutex::new(None),
            current: Mutex::new(None),
        }
    }

    /// Publishes `msg_type` on iopub as caused by `parent`.
    pub fn publish_for(&self, parent: &Message, msg_type: &str, content: Value) {
        let mut msg = parent.reply(msg_type, content);
        msg.identities = vec![format!("kernel.{msg_type}").into_bytes().into()];
        let _ = self.iopub.send(msg);
    }

    pub fn busy(&self, parent: &Message) {
        self.publish_for(parent, "status", json!({ "execution_state": "busy" }));
    }

    pub fn idle(&self, parent: &Message) {
        self.publish_for(parent, "status", json!({ "execution_state": "idle" }));
    }

    /// Stops the running cell (and gives up on input it waits for).
    pub fn interrupt(&self) {
        lock(&self.pending_input).take();
        if let Some(interrupter) = lock(&self.interrupter).as_ref() {
            interrupter.interrupt();
        }
    }

    /// Hands an `input_reply` to the cell waiting for it.
    pub fn deliver_input(&self, msg: Message) {
        if let Some(tx) = lock(&self.pending_input).take() {
            let _ = tx.send(msg);
        }
    }

    fn reply(&self, msg: Message) {
        let _ = self.shell.send(msg);
    }

    /// Asks the front end for a line of input for `parent`'s cell; "" when it cannot answer.
    fn request_input(&self, parent: &Message, prompt: &str, password: bool) -> String {
        let (tx, rx) = std::sync::mpsc::channel();
        *lock(&self.pending_input) = Some(tx);
        let mut msg = parent.reply("input_request", json!({ "prompt": prompt, "password": password }));
        msg.identities = parent.identities.clone();
        let _ = self.stdin.send(msg);
        match rx.recv() {
            Ok(reply) => reply.content["value"].as_str().unwrap_or("").to_owned(),
            Err(_) => String::new(),
        }
    }
}

/// Sends the output of the running cell to iopub, as children of the current request.
struct IopubSink {
    shared: Arc<Shared>,
}

impl Sink for IopubSink {
    fn publish(&self, msg_type: &str, content: Value) {
        if let Some(parent) = lock(&self.shared.current).as_ref() {
            self.shared.publish_for(parent, msg_type, content);
        }
    }
}

/// Starts the evaluation thread; requests go in through the returned sender.
pub fn start(shared: Arc<Shared>) -> Sender<Job> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("tuna-eval".into())
        .spawn(move || Evaluator::run(shared, rx))
        .expect("spawning the evaluation thread");
    tx
}

struct Evaluator {
    shared: Arc<Shared>,
    engine: Engine,
    execution_count: i64,
    /// Why the prelude did not load, told once with the first cell's output.
    prelude_error: Option<String>,
}

impl Evaluator {
    fn run(shared: Arc<Shared>, jobs: Receiver<Job>) {
        let sink = Arc::new(IopubSink { shared: shared.clone() });
        let mut engine = match Engine::start(sink, Frontend::Notebook) {
            Ok(engine) => engine,
            Err(e) => return fail_all(&shared, &jobs, &format!("{e:#}")),
        };
        *lock(&shared.interrupter) = Some(engine.interrupter());
        let prelude_error = engine.load_prelude().err().map(|e| format!("{e:#}"));
        let mut this = Evaluator { shared, engine, execution_count: 0, prelude_error };
        let mut deferred = VecDeque::new();
        let mut analysis_warm = false;
        loop {
            let job = match deferred.pop_front().map(Ok).unwrap_or_else(|| jobs.try_recv()) {
                Ok(job) => job,
                Err(std::sync::mpsc::TryRecvError::Empty) => {
                    if !analysis_warm {
                        // Idle: prepare rust-analyzer now so that the first `let` is quick.
                        this.engine.warm_analysis();
                        analysis_warm = true;
                        continue;
                    }
                    match jobs.recv() {
                        Ok(job) => job,
                        Err(_) => return,
                    }
                }
                Err(std::sync::mpsc::TryRecvError::Disconnected) => return,
            };
            let msg = job.msg;
            this.shared.busy(&msg);
            *lock(&this.shared.current) = Some(msg.clone());
            let failed = match msg.msg_type() {
                "execute_request" => this.execute(&msg),
                "complete_request" => {
                    this.complete(&msg);
                    false
                }
                _ => {
                    this.inspect(&msg);
                    false
                }
            };
            *lock(&this.shared.current) = None;
            if failed && msg.content["stop_on_error"].as_bool().unwrap_or(true) {
                // Requests queued behind a failed cell are aborted, as in IPython.
                while let Ok(queued) = jobs.try_recv() {
                    if queued.msg.msg_type() == "execute_request" {
                        this.abort(&queued.msg);
                    } else {
                        deferred.push_back(queued);
                    }
                }
            }
            this.shared.idle(&msg);
        }
    }

    /// Runs one execute_request; returns whether it failed.
    fn execute(&mut self, msg: &Message) -> bool {
        let content = &msg.content;
        let code = content["code"].as_str().unwrap_or("");
        let silent = content["silent"].as_bool().unwrap_or(false);
        let store_history = content["store_history"].as_bool().unwrap_or(true) && !silent;
        if store_history {
            self.execution_count += 1;
        }
        let count = self.execution_count;
        if !silent {
            self.shared.publish_for(msg, "execute_input", json!({ "code": code, "execution_count": count }));
        }
        if store_history {
            self.shared.history.append(count, code);
        }
        if let Some(error) = self.prelude_error.take() {
            self.shared.publish_for(msg, "stream", json!({
                "name": "stderr",
                "text": format!("tuna: the prelude could not be loaded, so `use tuna::prelude::*` is not in scope:\n{error}\n"),
            }));
        }
        self.engine.mute(silent);
        let allow_stdin = content["allow_stdin"].as_bool().unwrap_or(false);
        let shared = self.shared.clone();
        let input = move |prompt: &str, password: bool| {
            if allow_stdin {
                shared.request_input(msg, prompt, password)
            } else {
                eprintln!("tuna: the cell asked for input but this front end does not allow stdin");
                String::new()
            }
        };
        let outcome = self.engine.execute(code, &input);
        self.engine.mute(false);
        match outcome {
            Outcome::Ok(data) => {
                if !silent && !data.is_empty() {
                    self.shared.publish_for(msg, "execute_result", json!({
                        "execution_count": count, "data": data, "metadata": {},
                    }));
                }
                let user_expressions = self.user_expressions(&content["user_expressions"]);
                self.shared.reply(msg.reply("execute_reply", json!({
                    "status": "ok", "execution_count": count,
                    "user_expressions": user_expressions, "payload": [],
                })));
                false
            }
            Outcome::Error(report) => {
                if !silent {
                    self.shared.publish_for(msg, "error", error_content(&report));
                }
                let mut reply = error_content(&report);
                reply["status"] = json!("error");
                reply["execution_count"] = json!(count);
                self.shared.reply(msg.reply("execute_reply", reply));
                true
            }
        }
    }

    /// Evaluates each user expression silently, after the cell.
    fn user_expressions(&mut self, expressions: &Value) -> Value {
        let mut results = Map::new();
        let Some(expressions) = expressions.as_object() else { return Value::Object(results) };
        self.engine.mute(true);
        for (name, expr) in expressions {
            let code = expr.as_str().unwrap_or("");
            let result = match self.engine.execute(code, &|_, _| String::new()) {
                Outcome::Ok(data) => json!({ "status": "ok", "data": data, "metadata": {} }),
                Outcome::Error(report) => {
                    let mut c = error_content(&report);
                    c["status"] = json!("error");
                    c
                }
            };
            results.insert(name.clone(), result);
        }
        self.engine.mute(false);
        Value::Object(results)
    }

    fn abort(&self, msg: &Message) {
        self.shared.busy(msg);
        self.shared.reply(msg.reply("execute_reply", json!({
            "status": "aborted", "execution_count": self.execution_count,
        })));
        self.shared.idle(msg);
    }

    fn complete(&mut self, msg: &Message) {
        let code = msg.content["code"].as_str().unwrap_or("");
        let cursor = msg.content["cursor_pos"].as_u64().unwrap_or(code.chars().count() as u64) as usize;
        let byte_pos = char_to_byte(code, cursor);
        let reply = match self.engine.complete(code, byte_pos) {
            Ok((start, end, matches)) => json!({
                "status": "ok",
                "matches": matches,
                "cursor_start": byte_to_char(code, start),
                "cursor_end": byte_to_char(code, end),
                "metadata": {},
            }),
            Err(e) => json!({ "status": "ok", "matches": [], "cursor_start": cursor, "cursor_end": cursor, "metadata": { "error": format!("{e:#}") } }),
        };
        self.shared.reply(msg.reply("complete_reply", reply));
    }

    fn inspect(&mut self, msg: &Message) {
        let code = msg.content["code"].as_str().unwrap_or("");
        let cursor = msg.content["cursor_pos"].as_u64().unwrap_or(code.chars().count() as u64) as usize;
        // rust-analyzer hovers the expression that ends at the position: extend it to the end
        // of the word under the cursor.
        let mut byte_pos = char_to_byte(code, cursor);
        while let Some(c) = code[byte_pos..].chars().next().filter(|c| c.is_alphanumeric() || *c == '_') {
            byte_pos += c.len_utf8();
        }
        let reply = match self.engine.inspect(code, byte_pos) {
            Ok((plain, html)) if !plain.trim().is_empty() => json!({
                "status": "ok", "found": true,
                "data": { "text/plain": plain, "text/html": html }, "metadata": {},
            }),
            _ => json!({ "status": "ok", "found": false, "data": {}, "metadata": {} }),
        };
        self.shared.reply(msg.reply("inspect_reply", reply));
    }
}

fn error_content(report: &ErrorReport) -> Value {
    json!({ "ename": report.ename, "evalue": report.evalue, "traceback": report.traceback })
}

/// When evcxr cannot start, every request is answered with why.
fn fail_all(shared: &Shared, jobs: &Receiver<Job>, error: &str) {
    eprintln!("tuna: {error}");
    let report = ErrorReport::simple("KernelStartError", format!("the Rust evaluation engine did not start: {error}"));
    while let Ok(job) = jobs.recv() {
        let msg = job.msg;
        shared.busy(&msg);
        let mut reply = error_content(&report);
        reply["status"] = json!("error");
        reply["execution_count"] = json!(0);
        let reply_type = msg.msg_type().replace("_request", "_reply");
        shared.reply(msg.reply(&reply_type, reply));
        shared.idle(&msg);
    }
}

/// Byte offset of the `chars`-th character (Jupyter counts cursor positions in characters).
pub fn char_to_byte(text: &str, chars: usize) -> usize {
    text.char_indices().nth(chars).map(|(i, _)| i).unwrap_or(text.len())
}

/// Character index of byte offset `byte`.
pub fn byte_to_char(text: &str, byte: usize) -> usize {
    text[..byte.min(text.len())].chars().count()
}
