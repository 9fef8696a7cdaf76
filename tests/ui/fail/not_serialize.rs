use sidefx::side_effect;

struct Connection;

#[side_effect(class = "store.write")]
async fn store_save(conn: &Connection, key: &str) -> Result<(), sidefx::Error> {
    let _ = (conn, key);
    Ok(())
}

fn main() {}
