use sidefx::side_effect;

struct Ctx;

#[side_effect(class = "store.write", skip(ctxt))]
async fn store_set(ctx: &Ctx, key: &str) -> Result<(), sidefx::Error> {
    let _ = (ctx, key);
    Ok(())
}

fn main() {}
