use sidefx::side_effect;

trait Tools {
    #[side_effect(class = "fs.write")]
    async fn write_file(&self, path: &str) -> Result<(), sidefx::Error>;
}

fn main() {}
