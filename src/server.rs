//! The Jupyter kernel: binds the five sockets of a connection file and routes messages.
//!
//! Shell and control requests that need no evaluation (kernel_info, is_complete, history,
//! comm_info, shutdown, interrupt) are answered at once, even while a cell runs; execute,
//! complete and inspect requests queue for the evaluation thread ([`crate::session`]) in the
//! order they arrived. iopub is an XPUB socket so that each new subscriber gets an
//! `iopub_welcome` (JEP 65) and knows it will see everything from then on.

use crate::connection::ConnectionInfo;
use crate::history::{self, History};
use crate::session::{self, Job, Shared};
use crate::syntax::{completeness, Completeness};
use crate::wire::{Message, Signer};
use anyhow::{Context, Result};
use bytes::Bytes;
use serde_json::{json, Value};
use std::path::Path;
use std::sync::Arc;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use zeromq::{Socket, SocketRecv, SocketSend, ZmqMessage};

/// Runs the kernel for `connection_file` until a shutdown request.
pub fn run(connection_file: &Path) -> Result<()> {
    let info = ConnectionInfo::read(connection_file)?;
    let signer = Signer::new(&info.signature_scheme, &info.key)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(serve(info, signer))
}

async fn bind<S: Socket>(mut socket: S, info: &ConnectionInfo, port: u16, name: &str) -> Result<S> {
    let endpoint = info.endpoint(port);
    socket.bind(&endpoint).await.with_context(|| format!("binding the {name} socket to {endpoint}"))?;
    Ok(socket)
}

async fn serve(info: ConnectionInfo, signer: Signer) -> Result<()> {
    let shell = bind(zeromq::RouterSocket::new(), &info, info.shell_port, "shell").await?;
    let control = bind(zeromq::RouterSocket::new(), &info, info.control_port, "control").await?;
    let stdin = bind(zeromq::RouterSocket::new(), &info, info.stdin_port, "stdin").await?;
    let iopub = bind(zeromq::XPubSocket::new(), &info, info.iopub_port, "iopub").await?;
    let heartbeat = bind(zeromq::RepSocket::new(), &info, info.hb_port, "heartbeat").await?;

    let (iopub_tx, iopub_rx) = unbounded_channel();
    let (shell_tx, shell_rx) = unbounded_channel();
    let (stdin_tx, stdin_rx) = unbounded_channel();
    let (shell_send, shell_recv) = shell.split();
    let (control_send, control_recv) = control.split();
    let (stdin_send, stdin_recv) = stdin.split();

    tokio::spawn(publish(iopub, iopub_rx, signer.clone()));
    tokio::spawn(echo(heartbeat));
    tokio::spawn(send_all(shell_send, shell_rx, signer.clone()));
    tokio::spawn(send_all(stdin_send, stdin_rx, signer.clone()));

    let history = History::open(&history::default_path());
    let shared = Arc::new(Shared::new(iopub_tx, shell_tx.clone(), stdin_tx, history));
    let jobs = session::start(shared.clone());
    tokio::spawn(receive_input(stdin_recv, signer.clone(), shared.clone()));

    let (control_tx, control_rx) = unbounded_channel();
    tokio::spawn(send_all(control_send, control_rx, signer.clone()));
    let control = tokio::spawn(route(control_recv, signer.clone(), shared.clone(), jobs.clone(), control_tx, "control"));
    let shell = tokio::spawn(route(shell_recv, signer, shared, jobs, shell_tx, "shell"));
    tokio::select! {
        r = control => r??,
        r = shell => r??,
    }
    Ok(())
}

/// Sends every message from `rx` on a ROUTER socket.
async fn send_all(mut socket: impl SocketSend, mut rx: UnboundedReceiver<Message>, signer: Signer) {
    while let Some(msg) = rx.recv().await {
        if let Err(e) = socket.send(to_zmq(msg.to_frames(&signer))).await {
            eprintln!("tuna: sending a reply failed: {e}");
        }
    }
}

/// Publishes iopub messages in order, and welcomes each new subscriber (JEP 65).
async fn publish(mut socket: zeromq::XPubSocket, mut rx: UnboundedReceiver<Message>, signer: Signer) {
    loop {
        tokio::select! {
            msg = rx.recv() => {
                let Some(msg) = msg else { return };
                if let Err(e) = socket.send(to_zmq(msg.to_frames(&signer))).await {
                    eprintln!("tuna: publishing on iopub failed: {e}");
                }
            }
            sub = socket.recv() => {
                let Ok(sub) = sub else { continue };
                let Some(frame) = sub.get(0) else { continue };
                if frame.first() == Some(&1) {
                    let topic = String::from_utf8_lossy(&frame[1..]).into_owned();
                    let mut welcome = Message::new("iopub_welcome", json!({ "subscription": topic }), "");
                    welcome.identities = vec![Bytes::copy_from_slice(&frame[1..])];
                    let _ = socket.send(to_zmq(welcome.to_frames(&signer))).await;
                }
            }
        }
    }
}

async fn echo(mut socket: zeromq::RepSocket) {
    while let Ok(msg) = socket.recv().await {
        if socket.send(msg).await.is_err() {
            return;
        }
    }
}

/// Passes `input_reply` messages to the evaluation thread waiting for them.
async fn receive_input(mut socket: zeromq::RouterRecvHalf, signer: Signer, shared: Arc<Shared>) {
    while let Ok(frames) = socket.recv().await {
        match Message::from_frames(frames.into_vec(), &signer) {
            Ok(msg) if msg.msg_type() == "input_reply" => shared.deliver_input(msg),
            Ok(msg) => eprintln!("tuna: ignoring `{}` on stdin", msg.msg_type()),
            Err(e) => eprintln!("tuna: dropped a message on stdin: {e}"),
        }
    }
}

fn to_zmq(frames: Vec<Bytes>) -> ZmqMessage {
    let mut msg = ZmqMessage::from(frames[0].clone());
    for frame in &frames[1..] {
        msg.push_back(frame.clone());
    }
    msg
}

/// Reads requests from one ROUTER socket and answers or queues them.
async fn route(
    mut socket: zeromq::RouterRecvHalf,
    signer: Signer,
    shared: Arc<Shared>,
    jobs: std::sync::mpsc::Sender<Job>,
    replies: UnboundedSender<Message>,
    channel: &'static str,
) -> Result<()> {
    loop {
        let frames = socket.recv().await.with_context(|| format!("receiving on {channel}"))?;
        let msg = match Message::from_frames(frames.into_vec(), &signer) {
            Ok(msg) => msg,
            Err(e) => {
                // Never act on a message that is not signed with our key.
                eprintln!("tuna: dropped a message on {channel}: {e}");
                continue;
            }
        };
        let msg_type = msg.msg_type().to_owned();
        match msg_type.as_str() {
            "execute_request" | "complete_request" | "inspect_request" => {
                if jobs.send(Job { msg }).is_err() {
                    anyhow::bail!("the evaluation thread has stopped");
                }
            }
            "interrupt_request" => {
                shared.interrupt();
                let _ = replies.send(msg.reply("interrupt_reply", json!({ "status": "ok" })));
            }
            "shutdown_request" => {
                let restart = msg.content["restart"].as_bool().unwrap_or(false);
                shared.busy(&msg);
                let _ = replies.send(msg.reply("shutdown_reply", json!({ "status": "ok", "restart": restart })));
                shared.idle(&msg);
                // Let the reply and status go out before the process ends; the child process
                // ends when its stdin closes with us.
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                std::process::exit(0);
            }
            _ => {
                shared.busy(&msg);
                if let Some(reply) = answer(&msg, &shared) {
                    let _ = replies.send(reply);
                }
                shared.idle(&msg);
            }
        }
    }
}

/// Answers the requests that need no evaluation.
fn answer(msg: &Message, shared: &Shared) -> Option<Message> {
    let content = &msg.content;
    match msg.msg_type() {
        "kernel_info_request" => Some(msg.reply("kernel_info_reply", kernel_info())),
        "is_complete_request" => {
            let status = completeness(content["code"].as_str().unwrap_or(""));
            let mut reply = json!({ "status": status.as_str() });
            if status == Completeness::Incomplete {
                reply["indent"] = json!("    ");
            }
            Some(msg.reply("is_complete_reply", reply))
        }
        "history_request" => Some(msg.reply("history_reply", history_reply(content, &shared.history))),
        "comm_info_request" => Some(msg.reply("comm_info_reply", json!({ "status": "ok", "comms": {} }))),
        "comm_open" => {
            // No comm targets exist: close it, as ipykernel does for an unknown target.
            let id = content["comm_id"].clone();
            shared.publish_for(msg, "comm_close", json!({ "comm_id": id, "data": {} }));
            None
        }
        "comm_msg" | "comm_close" => None,
        other => {
            eprintln!("tuna: ignoring unsupported `{other}`");
            None
        }
    }
}

fn history_reply(content: &Value, history: &History) -> Value {
    let n = content["n"].as_u64().unwrap_or(10) as usize;
    let entries = match content["hist_access_type"].as_str().unwrap_or("tail") {
        "range" => history.range(
            content["session"].as_i64().unwrap_or(0),
            content["start"].as_i64().unwrap_or(0),
            content["stop"].as_i64().unwrap_or(0),
        ),
        "search" => history.search(
            content["pattern"].as_str().unwrap_or("*"),
            n,
            content["unique"].as_bool().unwrap_or(false),
        ),
        _ => history.tail(n),
    };
    let with_output = content["output"].as_bool().unwrap_or(false);
    let items: Vec<Value> = entries
        .into_iter()
        .map(|e| {
            if with_output {
                json!([e.session, e.line, [e.input, null]])
            } else {
                json!([e.session, e.line, e.input])
            }
        })
        .collect();
    json!({ "status": "ok", "history": items })
}

/// The kernel_info_reply content.
pub fn kernel_info() -> Value {
    json!({
        "status": "ok",
        "protocol_version": crate::wire::PROTOCOL_VERSION,
        "implementation": "tuna",
        "implementation_version": env!("CARGO_PKG_VERSION"),
        "language_info": {
            "name": "rust",
            "version": rustc_version(),
            "mimetype": "text/rust",
            "file_extension": ".rs",
            "pygments_lexer": "rust",
            "codemirror_mode": "rust",
        },
        "banner": format!("tuna {} — Rust notebooks for training transformers on libtorch", env!("CARGO_PKG_VERSION")),
        "help_links": [
            { "text": "tch (libtorch for Rust)", "url": "https://docs.rs/tch" },
            { "text": "evcxr commands (:help)", "url": "https://github.com/evcxr/evcxr/blob/main/COMMON.md" },
        ],
        "debugger": false,
        "supported_features": ["iopub_welcome"],
    })
}

fn rustc_version() -> String {
    static VERSION: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    VERSION
        .get_or_init(|| {
            std::process::Command::new("rustc")
                .arg("--version")
                .output()
                .ok()
                .and_then(|o| String::from_utf8(o.stdout).ok())
                .and_then(|s| s.split_whitespace().nth(1).map(str::to_owned))
                .unwrap_or_else(|| "unknown".into())
        })
        .clone()
}
