//! File confinement that the kernel enforces. Every allowed root is held open as
//! a directory fd, and every read, list, walk, stat, write, rename, copy and
//! delete opens what it touches beneath that fd (`openat2` with
//! `RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS`, or an `O_NOFOLLOW` walk where
//! `openat2` is missing) and then works on fds with `*at` calls. No path is
//! checked and then opened again by name, so a component swapped for a symlink
//! between two calls cannot lead outside.
//!
//! - [`roots`]: the roots and where a client's path lies beneath them.
//! - [`beneath`]: the confined open itself.
//! - [`ops`]: regular-file reads that never block, atomic writes, directories,
//!   removal, temp-file sweeping, per-path mutation locks.
//! - [`walk`]: the recursive walk with ripgrep's ignore rules.

pub mod agent_dir;
pub mod beneath;
pub mod ops;
pub mod roots;
pub mod walk;

pub use agent_dir::AgentDir;
pub use roots::{AllowedRoots, Located, PathError, normalize_lexically};
