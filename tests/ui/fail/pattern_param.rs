use sidefx::side_effect;

#[side_effect(class = "fs.copy")]
async fn copy_file((from, to): (String, String)) -> Result<(), sidefx::Error> {
    let _ = (from, to);
    Ok(())
}

fn main() {}
