//! The tour's builtins: real side effects in a scratch workspace, each one annotated, so each is
//! registered at link time and runs only when its tier allows.

use std::fmt;
use std::path::Path;

use sidefx::side_effect;

/// What a tour builtin can fail with. A refused call arrives as [`ToolError::Refused`] through
/// `From<sidefx::Error>`, which `#[side_effect]` requires.
///
/// ```
/// let e = sidefx_examples::tour::ToolError::from(sidefx::Error::Config("x".into()));
/// assert!(e.refusal().is_some());
/// ```
#[derive(Debug)]
pub enum ToolError {
    /// sidefx did not let the body run (or could not decide).
    Refused(sidefx::Error),
    /// The side effect itself failed.
    Io(std::io::Error),
    /// A process exited unsuccessfully.
    Exit {
        /// The program that ran.
        program: String,
        /// Its exit code, if it had one.
        code: Option<i32>,
    },
}

impl ToolError {
    /// The refusal, when sidefx refused the call.
    pub fn refusal(&self) -> Option<&sidefx::Error> {
        match self {
            ToolError::Refused(e) => Some(e),
            _ => None,
        }
    }
}

impl From<sidefx::Error> for ToolError {
    fn from(e: sidefx::Error) -> Self {
        ToolError::Refused(e)
    }
}

impl From<std::io::Error> for ToolError {
    fn from(e: std::io::Error) -> Self {
        ToolError::Io(e)
    }
}

impl fmt::Display for ToolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ToolError::Refused(e) => write!(f, "{e}"),
            ToolError::Io(e) => write!(f, "{e}"),
            ToolError::Exit { program, code } => write!(f, "{program} exited with {code:?}"),
        }
    }
}

impl std::error::Error for ToolError {}

/// Writes `text` to `path` inside the workspace `root` (`root` is context, not recorded).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let root = std::env::temp_dir();
/// let name = format!("sidefx-doc-write-{}.txt", std::process::id());
/// sidefx_examples::tour::write_file(&root, &name, "hi").await.unwrap();
/// assert_eq!(std::fs::read_to_string(root.join(&name)).unwrap(), "hi");
/// # std::fs::remove_file(root.join(&name)).unwrap();
/// # });
/// ```
#[side_effect(class = "fs.write", path(path), skip(root))]
pub async fn write_file(root: &Path, path: &str, text: &str) -> Result<String, ToolError> {
    tokio::fs::write(root.join(path), text).await?;
    Ok(format!("wrote {path}"))
}

/// Deletes `path` inside the workspace `root`.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let root = std::env::temp_dir();
/// let name = format!("sidefx-doc-delete-{}.txt", std::process::id());
/// std::fs::write(root.join(&name), "x").unwrap();
/// sidefx_examples::tour::delete_file(&root, &name).await.unwrap();
/// assert!(!root.join(&name).exists());
/// # });
/// ```
#[side_effect(class = "fs.delete", path(path), skip(root))]
pub async fn delete_file(root: &Path, path: &str) -> Result<String, ToolError> {
    tokio::fs::remove_file(root.join(path)).await?;
    Ok(format!("deleted {path}"))
}

/// Runs the command `argv` (program, then arguments) as a child process in the workspace
/// `root`; returns its output. `argv` is the call's command resource, so policy rules can
/// match it token by token.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let out = sidefx_examples::tour::exec(&std::env::temp_dir(), &["echo", "hi"]).await.unwrap();
/// assert_eq!(out, "ran echo: hi");
/// # });
/// ```
#[side_effect(class = "process.exec", command(argv), skip(root))]
pub async fn exec(root: &Path, argv: &[&str]) -> Result<String, ToolError> {
    let Some((program, args)) = argv.split_first() else {
        return Err(ToolError::Exit {
            program: String::new(),
            code: None,
        });
    };
    let out = tokio::process::Command::new(program)
        .args(args)
        .current_dir(root)
        .output()
        .await?;
    if !out.status.success() {
        return Err(ToolError::Exit {
            program: (*program).to_owned(),
            code: out.status.code(),
        });
    }
    Ok(format!(
        "ran {program}: {}",
        String::from_utf8_lossy(&out.stdout).trim()
    ))
}

/// Runs the shell line `line` with `sh -c` in the workspace `root`; returns its output. The
/// line is the call's command resource: rules split it on `&&`, `;`, `|` and the like, and
/// every segment must be allowed for a looser rule to apply.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let out = sidefx_examples::tour::shell(&std::env::temp_dir(), "echo hi").await.unwrap();
/// assert_eq!(out, "ran sh: hi");
/// # });
/// ```
#[side_effect(class = "process.exec", command(line), skip(root))]
pub async fn shell(root: &Path, line: &str) -> Result<String, ToolError> {
    let out = tokio::process::Command::new("sh")
        .args(["-c", line])
        .current_dir(root)
        .output()
        .await?;
    if !out.status.success() {
        return Err(ToolError::Exit {
            program: "sh".to_owned(),
            code: out.status.code(),
        });
    }
    Ok(format!("ran sh: {}", String::from_utf8_lossy(&out.stdout).trim()))
}

/// Pushes `branch`. A stand-in for a remote: the push is appended to `remote.log` in the
/// workspace, so the tour can show which pushes happened.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let root = std::env::temp_dir().join(format!("sidefx-doc-push-{}", std::process::id()));
/// std::fs::create_dir_all(&root).unwrap();
/// sidefx_examples::tour::git_push(&root, "main").await.unwrap();
/// assert_eq!(std::fs::read_to_string(root.join("remote.log")).unwrap(), "pushed main\n");
/// # std::fs::remove_dir_all(&root).unwrap();
/// # });
/// ```
#[side_effect(class = "git.write", name = "git.push", skip(root))]
pub async fn git_push(root: &Path, branch: &str) -> Result<String, ToolError> {
    use tokio::io::AsyncWriteExt;
    let mut remote = tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(root.join("remote.log"))
        .await?;
    remote.write_all(format!("pushed {branch}\n").as_bytes()).await?;
    remote.flush().await?; // tokio writes in the background until flushed
    Ok(format!("pushed {branch}"))
}

/// Charges a card: the custom class `payments.charge`, declared in this crate's `Cargo.toml`.
/// The card token is redacted from every record. Appends to `ledger.log` in the workspace.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let root = std::env::temp_dir().join(format!("sidefx-doc-charge-{}", std::process::id()));
/// std::fs::create_dir_all(&root).unwrap();
/// sidefx_examples::tour::charge_card(&root, 4200, "tok_visa").await.unwrap();
/// assert!(std::fs::read_to_string(root.join("ledger.log")).unwrap().contains("4200"));
/// # std::fs::remove_dir_all(&root).unwrap();
/// # });
/// ```
#[side_effect(class = "payments.charge", skip(root), redact(card_token))]
pub async fn charge_card(root: &Path, cents: u64, card_token: &str) -> Result<String, ToolError> {
    use tokio::io::AsyncWriteExt;
    let _ = card_token; // a real runtime would hand it to the payment provider
    let mut ledger = tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(root.join("ledger.log"))
        .await?;
    ledger.write_all(format!("charged {cents}\n").as_bytes()).await?;
    ledger.flush().await?;
    Ok(format!("charged {cents} cents"))
}
