use sidefx::side_effect;

#[side_effect(class = "process.exec", command(argv))]
async fn exec(argv: Vec<u8>) -> Result<(), sidefx::Error> {
    let _ = argv;
    Ok(())
}

fn main() {}
