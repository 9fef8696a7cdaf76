use sidefx::side_effect;

#[side_effect(class = "fs.mkdir", no_resource, path(path))]
async fn mkdir(path: &str) -> Result<(), sidefx::Error> {
    let _ = path;
    Ok(())
}

fn main() {}
