use sidefx::side_effect;

// This crate's Cargo.toml declares `payments.charge` and `payments.refund`, not this one.
#[side_effect(class = "billing.invoice")]
async fn send_invoice(customer: &str) -> Result<(), sidefx::Error> {
    let _ = customer;
    Ok(())
}

fn main() {}
