//! Compiles `proto/outpost.proto` with protox (pure Rust, no `protoc` needed)
//! and generates the prost types.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/outpost.proto");
    let fds = protox::compile(["proto/outpost.proto"], ["proto"])?;
    prost_build::Config::new().compile_fds(fds)?;
    Ok(())
}
