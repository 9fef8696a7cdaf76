use sidefx::side_effect;

#[side_effect(class = "store.write")]
async fn store_pair((key, value): (String, String)) -> Result<(), sidefx::Error> {
    let _ = (key, value);
    Ok(())
}

fn main() {}
