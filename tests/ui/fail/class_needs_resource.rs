use sidefx::side_effect;

// `fs.write` acts on a path, so the builtin must say which argument it is.
#[side_effect(class = "fs.write")]
async fn write_file(target: &str, text: &str) -> Result<(), sidefx::Error> {
    let _ = (target, text);
    Ok(())
}

// `process.exec` needs a command: a path alone (the working directory) is not enough.
#[side_effect(class = "process.exec", path(cwd))]
async fn exec_at(cwd: &str, argv: Vec<String>) -> Result<(), sidefx::Error> {
    let _ = (cwd, argv);
    Ok(())
}

// A custom class declared with `resource = "url"` in Cargo.toml.
#[side_effect(class = "payments.webhook")]
async fn notify(endpoint: String) -> Result<(), sidefx::Error> {
    let _ = endpoint;
    Ok(())
}

fn main() {}
