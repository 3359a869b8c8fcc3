//! The command policy of `exec`: a deny-list applied to every pipeline segment
//! (and to the scripts of nested `sh -c`) before anything runs. It stops the
//! mistakes an agent makes; it is not a sandbox.

/// Which rules apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyLevel {
    /// `exec`: every rule.
    Bounded,
    /// `unsafe_exec` / `raw_exec`: only the VCS-write rule.
    VcsOnly,
}

/// Shell operators that make a command string a shell script.
const SHELL_OPERATORS: &[&str] = &["|", "&", ";", "<", ">", "`", "$(", "\n", "*", "?", "~", "$"];

/// True when `command` needs a shell to mean what it says.
pub fn needs_shell(command: &str) -> bool {
    SHELL_OPERATORS.iter().any(|op| command.contains(op))
}

/// Splits a shell line into pipeline segments on `|`, `||`, `&&`, `;`, `&` and
/// newlines, outside quotes. Subshell parentheses and `$(…)` bodies are split too.
pub fn segments(script: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = script.chars().peekable();
    let (mut single, mut double) = (false, false);
    while let Some(c) = chars.next() {
        match c {
            '\'' if !double => {
                single = !single;
                cur.push(c);
            }
            '"' if !single => {
                double = !double;
                cur.push(c);
            }
            '\\' if !single => {
                cur.push(c);
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            '|' | '&' | ';' | '\n' | '(' | ')' | '`' if !single && !double => {
                out.push(std::mem::take(&mut cur));
            }
            '$' if !single && chars.peek() == Some(&'(') => {
                out.push(std::mem::take(&mut cur));
            }
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Words of one segment, with leading `VAR=value` assignments and redirections removed.
fn words(segment: &str) -> Vec<String> {
    let words = shlex::split(segment)
        .unwrap_or_else(|| segment.split_whitespace().map(str::to_owned).collect());
    words
        .into_iter()
        .skip_while(|w| is_assignment(w))
        .filter(|w| !w.starts_with('>') && !w.starts_with('<') && !w.starts_with("2>"))
        .collect()
}

fn is_assignment(word: &str) -> bool {
    match word.split_once('=') {
        Some((name, _)) => {
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        }
        None => false,
    }
}

fn basename(word: &str) -> &str {
    word.rsplit('/').next().unwrap_or(word)
}

/// Wrappers that run their argument as a command.
const WRAPPERS: &[&str] = &[
    "env", "nice", "nohup", "timeout", "time", "command", "exec", "stdbuf", "ionice", "xargs",
    "setsid", "chronic",
];

/// Skips wrappers (and their options) to the command they run.
fn strip_wrappers(mut w: &[String]) -> &[String] {
    loop {
        let Some(first) = w.first() else { return w };
        let name = basename(first);
        if !WRAPPERS.contains(&name) {
            return w;
        }
        w = &w[1..];
        // Options and, for `timeout`, the duration; for `env`, assignments.
        while let Some(next) = w.first() {
            if next.starts_with('-')
                || is_assignment(next)
                || (name == "timeout" && next.chars().next().is_some_and(|c| c.is_ascii_digit()))
            {
                w = &w[1..];
            } else {
                break;
            }
        }
    }
}

const ESCALATION: &[&str] = &["sudo", "su", "doas", "pkexec", "run0"];
const CONTAINERS: &[&str] = &[
    "docker",
    "podman",
    "kubectl",
    "nerdctl",
    "buildah",
    "crictl",
    "ctr",
    "lxc",
    "lxd",
    "docker-compose",
    "helm",
    "minikube",
    "kind",
];
const NETWORK: &[&str] = &[
    "curl", "wget", "nc", "ncat", "netcat", "ssh", "scp", "sftp", "rsync", "telnet", "ftp", "socat",
];
const SHELLS: &[&str] = &["sh", "bash", "dash", "zsh", "ksh"];
/// Git subcommands that only read.
const GIT_READ: &[&str] = &[
    "status",
    "diff",
    "log",
    "show",
    "blame",
    "rev-parse",
    "ls-files",
    "ls-tree",
    "cat-file",
    "describe",
    "shortlog",
    "grep",
    "rev-list",
    "merge-base",
    "name-rev",
    "version",
    "help",
    "whatchanged",
    "diff-tree",
    "diff-files",
    "diff-index",
    "for-each-ref",
    "show-ref",
    "count-objects",
    "var",
    "check-ignore",
    "check-attr",
    "reflog",
];

/// Why a command was refused.
pub type Refusal = String;

/// Checks a whole command (a shell script or an argv) against the policy.
pub fn check_script(script: &str, level: PolicyLevel) -> Result<(), Refusal> {
    for seg in segments(script) {
        check_words(&words(&seg), level, 0)?;
    }
    Ok(())
}

/// Checks one argv against the policy.
pub fn check_argv(argv: &[String], level: PolicyLevel) -> Result<(), Refusal> {
    check_words(argv, level, 0)
}

fn check_words(words: &[String], level: PolicyLevel, depth: usize) -> Result<(), Refusal> {
    if depth > 8 {
        return Err("command nests shells too deeply to check".into());
    }
    let words = strip_wrappers(words);
    let Some(first) = words.first() else {
        return Ok(());
    };
    let name = basename(first);
    let rest = &words[1..];
    if SHELLS.contains(&name)
        && let Some(pos) = rest.iter().position(|w| {
            w == "-c" || (w.starts_with('-') && w.ends_with('c') && !w.starts_with("--"))
        })
        && let Some(script) = rest.get(pos + 1)
    {
        for seg in segments(script) {
            check_words(&self::words(&seg), level, depth + 1)?;
        }
    }
    if level == PolicyLevel::Bounded {
        if ESCALATION.contains(&name) {
            return Err(format!(
                "`{name}` escalates privileges, which exec does not allow"
            ));
        }
        if CONTAINERS.contains(&name) {
            return Err(format!(
                "`{name}` drives containers, which exec does not allow"
            ));
        }
        if NETWORK.contains(&name) && !all_targets_loopback(rest) {
            return Err(format!(
                "`{name}` reaches a host that is not loopback; only 127.0.0.1/localhost targets are allowed"
            ));
        }
        if let Some(why) = destructive(name, rest) {
            return Err(why);
        }
    }
    if let Some(why) = vcs_write(name, rest) {
        return Err(why);
    }
    Ok(())
}

fn is_loopback_target(arg: &str) -> bool {
    let host = arg
        .split_once("://")
        .map_or(arg, |(_, rest)| rest)
        .rsplit_once('@')
        .map_or_else(|| arg.split_once("://").map_or(arg, |(_, r)| r), |(_, h)| h);
    let host = host.split(['/', '?', '#']).next().unwrap_or(host);
    let host = if let Some(v6) = host.strip_prefix('[') {
        v6.split(']').next().unwrap_or(v6)
    } else {
        host.split(':').next().unwrap_or(host)
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// True when every non-option argument that could name a host is loopback.
fn all_targets_loopback(args: &[String]) -> bool {
    let targets: Vec<&String> = args
        .iter()
        .filter(|a| !a.starts_with('-'))
        .filter(|a| {
            a.contains("://")
                || a.contains('.')
                || a.contains(':')
                || a.contains('@')
                || a.as_str() == "localhost"
        })
        .collect();
    !targets.is_empty() && targets.iter().all(|t| is_loopback_target(t))
}

fn destructive(name: &str, args: &[String]) -> Option<String> {
    let protected = |a: &str| {
        let a = a.trim_end_matches('/');
        a.is_empty()
            || a == "/*"
            || a == "~"
            || a == "$HOME"
            || a == "${HOME}"
            || a == "/root"
            || a == "/home"
            || a == "/usr"
            || a == "/etc"
            || std::env::var("HOME").is_ok_and(|h| a == h.trim_end_matches('/'))
    };
    let targets: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    match name {
        "rm" | "chmod" | "chown" | "chgrp" | "shred" | "find" => {
            if let Some(t) = targets.iter().find(|t| protected(t)) {
                return Some(format!(
                    "`{name}` aimed at `{t}` would damage the system or home directory; exec does not allow it"
                ));
            }
            None
        }
        "mkfs" | "fdisk" | "parted" | "wipefs" | "shutdown" | "reboot" | "halt" | "poweroff" => {
            Some(format!(
                "`{name}` is destructive to the machine; exec does not allow it"
            ))
        }
        n if n.starts_with("mkfs.") => Some(format!(
            "`{n}` formats file systems; exec does not allow it"
        )),
        "dd" if args.iter().any(|a| a.starts_with("of=/dev/")) => {
            Some("`dd` writing to a device is not allowed".into())
        }
        _ => None,
    }
}

fn vcs_write(name: &str, args: &[String]) -> Option<String> {
    match name {
        "git" => {
            // Skip git's global options to the subcommand.
            let mut i = 0;
            while i < args.len() {
                let a = args[i].as_str();
                if a == "-C"
                    || a == "-c"
                    || a == "--git-dir"
                    || a == "--work-tree"
                    || a == "--namespace"
                {
                    i += 2;
                } else if a.starts_with('-') {
                    i += 1;
                } else {
                    break;
                }
            }
            let sub = args.get(i)?;
            let sub_args = &args[i + 1..];
            let read_only = GIT_READ.contains(&sub.as_str())
                || (sub == "branch"
                    && sub_args.iter().all(|a| {
                        matches!(
                            a.as_str(),
                            "-a" | "-r"
                                | "-v"
                                | "-vv"
                                | "--list"
                                | "--all"
                                | "--show-current"
                                | "--no-color"
                                | "--contains"
                                | "--merged"
                        )
                    }))
                || (sub == "tag"
                    && sub_args
                        .iter()
                        .all(|a| matches!(a.as_str(), "-l" | "--list" | "-n")))
                || (sub == "remote"
                    && sub_args
                        .iter()
                        .all(|a| a == "-v" || a == "show" || a == "get-url"))
                || (sub == "config"
                    && sub_args
                        .iter()
                        .any(|a| a == "--get" || a == "--list" || a == "-l" || a == "--get-all"))
                || (sub == "stash" && sub_args.first().is_some_and(|a| a == "list" || a == "show"))
                || (sub == "worktree" && sub_args.first().is_some_and(|a| a == "list"));
            if read_only {
                None
            } else {
                Some(format!(
                    "`git {sub}` writes to the repository; exec only runs read-only git (status, diff, log, show, …). The orchestrator makes commits"
                ))
            }
        }
        "hg" | "svn" | "jj" => {
            let sub = args
                .iter()
                .find(|a| !a.starts_with('-'))
                .map(String::as_str);
            match sub {
                Some(
                    "status" | "st" | "diff" | "log" | "cat" | "info" | "annotate" | "blame"
                    | "show",
                )
                | None => None,
                Some(s) => Some(format!(
                    "`{name} {s}` may write to the repository; exec does not allow VCS writes"
                )),
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn refused(s: &str) -> bool {
        check_script(s, PolicyLevel::Bounded).is_err()
    }

    #[test]
    fn escalation_containers_and_vcs_writes_are_refused() {
        for s in [
            "sudo true",
            "echo hi | sudo tee /etc/x",
            "env FOO=1 sudo ls",
            "timeout 5 doas ls",
            "docker run x",
            "git push",
            "git -C sub commit -m x",
            "cargo test && git push origin main",
            "sh -c 'git push'",
            "bash -lc \"sudo id\"",
            "echo $(git commit -am x)",
            "git branch -D main",
            "git tag v1",
        ] {
            assert!(refused(s), "{s}");
        }
    }

    #[test]
    fn network_only_to_loopback() {
        assert!(refused("curl https://example.com"));
        assert!(refused("wget http://10.0.0.1/x"));
        assert!(refused("ssh user@host.example"));
        assert!(!refused("curl -s http://127.0.0.1:8080/health"));
        assert!(!refused("curl http://localhost/x"));
        assert!(
            refused("curl"),
            "no target named: refused rather than guessed"
        );
    }

    #[test]
    fn destructive_commands_at_root_or_home_are_refused() {
        for s in [
            "rm -rf /",
            "rm -rf ~",
            "rm -rf $HOME",
            "rm -rf /*",
            "chmod -R 777 /",
            "mkfs.ext4 /dev/sda",
            "dd if=/dev/zero of=/dev/sda",
        ] {
            assert!(refused(s), "{s}");
        }
        assert!(!refused("rm -rf target"));
    }

    #[test]
    fn ordinary_commands_pass() {
        for s in [
            "cargo test",
            "git status",
            "git diff HEAD~1",
            "git log --oneline -5",
            "ls -la | grep x",
            "echo 'sudo is just text'",
            "python3 -c 'print(1)'",
            "git branch",
            "git -c color.ui=never log",
        ] {
            assert!(!refused(s), "{s}");
        }
    }

    #[test]
    fn raw_exec_only_checks_vcs_writes() {
        assert!(check_script("sudo true", PolicyLevel::VcsOnly).is_ok());
        assert!(check_script("git push", PolicyLevel::VcsOnly).is_err());
    }

    #[test]
    fn shell_detection() {
        assert!(needs_shell("a | b"));
        assert!(needs_shell("echo $HOME"));
        assert!(!needs_shell("cargo test --workspace"));
    }

    proptest! {
        #[test]
        fn the_policy_never_panics(s in ".{0,80}") {
            let _ = check_script(&s, PolicyLevel::Bounded);
            let _ = segments(&s);
        }

        #[test]
        fn a_refused_command_stays_refused_after_a_harmless_prefix(prefix in "[a-z]{1,8}( [a-z]{1,8}){0,2}") {
            let script = format!("{prefix} && git push");
            prop_assert!(refused(&script));
            let script = format!("{prefix}; sudo true");
            prop_assert!(refused(&script));
        }
    }
}
