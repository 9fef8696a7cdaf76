use sidefx::side_effect;

#[side_effect(class = "process.exec", command(program))]
async fn exec(program: &str) {
    let _ = program;
}

fn main() {}
