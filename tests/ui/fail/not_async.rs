use sidefx::side_effect;

#[side_effect(class = "fs.write", path(path))]
fn write_file(path: &str) -> Result<(), sidefx::Error> {
    let _ = path;
    Ok(())
}

fn main() {
    // The function is still emitted: calling it compiles, so this is the only error.
    let _ = write_file("a.txt");
}
