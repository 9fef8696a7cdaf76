use sidefx::side_effect;

#[side_effect(class = "process.exec")]
async fn exec(program: &str) {
    let _ = program;
}

fn main() {}
