use sidefx::side_effect;

const FS_WRITE: &str = "fs.write";

#[side_effect(class = FS_WRITE)]
async fn write_file(path: &str) -> Result<(), sidefx::Error> {
    let _ = path;
    Ok(())
}

fn main() {
    let _ = FS_WRITE;
}
