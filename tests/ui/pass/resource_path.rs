// `path(..)` with one or more arguments of any `AsRef<Path>` type, `impl AsRef<Path>` too.
use std::path::{Path, PathBuf};

use sidefx::registry;
use sidefx::resource::{ResourceKind, ResourceSpec};
use sidefx::side_effect;

#[side_effect(class = "fs.copy", path(from, to))]
async fn copy_file(from: &Path, to: PathBuf) -> Result<u64, sidefx::Error> {
    let _ = (from, to);
    Ok(0)
}

#[side_effect(class = "fs.delete", path(path))]
async fn delete_file(path: impl AsRef<Path> + serde::Serialize + Send) -> Result<(), sidefx::Error> {
    let _ = path.as_ref();
    Ok(())
}

#[side_effect(class = "fs.write", path(r#dir, file))]
async fn write_in(r#dir: &str, file: String, text: &str) -> Result<(), sidefx::Error> {
    let _ = (r#dir, file, text);
    Ok(())
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(copy_file(Path::new("a"), PathBuf::from("b"))).unwrap();
    rt.block_on(delete_file("a")).unwrap();
    rt.block_on(write_in("src", "a.rs".into(), "x")).unwrap();
    assert_eq!(
        registry::lookup("copy_file").unwrap().resources,
        &[
            ResourceSpec::new(ResourceKind::Path, "from"),
            ResourceSpec::new(ResourceKind::Path, "to")
        ]
    );
    assert_eq!(
        registry::lookup("write_in").unwrap().resources,
        &[
            ResourceSpec::new(ResourceKind::Path, "dir"),
            ResourceSpec::new(ResourceKind::Path, "file")
        ]
    );
}
