//! Which peer a failed collective is about. Gloo says only that a connection closed (or that a
//! wait timed out); the ranks that are still alive say so in the store, and the ones that do not
//! within a few seconds are named in the error: they exited, were killed, or hang.

use super::ffi::{self, c_string, call, Raw};
use super::DistEnv;
use crate::Error;
use std::time::{Duration, Instant};

/// How long survivors wait for each other to report before naming the silent ones.
const REPORT_WINDOW: Duration = Duration::from_secs(3);

pub(super) fn explain(store: Raw, env: &DistEnv, error: Error) -> Error {
    // SAFETY: sets a logging level.
    unsafe { ffi::tuna_quiet_logs() };
    let mine = format!("tuna/alive-after-fault/{}", env.rank);
    let Ok(key) = c_string(&mine) else { return error };
    let reported = call("store", |e, n| unsafe {
        // SAFETY: `store` lives as long as the group that called us; valid key and buffer.
        ffi::tuna_store_set(store, key.as_ptr(), b"1".as_ptr(), 1, e, n)
    });
    let gone = |error: Error| {
        let host = if env.agent_store { "torchrun's agent" } else { "rank 0" };
        return Error::msg(format!(
            "{error}\nThe store ({host} at {}:{}) is gone too: {host} exited or was killed. Every rank stops; the launcher's log says why it ended.",
            env.master_addr, env.master_port
        ))
    };
    if reported.is_err() {
        return gone(error);
    }
    let deadline = Instant::now() + REPORT_WINDOW;
    let mut silent: Vec<usize> = (0..env.world_size).filter(|&r| r != env.rank).collect();
    while !silent.is_empty() && Instant::now() < deadline {
        let mut store_gone = false;
        silent.retain(|&r| match present(store, &format!("tuna/alive-after-fault/{r}")) {
            Ok(p) => !p,
            Err(_) => {
                store_gone = true;
                true
            }
        });
        if store_gone {
            return gone(error);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    if silent.is_empty() {
        return error;
    }
    let names: Vec<String> = silent.iter().map(|r| r.to_string()).collect();
    let (noun, verb) = if silent.len() == 1 { ("Rank", "has") } else { ("Ranks", "have") };
    Error::msg(format!(
        "{error}\n{noun} {} of {} {verb} stopped answering: exited, killed or hung (its own log says which). The other ranks stop too.",
        names.join(", "),
        env.world_size
    ))
}

/// Whether `key` is in the store; an error when the store cannot be reached.
fn present(store: Raw, key: &str) -> crate::Result<bool> {
    let key = c_string(key)?;
    let mut found = 0;
    call("store", |e, n| unsafe {
        // SAFETY: as above; `found` outlives the call.
        ffi::tuna_store_check(store, key.as_ptr(), &mut found, e, n)
    })?;
    Ok(found != 0)
}
