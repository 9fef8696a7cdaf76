use sidefx::side_effect;

#[side_effect(class = "fs.copy", path(from, dest))]
async fn copy_file(from: &str, to: &str) -> Result<(), sidefx::Error> {
    let _ = (from, to);
    Ok(())
}

fn main() {}
