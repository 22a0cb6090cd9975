//! `chatkit-loadtest`: see `chatkit-loadtest --help` and the README's
//! "Load testing" section.

use std::process::ExitCode;

use chatkit_loadtest::{Options, execute};
use clap::Parser;

fn main() -> ExitCode {
    let options = Options::parse();
    let json = options.json;
    let strict = options.strict;
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("chatkit-loadtest: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(execute(options)) {
        Ok(report) => {
            if json {
                eprint!("{}", report.table());
                println!("{}", report.json());
            } else {
                print!("{}", report.table());
            }
            if strict && report.errors() > 0 {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("chatkit-loadtest: {e:#}");
            ExitCode::FAILURE
        }
    }
}
