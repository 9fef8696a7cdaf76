use sidefx::side_effect;

#[side_effect("fs.write")]
async fn write_file(path: &str) -> Result<(), sidefx::Error> {
    let _ = path;
    Ok(())
}

fn main() {}
