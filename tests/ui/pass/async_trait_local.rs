// `#[async_trait(?Send)]` boxes a future without `Send`; the attribute also works on a default
// method of an `#[async_trait]` trait (rewritten the same way).
use std::rc::Rc;

use sidefx::{async_trait, side_effect};

#[async_trait(?Send)]
trait Store {
    async fn put(&self, key: String) -> Result<usize, sidefx::Error>;

    #[side_effect(class = "fs.write", name = "store.put_default", path(key))]
    async fn put_default(&self, key: String) -> Result<usize, sidefx::Error> {
        Ok(key.len() * 2)
    }
}

struct Local {
    seen: Rc<std::cell::Cell<usize>>,
}

#[async_trait(?Send)]
impl Store for Local {
    #[side_effect(class = "fs.write", path(key))]
    async fn put(&self, key: String) -> Result<usize, sidefx::Error> {
        self.seen.set(self.seen.get() + 1);
        Ok(key.len())
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let store = Local {
        seen: Rc::new(std::cell::Cell::new(0)),
    };
    assert_eq!(rt.block_on(store.put("abc".into())).unwrap(), 3);
    assert_eq!(rt.block_on(store.put_default("abc".into())).unwrap(), 6);
    let shadow = sidefx::AutonomyPolicy::at_tier(sidefx::Tier::Shadow);
    let err = rt
        .block_on(sidefx::with_policy(shadow.clone(), store.put("x".into())))
        .unwrap_err();
    assert!(err.is_skipped());
    let err = rt
        .block_on(sidefx::with_policy(shadow, store.put_default("x".into())))
        .unwrap_err();
    assert!(err.is_skipped());
    assert_eq!(store.seen.get(), 1);
}
