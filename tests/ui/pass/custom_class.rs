// A custom class declared in the crate's Cargo.toml:
// [package.metadata.sidefx.classes] "payments.charge" = "payments.write"
use sidefx::side_effect;

#[side_effect(class = "payments.charge")]
async fn charge_card(cents: u64) -> Result<u64, sidefx::Error> {
    Ok(cents)
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    assert_eq!(rt.block_on(charge_card(4200)).unwrap(), 4200);
    let entry = sidefx::registry::lookup("charge_card").unwrap();
    assert_eq!((entry.class, entry.capability), ("payments.charge", "payments.write"));
}
