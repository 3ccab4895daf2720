fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/c2.proto");
    let fds = protox::compile(["c2.proto"], ["proto"])?;
    // Messages that carry a client key get a Debug that prints no key
    // (src/api/redact.rs).
    tonic_prost_build::configure()
        .skip_debug([
            ".e4c2.v1.NewClientRequest",
            ".e4c2.v1.NewClientResponse",
            ".e4c2.v1.MqttCredentials",
        ])
        .compile_fds(fds)?;
    Ok(())
}
