// `crate = ".."`: the generated code reaches the runtime through the given path. Here the
// dependency is renamed in source; `sidefx-fixture-renamed` does it in Cargo.toml, where the
// name `sidefx` does not exist at all.
extern crate sidefx as my_sidefx;

#[my_sidefx::side_effect(class = "fs.mkdir", path(path), crate = "my_sidefx")]
async fn mkdir(path: String) -> Result<String, my_sidefx::Error> {
    Ok(path)
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    assert_eq!(rt.block_on(mkdir("out".into())).unwrap(), "out");
    assert_eq!(my_sidefx::registry::lookup("mkdir").unwrap().class, "fs.mkdir");
}
