use sidefx::side_effect;

#[derive(Debug)]
struct ToolError;

#[side_effect(class = "fs.delete", path(path))]
async fn delete_file(path: &str) -> Result<(), ToolError> {
    let _ = path;
    Ok(())
}

fn main() {}
