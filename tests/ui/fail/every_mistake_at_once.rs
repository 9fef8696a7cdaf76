use sidefx::side_effect;

// Several mistakes in one attribute: each is reported at its own token.
#[side_effect(class = "procss.exec", timeout = 30, name = "", redact(pwd))]
async fn exec(program: &str, password: String) -> Result<(), sidefx::Error> {
    let _ = (program, password);
    Ok(())
}

fn main() {}
