//! `ralph-mcp __sandbox <policy> -- argv…`: runs one job and leaves nothing behind.
//!
//! Single-threaded on purpose: the job's Landlock domain is built after `fork`
//! in the child, which is only safe when no other thread exists.

use std::collections::{HashMap, HashSet};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use nix::sys::signal::{SigSet, SigmaskHow, Signal, kill, sigprocmask};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::Pid;

use super::{Mode, Policy, landlock_rules};

/// The signals the shim takes through its signalfd (SIGINT only when not interactive).
const HANDLED: &[Signal] = &[
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGHUP,
    Signal::SIGCHLD,
];

fn signal_set(signals: &[Signal]) -> SigSet {
    let mut set = SigSet::empty();
    for s in signals {
        set.add(*s);
    }
    set
}

/// How long descendants get between SIGTERM and SIGKILL when the job is stopped.
const GRACE: Duration = Duration::from_millis(1500);

fn fail(msg: &str) -> i32 {
    eprintln!("ralph-mcp sandbox: {msg}");
    126
}

/// Entry point; returns the exit code (a signal that ended the command is re-raised).
pub fn main(args: &[String]) -> i32 {
    let (Some(spec), Some(sep)) = (args.first(), args.get(1)) else {
        return fail("usage: __sandbox <policy-json> -- <program> [args…]");
    };
    if sep != "--" || args.len() < 3 {
        return fail("usage: __sandbox <policy-json> -- <program> [args…]");
    }
    let policy: Policy = match serde_json::from_str(spec) {
        Ok(p) => p,
        Err(e) => return fail(&format!("bad policy: {e}")),
    };
    let argv = &args[2..];
    // Orphans of the job come to us, not to init; we hear of our parent's death.
    let _ = rustix::process::set_child_subreaper(Some(rustix::process::getpid()));
    let _ = rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::TERM));
    let parent = rustix::process::getppid();
    if parent.is_none_or(rustix::process::Pid::is_init) {
        return fail("the server is already gone");
    }
    let mask = if policy.interactive {
        // The terminal's interrupt is the program's to handle, not ours.
        // SAFETY: setting dispositions to SIG_IGN.
        unsafe {
            let _ = nix::sys::signal::signal(Signal::SIGINT, nix::sys::signal::SigHandler::SigIgn);
            let _ = nix::sys::signal::signal(Signal::SIGQUIT, nix::sys::signal::SigHandler::SigIgn);
        }
        signal_set(&[Signal::SIGTERM, Signal::SIGHUP, Signal::SIGCHLD])
    } else {
        signal_set(HANDLED)
    };
    if sigprocmask(SigmaskHow::SIG_BLOCK, Some(&mask), None).is_err() {
        return fail("cannot block signals");
    }
    let sfd = match SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK) {
        Ok(s) => s,
        Err(e) => return fail(&format!("signalfd: {e}")),
    };
    let tmp = match &policy.tmp_parent {
        Some(parent) => match make_tmp(parent) {
            Ok(t) => Some(t),
            Err(e) => {
                return fail(&format!(
                    "cannot make the job's temp directory under {}: {e}",
                    parent.display()
                ));
            }
        },
        None => None,
    };
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..]);
    if let Some(t) = &tmp {
        cmd.env("TMPDIR", t).env("TMP", t).env("TEMP", t);
    }
    let child_policy = policy.clone();
    let child_tmp = tmp.clone();
    // SAFETY: this process is single-threaded, so allocating after fork is sound.
    unsafe {
        cmd.pre_exec(move || {
            sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&signal_set(HANDLED)), None)
                .map_err(std::io::Error::from)?;
            // Ignored dispositions survive exec: give the program its defaults back.
            nix::sys::signal::signal(Signal::SIGINT, nix::sys::signal::SigHandler::SigDfl)
                .map_err(std::io::Error::from)?;
            nix::sys::signal::signal(Signal::SIGQUIT, nix::sys::signal::SigHandler::SigDfl)
                .map_err(std::io::Error::from)?;
            if child_policy.mode != Mode::Off {
                landlock_rules::enter(&child_policy, child_tmp.as_ref())
                    .map_err(|e| std::io::Error::other(format!("sandbox: {e}")))?;
            }
            Ok(())
        });
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            remove_tmp(tmp.as_ref());
            eprintln!("ralph-mcp sandbox: cannot start `{}`: {e}", argv[0]);
            return if e.kind() == std::io::ErrorKind::NotFound {
                127
            } else {
                126
            };
        }
    };
    let status = supervise(&mut child, &sfd, parent);
    remove_tmp(tmp.as_ref());
    match status {
        Some(s) => exit_like(s),
        None => 128 + libc::SIGKILL,
    }
}

/// Waits for the command; stops the whole job when told to or orphaned; then
/// removes every process the job left. Returns the command's status.
fn supervise(
    child: &mut Child,
    sfd: &SignalFd,
    parent: Option<rustix::process::Pid>,
) -> Option<ExitStatus> {
    let main_pid = child.id() as i32;
    let mut status: Option<ExitStatus> = None;
    let mut stop = false;
    loop {
        let mut fds = [rustix::event::PollFd::new(
            sfd,
            rustix::event::PollFlags::IN,
        )];
        let _ = rustix::event::poll(
            &mut fds,
            Some(&rustix::time::Timespec {
                tv_sec: 0,
                tv_nsec: 200_000_000,
            }),
        );
        while let Ok(Some(info)) = sfd.read_signal() {
            let signo = info.ssi_signo as i32;
            if signo != libc::SIGCHLD {
                stop = true;
            }
        }
        if rustix::process::getppid() != parent {
            stop = true;
        }
        reap(main_pid, &mut status);
        if status.is_some() || stop {
            break;
        }
    }
    if stop && status.is_none() {
        signal_all(Signal::SIGTERM);
        let deadline = Instant::now() + GRACE;
        while Instant::now() < deadline && !descendants().is_empty() {
            reap(main_pid, &mut status);
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    // Whatever is left (background processes, daemons, pipe holders) goes now.
    for _ in 0..500 {
        reap(main_pid, &mut status);
        if descendants().is_empty() {
            break;
        }
        signal_all(Signal::SIGKILL);
        std::thread::sleep(Duration::from_millis(5));
    }
    reap(main_pid, &mut status);
    if status.is_none() {
        status = child.wait().ok();
    }
    status
}

/// Reaps every exited child, remembering the command's own status.
fn reap(main_pid: i32, status: &mut Option<ExitStatus>) {
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(nix::sys::wait::WaitStatus::Exited(pid, code)) => {
                if pid.as_raw() == main_pid {
                    *status = Some(ExitStatus::from_raw((code & 0xff) << 8));
                }
            }
            Ok(nix::sys::wait::WaitStatus::Signaled(pid, sig, _)) => {
                if pid.as_raw() == main_pid {
                    *status = Some(ExitStatus::from_raw(sig as i32));
                }
            }
            Ok(nix::sys::wait::WaitStatus::StillAlive) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

fn signal_all(sig: Signal) {
    for pid in descendants() {
        // A stopped process must be woken to die of SIGTERM.
        if sig == Signal::SIGTERM {
            let _ = kill(Pid::from_raw(pid), Signal::SIGCONT);
        }
        let _ = kill(Pid::from_raw(pid), sig);
    }
}

/// Every live descendant of this process, from `/proc`'s parent links.
pub fn descendants() -> Vec<i32> {
    let me = std::process::id() as i32;
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // The fields after the command name (which may hold spaces and parentheses).
        let Some(rest) = stat.rsplit_once(") ").map(|(_, r)| r) else {
            continue;
        };
        let mut fields = rest.split_whitespace();
        let state = fields.next().unwrap_or("");
        let ppid = fields
            .next()
            .and_then(|p| p.parse::<i32>().ok())
            .unwrap_or(0);
        if state == "Z" || state == "X" {
            // Zombies are reaped, not killed; their children are already ours.
            if ppid == me {
                continue;
            }
        }
        children.entry(ppid).or_default().push(pid);
    }
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let mut todo = vec![me];
    while let Some(p) = todo.pop() {
        for &c in children.get(&p).map_or(&[][..], Vec::as_slice) {
            if seen.insert(c) {
                out.push(c);
                todo.push(c);
            }
        }
    }
    out
}

fn make_tmp(parent: &std::path::Path) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(parent)?;
    let dir = tempfile::Builder::new()
        .prefix("ralph-mcp-job-")
        .tempdir_in(parent)?;
    Ok(dir.keep())
}

fn remove_tmp(tmp: Option<&PathBuf>) {
    if let Some(t) = tmp {
        let _ = std::fs::remove_dir_all(t);
    }
}

/// Ends this process the way the command ended.
fn exit_like(status: ExitStatus) -> i32 {
    if let Some(code) = status.code() {
        return code;
    }
    if let Some(sig) = status.signal() {
        let _ = sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&signal_set(HANDLED)), None);
        if let Ok(s) = Signal::try_from(sig) {
            // SAFETY: resetting to the default action before re-raising.
            unsafe {
                let _ = nix::sys::signal::signal(s, nix::sys::signal::SigHandler::SigDfl);
            }
            let _ = nix::sys::signal::raise(s);
        }
        return 128 + sig;
    }
    1
}
