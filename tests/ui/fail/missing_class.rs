use sidefx::side_effect;

#[side_effect(name = "write_file")]
async fn write_file(path: &str) -> Result<(), sidefx::Error> {
    let _ = path;
    Ok(())
}

fn main() {}
