// `no_resource`: a builtin of a class that carries a resource kind, which touches none that a
// caller chooses (here, a fresh directory under the system's temp dir).
use sidefx::side_effect;

#[side_effect(class = "fs.mkdtemp", no_resource)]
async fn mkdtemp() -> Result<std::path::PathBuf, sidefx::Error> {
    Ok(std::env::temp_dir())
}

// Classes without a resource kind need neither a resource nor the opt-out.
#[side_effect(class = "store.write")]
async fn store_set(key: &str) -> Result<(), sidefx::Error> {
    let _ = key;
    Ok(())
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(mkdtemp()).unwrap();
    rt.block_on(store_set("k")).unwrap();
    assert!(sidefx::registry::lookup("mkdtemp").unwrap().resources.is_empty());
}
