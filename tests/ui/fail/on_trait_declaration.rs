use sidefx::side_effect;

trait Tools {
    #[side_effect(class = "fs.write", path(path))]
    async fn write_file(&self, path: &str) -> Result<(), sidefx::Error>;
}

fn main() {}
