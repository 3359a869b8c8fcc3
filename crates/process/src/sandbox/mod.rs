//! The kernel sandbox and containment every command the server starts runs in.
//!
//! A sandboxed command is started as `ralph-mcp __sandbox <policy> -- argv…`: the
//! [`shim`] is a small single-threaded process that becomes a child subreaper,
//! makes the job's private `TMPDIR`, starts the command under a Landlock domain
//! ([`landlock_rules`]) and, when the command ends, when it is told to stop
//! (SIGTERM from the server: timeout, `exec_cancel`, client cancellation,
//! shutdown) or when the server is gone (parent-death signal, or its parent
//! changing), kills every process the job started, double-forked and `setsid`
//! ones included: they were re-parented to the shim, never to init.
//!
//! The Landlock domain allows writes only beneath the session's write roots and
//! the job's `TMPDIR`, reads beneath the readable roots and the system
//! directories a toolchain needs, denies TCP bind and connect unless the session
//! has network access, and scopes signals and abstract unix sockets to the job.
//! What the running kernel enforces is probed once ([`Support`]) and reported.

pub mod landlock_rules;
pub mod shim;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// The hidden subcommand that runs the shim.
pub const SHIM_SUBCOMMAND: &str = "__sandbox";

/// `[exec] sandbox` in `.agent/mcp.toml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Refuse to run commands when the kernel cannot sandbox them.
    Required,
    /// Sandbox what the kernel supports; warn loudly when it supports nothing.
    #[default]
    BestEffort,
    /// No Landlock domain (containment and the deny-list still apply).
    Off,
}

impl Mode {
    /// The name used in configuration and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Required => "required",
            Self::BestEffort => "best-effort",
            Self::Off => "off",
        }
    }
}

/// What one sandboxed child may do. Serialised onto the shim's command line.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Policy {
    /// Landlock mode.
    pub mode: Mode,
    /// Trees the child may read (and execute from).
    pub read: Vec<PathBuf>,
    /// Trees the child may write (and read).
    pub write: Vec<PathBuf>,
    /// TCP connect and bind allowed.
    pub network: bool,
    /// Where the job's private temp directory is made; `None`: no temp directory.
    pub tmp_parent: Option<PathBuf>,
    /// An interactive program on a terminal (the agent under `run`): the shim
    /// ignores the terminal's SIGINT/SIGQUIT, which are the program's to handle.
    #[serde(default)]
    pub interactive: bool,
}

impl Policy {
    /// Containment only, no Landlock domain: for the agent under `ralph-mcp run`,
    /// which must keep its own access to the user's files and network.
    pub fn contain_only(interactive: bool) -> Self {
        Self {
            mode: Mode::Off,
            read: Vec::new(),
            write: Vec::new(),
            network: true,
            tmp_parent: None,
            interactive,
        }
    }
}

/// System trees a toolchain reads (those that exist are added).
const SYSTEM_READ: &[&str] = &[
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/etc",
    "/opt",
    "/proc",
    "/sys",
    "/dev",
    "/run",
    "/var/lib",
    "/var/cache",
    "/nix",
    "/snap",
    "/srv",
];

/// Tool-chain directories under `$HOME` that builds read (those that exist).
const HOME_READ: &[&str] = &[
    ".cargo",
    ".rustup",
    ".pyenv",
    ".nvm",
    ".npm",
    ".local",
    ".cache",
    ".config/git",
    ".gitconfig",
    ".volta",
    ".bun",
    ".deno",
    ".go",
    "go",
    ".m2",
    ".gradle",
];

/// Device files any command may write.
pub const DEVICE_WRITE: &[&str] = &[
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/tty",
    "/dev/ptmx",
    "/dev/pts",
    "/dev/shm",
];

/// The system and tool-chain read list for this machine.
pub fn system_read_paths() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = SYSTEM_READ.iter().map(PathBuf::from).collect();
    if let Some(home) = std::env::var_os("HOME") {
        let home = PathBuf::from(home);
        out.extend(HOME_READ.iter().map(|d| home.join(d)));
    }
    out.retain(|p| p.exists());
    out
}

/// What the running kernel's Landlock enforces.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Support {
    /// The Landlock ABI version, 0 when Landlock is unavailable.
    pub abi: i32,
    /// File-system rules (ABI ≥ 1).
    pub filesystem: bool,
    /// TCP bind/connect rules (ABI ≥ 4).
    pub network: bool,
    /// Signal and abstract-socket scoping (ABI ≥ 6).
    pub scoping: bool,
}

impl Support {
    /// Asks the kernel once per process.
    pub fn probe() -> Self {
        static SUPPORT: OnceLock<Support> = OnceLock::new();
        *SUPPORT.get_or_init(|| {
            // SAFETY: landlock_create_ruleset(NULL, 0, VERSION) only returns a number.
            let abi = unsafe {
                libc::syscall(
                    libc::SYS_landlock_create_ruleset,
                    std::ptr::null::<libc::c_void>(),
                    0usize,
                    1u32, // LANDLOCK_CREATE_RULESET_VERSION
                )
            };
            let abi = i32::try_from(abi).unwrap_or(0).max(0);
            Support {
                abi,
                filesystem: abi >= 1,
                network: abi >= 4,
                scoping: abi >= 6,
            }
        })
    }
}

/// What a job actually ran under, for exec results and `/health`.
pub fn report(policy: &Policy) -> serde_json::Value {
    let support = Support::probe();
    let on = policy.mode != Mode::Off && support.filesystem;
    serde_json::json!({
        "mode": policy.mode.as_str(),
        "landlock_abi": support.abi,
        "filesystem": on,
        "network_denied": on && support.network && !policy.network,
        "signals_scoped": on && support.scoping,
        "contained": true,
    })
}

/// The path of this executable, which holds the shim.
pub fn shim_exe() -> std::io::Result<PathBuf> {
    static EXE: OnceLock<Option<PathBuf>> = OnceLock::new();
    EXE.get_or_init(|| std::env::current_exe().ok())
        .clone()
        .ok_or_else(|| {
            std::io::Error::other("cannot find the ralph-mcp executable for the sandbox shim")
        })
}

/// The shim's command line for `argv` under `policy`.
pub fn shim_args(policy: &Policy, argv: &[String]) -> Vec<String> {
    let mut out = vec![
        SHIM_SUBCOMMAND.to_owned(),
        serde_json::to_string(policy).unwrap_or_default(),
        "--".to_owned(),
    ];
    out.extend(argv.iter().cloned());
    out
}

/// True when `p` (absolute) lies inside one of `trees`.
pub fn inside(p: &Path, trees: &[PathBuf]) -> bool {
    trees.iter().any(|t| p.starts_with(t))
}
