use sidefx::side_effect;

// The same argument twice in one list.
#[side_effect(class = "fs.copy", path(from, from))]
async fn copy_file(from: &str, to: &str) -> Result<(), sidefx::Error> {
    let _ = (from, to);
    Ok(())
}

// The same key twice.
#[side_effect(class = "fs.move", path(from), path(to))]
async fn move_file(from: &str, to: &str) -> Result<(), sidefx::Error> {
    let _ = (from, to);
    Ok(())
}

fn main() {}
