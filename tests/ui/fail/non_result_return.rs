use sidefx::side_effect;

#[side_effect(class = "process.exec", command(program))]
async fn exec(program: &str) -> u32 {
    let _ = program;
    0
}

fn main() {}
