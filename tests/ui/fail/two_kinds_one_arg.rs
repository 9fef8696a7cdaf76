use sidefx::side_effect;

#[side_effect(class = "fs.write", path(target), url(target))]
async fn upload(target: &str) -> Result<(), sidefx::Error> {
    let _ = target;
    Ok(())
}

fn main() {}
