//! JWT parsing and verification (`tessera_core::token`): any bytes as a token, verified by a
//! ring of one key per algorithm, and decoded without verification. Neither may panic, and
//! nothing not signed by the ring's own keys may verify.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tessera_core::Timestamp;
use tessera_core::store::KeyAlgorithm;
use tessera_core::token::{KeyRing, TokenSettings, decode_unverified, generate_key};

const NOW: Timestamp = Timestamp::from_secs(1_800_000_000);

fn ring() -> &'static KeyRing {
    static RING: OnceLock<KeyRing> = OnceLock::new();
    RING.get_or_init(|| {
        let created = Timestamp::from_secs(NOW.as_secs() - 3600);
        let records: Vec<_> = [
            KeyAlgorithm::EdDSA,
            KeyAlgorithm::ES256,
            KeyAlgorithm::RS256,
            KeyAlgorithm::HS256,
        ]
        .into_iter()
        .map(|alg| generate_key(alg, created))
        .collect();
        KeyRing::new(&records, NOW, TokenSettings::default()).expect("ring")
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let _ = decode_unverified(token);
    // The keys are drawn at random in this process: an input verifying would be a forgery.
    if let Ok(claims) = ring().verify(token, NOW) {
        panic!("a token the fuzzer made up verified: {claims:?}");
    }
});
