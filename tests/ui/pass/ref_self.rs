// `&self` receiver on an inherent method; `self` is never recorded.
use std::sync::atomic::{AtomicUsize, Ordering};

use sidefx::side_effect;

struct Host {
    calls: AtomicUsize,
}

impl Host {
    #[side_effect(class = "host.call")]
    async fn host_call(&self, method: &str) -> Result<usize, sidefx::Error> {
        let _ = method;
        Ok(self.calls.fetch_add(1, Ordering::SeqCst) + 1)
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let host = Host { calls: AtomicUsize::new(0) };
    assert_eq!(rt.block_on(host.host_call("ping")).unwrap(), 1);
    assert_eq!(rt.block_on(host.host_call("ping")).unwrap(), 2);
}
