// `url(..)`: anything `AsRef<str>`; on the catalogue's `network.http` and on a custom class
// declared with `resource = "url"`.
use sidefx::registry;
use sidefx::resource::{ResourceKind, ResourceSpec};
use sidefx::side_effect;

#[side_effect(class = "network.http", capability = "network.http", url(url), redact(body))]
async fn http_post(url: &str, body: String) -> Result<u16, sidefx::Error> {
    let _ = (url, body);
    Ok(200)
}

#[side_effect(class = "payments.webhook", url(endpoint))]
async fn notify(endpoint: String) -> Result<(), sidefx::Error> {
    let _ = endpoint;
    Ok(())
}

// A class without a resource kind may still declare one where it fits.
#[side_effect(class = "git.write", name = "git.fetch", url(remote))]
async fn git_fetch(remote: &str) -> Result<(), sidefx::Error> {
    let _ = remote;
    Ok(())
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    assert_eq!(rt.block_on(http_post("https://api.example/", "{}".into())).unwrap(), 200);
    rt.block_on(notify("https://hooks.example/pay".into())).unwrap();
    rt.block_on(git_fetch("https://git.example/acme/repo.git")).unwrap();
    assert_eq!(
        registry::lookup("notify").unwrap().resources,
        &[ResourceSpec::new(ResourceKind::Url, "endpoint")]
    );
    assert_eq!(registry::lookup("git.fetch").unwrap().resources.len(), 1);
}
