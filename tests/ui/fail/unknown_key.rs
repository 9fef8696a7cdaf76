use sidefx::side_effect;

#[side_effect(class = "fs.write", path(path), skp(path))]
async fn write_file(path: &str) -> Result<(), sidefx::Error> {
    let _ = path;
    Ok(())
}

fn main() {}
