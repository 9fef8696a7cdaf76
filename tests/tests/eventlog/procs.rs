//! Real processes for the fault tests: the helper `sidefx-log-stress` (this package), the
//! `sidefx` CLI, and private PostgreSQL clusters from `scripts/with-postgres`.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub const HELPER: &str = env!("CARGO_BIN_EXE_sidefx-log-stress");
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/with-postgres");
/// Only a hang reaches it; then the test fails instead of hanging.
pub const HANG: Duration = Duration::from_secs(180);

/// Waits for each child and returns its stdout; panics with its stderr if it failed.
pub fn wait_all(children: Vec<Child>) -> Vec<String> {
    children
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "helper failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout).unwrap()
        })
        .collect()
}

/// A helper process whose stdout lines arrive on a channel.
pub struct Proc {
    pub child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    pub seen: Vec<String>,
}

impl Proc {
    pub fn helper(args: &[&str]) -> Proc {
        let mut child = Command::new(HELPER)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Proc {
            stdin: child.stdin.take(),
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// The next line (`None` once the process closed its stdout).
    pub fn next_line(&mut self) -> Option<String> {
        match self.lines.recv_timeout(HANG) {
            Ok(line) => {
                self.seen.push(line.clone());
                Some(line)
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => None,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                panic!("a helper printed nothing for {} s", HANG.as_secs())
            }
        }
    }

    /// Reads lines until one starts with `prefix`; returns it.
    pub fn until(&mut self, prefix: &str) -> String {
        loop {
            match self.next_line() {
                Some(line) if line.starts_with(prefix) => return line,
                Some(_) => {}
                None => panic!(
                    "the helper exited before printing {prefix:?}; it printed {:?}",
                    self.seen
                ),
            }
        }
    }

    /// Tells a `trust`/`writer` helper to start.
    pub fn go(&mut self) {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "go").unwrap();
        stdin.flush().unwrap();
    }

    /// Lines so far that start with `committed`.
    pub fn committed(&self) -> usize {
        self.seen.iter().filter(|l| l.starts_with("committed ")).count()
    }

    /// SIGKILL, then every line it printed.
    pub fn kill(mut self) -> Vec<String> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(10)) {
            self.seen.push(line);
        }
        self.seen
    }

    /// Waits for a clean exit, then every line it printed.
    pub fn finish(mut self) -> Vec<String> {
        while self.next_line().is_some() {}
        let status = self.child.wait().unwrap();
        assert!(status.success(), "helper failed; it printed {:?}", self.seen);
        self.seen
    }
}

/// The `sidefx` CLI of this build (`target/<profile>/sidefx`), rebuilt once per test process
/// unless it is newer than this test binary: a CLI left over from an older build would test
/// old code (two fault tests once failed against a stale one).
pub fn cli() -> PathBuf {
    static CLI: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    CLI.get_or_init(|| {
        let exe = std::env::current_exe().unwrap();
        let profile_dir = exe.parent().unwrap().parent().unwrap().to_path_buf(); // target/<profile>/deps/..
        let bin = profile_dir.join(format!("sidefx{}", std::env::consts::EXE_SUFFIX));
        let modified = |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        let fresh = matches!((modified(&bin), modified(&exe)), (Some(b), Some(e)) if b >= e);
        if !fresh {
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            let status = Command::new(cargo)
                .args(["build", "-q", "-p", "sidefx-cli"])
                .status()
                .unwrap();
            assert!(
                status.success() && bin.exists(),
                "cannot build the sidefx CLI at {}",
                bin.display()
            );
        }
        bin
    })
    .clone()
}

/// Runs the CLI; returns (success, stdout, stderr).
pub fn sidefx(url: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(cli())
        .args(args)
        .arg("--log")
        .arg(url)
        .env_remove("SIDEFX_LOG")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// A private PostgreSQL cluster (the fault tests restart it), stopped and deleted on drop.
pub struct Cluster {
    dir: String,
    pub url: String,
}

impl Cluster {
    pub fn start() -> Cluster {
        let out = Command::new(SCRIPT).arg("--start").output().unwrap();
        assert!(
            out.status.success(),
            "cannot start a cluster: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        let mut lines = text.lines();
        let (dir, url) = (lines.next().unwrap().to_owned(), lines.next().unwrap().to_owned());
        Cluster { dir, url }
    }

    /// `pg_ctl restart -m fast`: every client connection is cut.
    pub fn restart(&self) {
        let out = Command::new(SCRIPT)
            .args(["--restart", &self.dir])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "restart failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new(SCRIPT).args(["--stop", &self.dir]).output();
    }
}
