// `command(..)`: an argv (`Vec<String>`, `&[String]`, `&[&str]`) or a shell line (`&str`, `String`).
use sidefx::registry;
use sidefx::resource::{ResourceKind, ResourceSpec};
use sidefx::side_effect;

#[side_effect(class = "process.exec", command(argv))]
async fn exec(argv: Vec<String>) -> Result<(), sidefx::Error> {
    let _ = argv;
    Ok(())
}

#[side_effect(class = "process.exec", name = "exec_at", path(cwd), command(argv))]
async fn exec_at(cwd: &str, argv: &[&str]) -> Result<(), sidefx::Error> {
    let _ = (cwd, argv);
    Ok(())
}

#[side_effect(class = "process.exec", command(argv))]
async fn exec_slice(argv: &[String]) -> Result<(), sidefx::Error> {
    let _ = argv;
    Ok(())
}

#[side_effect(class = "process.exec", command(line))]
async fn shell(line: &str) -> Result<(), sidefx::Error> {
    let _ = line;
    Ok(())
}

#[side_effect(class = "process.exec", command(line))]
async fn shell_owned(line: String) -> Result<(), sidefx::Error> {
    let _ = line;
    Ok(())
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(exec(vec!["cargo".into(), "test".into()])).unwrap();
    rt.block_on(exec_at("src", &["ls"])).unwrap();
    rt.block_on(exec_slice(&["ls".to_owned()])).unwrap();
    rt.block_on(shell("cargo test")).unwrap();
    rt.block_on(shell_owned("cargo test".into())).unwrap();
    assert_eq!(
        registry::lookup("exec_at").unwrap().resources,
        &[
            ResourceSpec::new(ResourceKind::Path, "cwd"),
            ResourceSpec::new(ResourceKind::Command, "argv")
        ]
    );
}
