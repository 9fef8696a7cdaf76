use sidefx::side_effect;

struct Handle(u32);

#[derive(serde::Serialize)]
struct FileId(u64);

#[side_effect(class = "fs.delete", path(file), skip(handle))]
async fn delete_file(handle: &Handle, file: FileId) -> Result<(), sidefx::Error> {
    let _ = (handle.0, file.0);
    Ok(())
}

fn main() {}
