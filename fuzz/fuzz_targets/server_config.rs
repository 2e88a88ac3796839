//! Any text as the service's JSON config file: a config or an error, never a panic; a config
//! that parses also validates without panicking, and takes environment overrides.
#![no_main]

use confab_server::ServerConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (file, env) = text.split_once('\0').unwrap_or((text, ""));
    let Ok(mut config) = ServerConfig::from_json(file) else { return };
    let _ = config.validate();
    // NAME=value lines as the environment.
    let vars: Vec<(&str, &str)> = env.lines().filter_map(|l| l.split_once('=')).collect();
    let _ = config.apply_env(|name| {
        vars.iter().find(|(n, _)| *n == name).map(|(_, v)| (*v).to_owned())
    });
    let _ = config.validate();
    let _ = config.guests_allowed();
});
