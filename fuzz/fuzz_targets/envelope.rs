//! The webhook body parser: any bytes give events or a `MalformedBody`,
//! never a panic; every event it returns names its Page.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    if let Ok(parsed) = switchboard_formats::webhook::envelope::parse(body) {
        for event in &parsed.events {
            assert!(!event.page_id.is_empty(), "an event without a Page: {event:?}");
        }
    }
});
