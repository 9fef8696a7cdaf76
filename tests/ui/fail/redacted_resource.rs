use sidefx::side_effect;

#[side_effect(class = "network.http", url(url), redact(url))]
async fn http_get(url: &str) -> Result<(), sidefx::Error> {
    let _ = url;
    Ok(())
}

fn main() {}
