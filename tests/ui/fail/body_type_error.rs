use sidefx::side_effect;

#[side_effect(class = "fs.write", path(path))]
async fn write_file(path: &str) -> Result<usize, sidefx::Error> {
    let _ = path;
    Ok("not a number")
}

fn main() {}
