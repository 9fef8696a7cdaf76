use sidefx::side_effect;

#[side_effect(class = "host.call", redact(secret))]
async fn host_call(method: &str, token: String) -> Result<(), sidefx::Error> {
    let _ = (method, token);
    Ok(())
}

fn main() {}
