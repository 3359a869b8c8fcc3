//! Two link settings that shorten every start of `ralph-mcp` on Linux (it starts
//! once per supervised run and per restart, and a cold start is a benchmark
//! target), each with a switch to link without it:
//!
//! - Packed relative relocations (`DT_RELR`): a binary of this size carries ~48k
//!   relative relocations, which the dynamic loader reads and applies at every
//!   start. Packed, they take 14 KiB instead of 1.1 MiB and start-up is about
//!   0.4 ms shorter. The binary stays position-independent (ASLR): linking it at
//!   a fixed address would save another half millisecond, and that is not worth
//!   giving up. Needs binutils ≥ 2.38 or lld, and glibc ≥ 2.36 to run;
//!   `RALPH_MCP_NO_RELR=1` links without it.
//! - The unwinder linked in from GCC's static `libgcc_eh.a` instead of loading
//!   `libgcc_s.so.1`: one shared library fewer to map, relocate and bind, and
//!   no run of its constructor, which probes the CPU with `cpuid` (a trap to the
//!   hypervisor in a VM) — about 0.1 ms. Panics still unwind and are caught as
//!   before. `RALPH_MCP_SHARED_LIBGCC=1` links against `libgcc_s` as Rust does
//!   by default.

fn main() {
    println!("cargo:rerun-if-env-changed=RALPH_MCP_NO_RELR");
    println!("cargo:rerun-if-env-changed=RALPH_MCP_SHARED_LIBGCC");
    let target = |key: &str| std::env::var(key).unwrap_or_default();
    let linux = target("CARGO_CFG_TARGET_OS") == "linux";
    if linux && std::env::var_os("RALPH_MCP_NO_RELR").is_none() {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
    let glibc = linux && target("CARGO_CFG_TARGET_ENV") == "gnu";
    let static_crt = target("CARGO_CFG_TARGET_FEATURE")
        .split(',')
        .any(|f| f == "crt-static");
    if glibc && !static_crt && std::env::var_os("RALPH_MCP_SHARED_LIBGCC").is_none() {
        // Named before the standard library's `-lgcc_s`, so the `_Unwind_*`
        // symbols resolve here and `--as-needed` drops `libgcc_s`.
        println!("cargo:rustc-link-lib=static:-bundle=gcc_eh");
    }
}
