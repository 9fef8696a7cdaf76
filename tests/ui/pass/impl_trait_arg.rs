// `impl Trait` arguments: one recorded (it is `Serialize`), one skipped (it is not).
use std::fmt::Display;

use sidefx::side_effect;

#[side_effect(class = "network.sse.write", skip(sink))]
async fn sse_server_send(
    event: impl serde::Serialize + Display + Send,
    sink: &mut (impl std::fmt::Write + Send),
) -> Result<(), sidefx::Error> {
    write!(sink, "data: {event}\n\n").map_err(|e| sidefx::Error::Config(e.to_string()))
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let mut out = String::new();
    rt.block_on(sse_server_send("hello", &mut out)).unwrap();
    assert_eq!(out, "data: hello\n\n");
}
