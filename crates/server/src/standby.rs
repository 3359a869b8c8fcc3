//! A warm standby: a server that `ralph-mcp run`'s supervisor starts ahead of
//! need. It does everything up to accepting (exec, session, configuration,
//! tool catalog, runtime), then waits on a pipe: one byte means "serve now"
//! (the server it stands in for is gone), end of file means "not needed" (the
//! supervisor stopped or dropped it), and the process exits quietly.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// The read end of the supervisor's pipe.
#[derive(Debug)]
pub struct StandbyGate(OwnedFd);

/// What the supervisor decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Release {
    /// Start accepting.
    Serve,
    /// Exit without serving.
    Exit,
}

impl StandbyGate {
    /// Adopts inherited descriptor `fd`, which must be the read end of a pipe.
    pub fn adopt(fd: RawFd) -> io::Result<Self> {
        if fd < 0 {
            return Err(io::Error::other(format!(
                "file descriptor {fd} is negative"
            )));
        }
        // SAFETY: fstat only inspects the descriptor.
        let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
        let st = rustix::fs::fstat(borrowed)
            .map_err(|e| io::Error::other(format!("file descriptor {fd} is not open: {e}")))?;
        if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::Fifo {
            return Err(io::Error::other(format!(
                "file descriptor {fd} is not a pipe"
            )));
        }
        // SAFETY: the descriptor is an open pipe this process inherited for
        // exactly this purpose, and nothing else owns it.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        rustix::io::fcntl_setfd(&owned, rustix::io::FdFlags::CLOEXEC)?;
        rustix::fs::fcntl_setfl(&owned, rustix::fs::OFlags::NONBLOCK)?;
        Ok(Self(owned))
    }

    /// Waits for the supervisor's decision.
    pub async fn wait(self) -> Release {
        // SAFETY: the OwnedFd moves into the AsyncFd, which keeps it open and
        // unchanged until it is dropped.
        let Ok(fd) = (unsafe { AsyncFd::register_with_interest(self.0, Interest::READABLE) })
        else {
            return Release::Exit;
        };
        loop {
            let Ok(mut ready) = fd.readable().await else {
                return Release::Exit;
            };
            let mut byte = [0u8; 1];
            match rustix::io::read(fd.get_ref(), &mut byte) {
                Ok(1) => return Release::Serve,
                Ok(_) => return Release::Exit,
                Err(rustix::io::Errno::AGAIN) => ready.clear_ready(),
                Err(rustix::io::Errno::INTR) => {}
                Err(_) => return Release::Exit,
            }
        }
    }

    /// The descriptor number (for messages).
    pub fn fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::IntoRawFd;

    fn pipe() -> (RawFd, OwnedFd) {
        let (r, w) = rustix::pipe::pipe().unwrap();
        (r.into_raw_fd(), w)
    }

    #[tokio::test]
    async fn one_byte_means_serve() {
        let (r, w) = pipe();
        let gate = StandbyGate::adopt(r).unwrap();
        rustix::io::write(&w, b"g").unwrap();
        assert_eq!(gate.wait().await, Release::Serve);
    }

    #[tokio::test]
    async fn end_of_file_means_exit() {
        let (r, w) = pipe();
        let gate = StandbyGate::adopt(r).unwrap();
        let waiting = tokio::spawn(gate.wait());
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(
            !waiting.is_finished(),
            "waits while the supervisor holds the pipe"
        );
        drop(w);
        assert_eq!(waiting.await.unwrap(), Release::Exit);
    }

    #[test]
    fn only_a_pipe_is_adopted() {
        let file = tempfile::tempfile().unwrap();
        let err = StandbyGate::adopt(file.as_raw_fd()).unwrap_err();
        assert!(err.to_string().contains("not a pipe"), "{err}");
        assert!(StandbyGate::adopt(-1).is_err());
    }
}
