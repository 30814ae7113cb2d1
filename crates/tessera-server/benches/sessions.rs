//! Session verification in process, over the store the server really uses (SQLite in a temp data
//! dir, behind the session and user caches `app::open_stores` puts in front of it): each stage
//! of `GET /v1/me`'s authentication on its own, then the whole of `Auth::authenticate_session`.
//!
//! `cargo bench -p tessera-server --bench sessions -- --warm-up-time 1 --measurement-time 3`
//!
//! The async stages run on a current-thread tokio runtime through `block_on`; `block_on/empty`
//! is that harness alone, to subtract.

use std::hint::black_box;

use criterion::Criterion;
use tessera_core::OpaqueToken;

mod common;

use common::fixture;

fn sessions(c: &mut Criterion) {
    let f = fixture();
    let token = OpaqueToken::parse(&f.session_token).expect("a well-formed token");
    let digest = token.digest();
    let now = f.auth.now();
    let stores = f.auth.stores();

    let mut g = c.benchmark_group("session");
    g.bench_function("parse", |b| {
        b.iter(|| OpaqueToken::parse(black_box(&f.session_token)))
    });
    g.bench_function("parse+digest", |b| {
        b.iter(|| OpaqueToken::parse(black_box(&f.session_token)).map(|t| t.digest()))
    });
    g.bench_function("block_on/empty", |b| {
        b.iter(|| f.rt.block_on(async { black_box(1) }))
    });
    g.bench_function("cached_session_by_digest", |b| {
        b.iter(|| {
            f.rt.block_on(stores.sessions.session_by_digest(black_box(&digest), now))
        })
    });
    g.bench_function("cached_user_by_id", |b| {
        let user_id =
            f.rt.block_on(f.auth.authenticate_session(&token))
                .expect("live")
                .user
                .id;
        b.iter(|| f.rt.block_on(stores.users.user_by_id(black_box(user_id))))
    });
    // The whole server hot path: what `SessionCaller::authenticate` does with a bearer value.
    g.bench_function("authenticate_session(parse+digest+lookup+user)", |b| {
        b.iter(|| {
            let token = OpaqueToken::parse(black_box(&f.session_token)).expect("well-formed");
            f.rt.block_on(f.auth.authenticate_session(&token))
                .expect("live")
        })
    });
    g.bench_function("authenticate_session(unknown token)", |b| {
        let unknown = OpaqueToken::generate().expose();
        b.iter(|| {
            let token = OpaqueToken::parse(black_box(&unknown)).expect("well-formed");
            f.rt.block_on(f.auth.authenticate_session(&token)).is_err()
        })
    });
    g.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    sessions(&mut c);
    c.final_summary();
}
