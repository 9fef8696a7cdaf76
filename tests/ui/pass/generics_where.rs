// Generics with a where clause: the signature is kept token for token and a generic argument
// is recorded when it is `Serialize`.
use std::fmt::Debug;

use sidefx::side_effect;

#[side_effect(class = "store.write")]
async fn store_set<K, V>(key: K, value: V) -> Result<String, sidefx::Error>
where
    K: serde::Serialize + Debug + Send,
    V: serde::Serialize + Debug + Send,
{
    Ok(format!("{key:?}={value:?}"))
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let out = rt.block_on(store_set("k", 7u8)).unwrap();
    assert_eq!(out, "\"k\"=7");
    let entry = sidefx::registry::lookup("store_set").unwrap();
    assert_eq!(entry.class, "store.write");
}
