//! Ending this process when the process that owns it is gone.
//!
//! Ralph names itself in `RALPH_MCP_OWNER_PID` when it spawns a server. A
//! parent-death signal is no help there: Ralph respawns servers from a
//! supervisor thread, and the kernel sends that signal when the spawning
//! *thread* ends. So the owner is watched as a process, through a pidfd.

use std::time::Duration;

/// How the watch ended the process, for the log line before exiting.
fn gone(owner: u32) -> ! {
    tracing::warn!(owner, "the owning process is gone; exiting");
    std::process::exit(0)
}

/// Exits at once (status 0) when `owner` is not this process's parent;
/// otherwise starts a thread that exits the process as soon as `owner` ends.
///
/// The wait is a `poll` on a pidfd, so it costs nothing while the owner lives
/// and acts within microseconds of its death; kernels without `pidfd_open` get
/// a once-a-second check of the parent pid.
pub fn exit_when_owner_exits(owner: u32) -> std::io::Result<()> {
    if rustix::process::getppid().map(|p| p.as_raw_nonzero().get() as u32) != Some(owner) {
        gone(owner);
    }
    let pid = rustix::process::Pid::from_raw(owner as i32)
        .ok_or_else(|| std::io::Error::other("owner pid 0"))?;
    let pidfd = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty());
    std::thread::Builder::new()
        .name("owner-watch".into())
        .spawn(move || match pidfd {
            Ok(fd) => {
                let mut fds = [rustix::event::PollFd::new(
                    &fd,
                    rustix::event::PollFlags::IN,
                )];
                // Readable once the owner has exited; EINTR just polls again.
                while rustix::event::poll(&mut fds, None).is_err() {}
                gone(owner);
            }
            Err(_) => loop {
                std::thread::sleep(Duration::from_secs(1));
                if rustix::process::getppid().map(|p| p.as_raw_nonzero().get() as u32)
                    != Some(owner)
                {
                    gone(owner);
                }
            },
        })?;
    Ok(())
}
