// `&mut self` receiver: the body mutates the receiver after enforcement lets it run.
use sidefx::side_effect;

#[derive(Default)]
struct Store {
    items: Vec<String>,
}

impl Store {
    #[side_effect(class = "store.write", name = "store_push")]
    pub async fn push(&mut self, item: String) -> Result<usize, sidefx::Error> {
        self.items.push(item);
        Ok(self.items.len())
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let mut store = Store::default();
    assert_eq!(rt.block_on(store.push("a".into())).unwrap(), 1);
    assert_eq!(rt.block_on(store.push("b".into())).unwrap(), 2);
    assert_eq!(store.items, ["a", "b"]);
}
