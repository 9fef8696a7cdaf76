use sidefx::side_effect;

#[side_effect(class = "fs.write", capability = "workspace.delete", path(path))]
async fn write_file(path: &str) -> Result<(), sidefx::Error> {
    let _ = path;
    Ok(())
}

fn main() {}
