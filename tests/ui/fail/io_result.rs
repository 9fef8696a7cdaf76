// `std::io::Error` is another crate's type: `impl From<sidefx::Error> for std::io::Error` would
// be E0117, so the error must ask for the user's own error type instead.
use sidefx::side_effect;

#[side_effect(class = "fs.write", path(path))]
async fn write_file(path: String, text: String) -> std::io::Result<()> {
    std::fs::write(path, text)
}

#[side_effect(class = "fs.delete", path(path))]
async fn delete_file(path: String) -> Result<(), String> {
    std::fs::remove_file(path).map_err(|e| e.to_string())
}

fn main() {}
