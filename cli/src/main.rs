//! The sidefx reviewer command line (work in progress: see the SQLite/CLI issue).

fn main() {
    eprintln!("sidefx: the reviewer command line is not built yet");
    std::process::exit(2);
}
