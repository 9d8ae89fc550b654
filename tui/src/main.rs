fn main() { println!("stockctl {}", env!("CARGO_PKG_VERSION")); }
