//! Logoff through the QEMU guest agent (`virDomainQemuAgentCommand`): ping it,
//! run the configured logoff command with `guest-exec`, wait for it to exit.
//! Blocking.

use super::error::LibvirtError;
use super::power::{Power, power};
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};
use virt::domain::Domain;

/// The environment variable that carries the logoff message into the guest.
pub(crate) const MESSAGE_ENV: &str = "DESKPLANE_LOGOFF_MESSAGE";

/// Logs every user of the desktop off by running `command` in the guest.
pub(crate) fn logoff(
    dom: &Domain,
    id: &str,
    command: &[String],
    message: Option<&str>,
    timeout_secs: i32,
) -> Result<(), LibvirtError> {
    match power(dom, id)? {
        // Nobody is logged on to a machine that is off.
        Power::Off => return Ok(()),
        Power::Saved => {
            return Err(LibvirtError::NoAgent {
                desktop_id: id.to_owned(),
                detail: "the desktop is hibernated; start it to log its users off".to_owned(),
            });
        }
        Power::Running | Power::Paused | Power::Suspended => {}
    }
    let agent = Agent {
        dom,
        id,
        timeout_secs,
    };
    agent
        .call::<(), Empty>("guest-ping", None)
        .map_err(|detail| LibvirtError::NoAgent {
            desktop_id: id.to_owned(),
            detail: format!("{detail} (is qemu-guest-agent installed and running in the guest?)"),
        })?;

    let (path, args) = command.split_first().ok_or_else(|| {
        LibvirtError::Invalid("libvirt config: `logoff_command` is empty".to_owned())
    })?;
    let exec = Exec {
        path,
        arg: args,
        env: vec![format!("{MESSAGE_ENV}={}", message.unwrap_or_default())],
        capture_output: true,
    };
    let failed = |detail: String| LibvirtError::Agent {
        desktop_id: id.to_owned(),
        action: "log users off",
        detail,
    };
    let started: Reply<ExecStarted> = agent.call("guest-exec", Some(&exec)).map_err(failed)?;
    let deadline = Instant::now() + Duration::from_secs(u64::from(timeout_secs.unsigned_abs()));
    loop {
        let status: Reply<ExecStatus> = agent
            .call(
                "guest-exec-status",
                Some(&Pid {
                    pid: started.ret.pid,
                }),
            )
            .map_err(failed)?;
        if status.ret.exited {
            return match status.ret.exitcode {
                Some(0) | None => Ok(()),
                Some(code) => Err(failed(format!(
                    "the logoff command exited with code {code}"
                ))),
            };
        }
        if Instant::now() >= deadline {
            return Err(failed(format!(
                "the logoff command did not finish within {timeout_secs} s"
            )));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

struct Agent<'a> {
    dom: &'a Domain,
    id: &'a str,
    timeout_secs: i32,
}

impl Agent<'_> {
    /// Runs one agent command; the error is libvirt's message.
    fn call<A: Serialize, R: for<'de> Deserialize<'de>>(
        &self,
        execute: &str,
        arguments: Option<&A>,
    ) -> Result<R, String> {
        let request = Request { execute, arguments };
        let text = serde_json::to_string(&request).map_err(|e| e.to_string())?;
        let reply = self.dom.qemu_agent_command(&text, self.timeout_secs, 0).map_err(|e| {
            tracing::debug!(desktop_id = self.id, execute, error = %e, "guest agent command failed");
            e.message().to_owned()
        })?;
        serde_json::from_str(&reply).map_err(|e| format!("unexpected answer to {execute}: {e}"))
    }
}

#[derive(Serialize)]
struct Request<'a, A> {
    execute: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    arguments: Option<&'a A>,
}

/// Any answer whose content does not matter (`guest-ping`'s `{"return": {}}`).
#[derive(Deserialize)]
struct Empty {}

#[derive(Serialize)]
struct Exec<'a> {
    path: &'a str,
    arg: &'a [String],
    env: Vec<String>,
    #[serde(rename = "capture-output")]
    capture_output: bool,
}

#[derive(Serialize)]
struct Pid {
    pid: i64,
}

#[derive(Deserialize)]
struct Reply<T> {
    #[serde(rename = "return")]
    ret: T,
}

#[derive(Deserialize)]
struct ExecStarted {
    pid: i64,
}

#[derive(Deserialize)]
struct ExecStatus {
    exited: bool,
    exitcode: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_qga_json() {
        let exec = Exec {
            path: "/bin/sh",
            arg: &["-c".to_owned(), "true".to_owned()],
            env: vec![format!("{MESSAGE_ENV}=bye \"all\"")],
            capture_output: true,
        };
        let text = serde_json::to_string(&Request {
            execute: "guest-exec",
            arguments: Some(&exec),
        })
        .expect("json");
        assert_eq!(
            text,
            r#"{"execute":"guest-exec","arguments":{"path":"/bin/sh","arg":["-c","true"],"env":["DESKPLANE_LOGOFF_MESSAGE=bye \"all\""],"capture-output":true}}"#
        );
        let ping = serde_json::to_string(&Request::<()> {
            execute: "guest-ping",
            arguments: None,
        })
        .expect("json");
        assert_eq!(ping, r#"{"execute":"guest-ping"}"#);
        let s: Reply<ExecStatus> =
            serde_json::from_str(r#"{"return": {"exitcode": 3, "exited": true, "out-data": ""}}"#)
                .expect("reply");
        assert_eq!((s.ret.exited, s.ret.exitcode), (true, Some(3)));
    }
}
