//! The config loader: any text is a config or a list of problems, never a
//! panic; and where `${SECRET}` is only used for secrets, no problem quotes
//! what it expands to.
#![no_main]

use libfuzzer_sys::fuzz_target;

/// What `${SECRET}` expands to.
const SECRET_VALUE: &str = "s3cr3t-value-from-the-environment";

/// Whether every line naming a variable sets one of the secret keys.
fn variables_only_in_secrets(text: &str) -> bool {
    const SECRET_KEYS: [&str; 5] = ["secret", "verify_token", "access_token", "api_token", "token"];
    !text.contains(SECRET_VALUE)
        && text.lines().filter(|l| l.contains("${")).all(|line| {
            line.split_once('=').is_some_and(|(key, value)| SECRET_KEYS.contains(&key.trim()) && !value.contains(['{', '=', '#', '\'']))
        })
}

fuzz_target!(|text: &str| {
    let env = |name: &str| (name == "SECRET").then(|| SECRET_VALUE.to_string());
    if let Err(problems) = switchboard_formats::Config::parse(text, std::path::Path::new("/nonexistent"), &env) {
        if variables_only_in_secrets(text) {
            for problem in &problems {
                assert!(!problem.contains(SECRET_VALUE), "a problem quotes a secret: {problem}\n--- config:\n{text}");
            }
        }
    }
});
