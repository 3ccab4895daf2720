//! `e4c2`: the E4 C2 server (`e4c2 serve`) and its admin tool.

use clap::Parser;
use e4_c2::cli::{self, args::Cli};

fn main() -> std::process::ExitCode {
    // Before anything touches TLS: rustls on ring only.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args = Cli::parse();
    // The demo prints its own report; only warnings go to the log unless a
    // filter was asked for.
    let quiet = matches!(args.cmd, cli::args::Cmd::Demo)
        && args.log == cli::logging::DEFAULT_FILTER
        && std::env::var_os("E4C2_LOG").is_none();
    cli::init_logging(
        args.log_format,
        // rumqttd logs clients leaving at shutdown as errors.
        if quiet { "warn,rumqttd=off" } else { &args.log },
    );
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("e4c2: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match rt.block_on(cli::run(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("e4c2: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
