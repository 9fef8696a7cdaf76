use sidefx::side_effect;

#[side_effect(class = "network.http", url(port))]
async fn http_get(host: &str, port: u16) -> Result<(), sidefx::Error> {
    let _ = (host, port);
    Ok(())
}

fn main() {}
