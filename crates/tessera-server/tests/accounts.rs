//! Account deletion, an addition to the contract (docs/API.md): `DELETE /v1/me` by the user
//! with their password, `DELETE /v1/admin/users/{id}` by the operator. Over real HTTP against
//! the real server.

use crate::common::{self, ADMIN_KEY, Client, PASSWORD, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::json;

async fn delete_me(c: &mut Client, password: &str) -> common::Reply {
    c.send(
        Method::DELETE,
        "/v1/me",
        Some(json!({"password": password})),
        &[],
    )
    .await
}

#[tokio::test]
async fn deleting_ones_own_account_takes_the_password_and_ends_every_credential() {
    let s = TestServer::start(&[]).await;
    let old_id = s.register("alice").await["id"].clone();
    let session = s.bearer_login("alice").await;
    let hybrid = s.tokens("alice").await;
    let access = hybrid["access_token"].as_str().unwrap();
    let mut c = Client::with_bearer(&s.url, &session);

    delete_me(&mut c, "wrong password!")
        .await
        .assert_problem(401, "invalid_credentials");
    delete_me(&mut c, "")
        .await
        .assert_problem(400, "invalid_request");
    assert_eq!(c.get("/v1/me").await.status, StatusCode::OK, "still there");

    let r = delete_me(&mut c, PASSWORD).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    c.get("/v1/me").await.assert_problem(401, "unauthenticated");
    Client::with_bearer(&s.url, access)
        .get("/v1/me")
        .await
        .assert_problem(401, "invalid_token");
    s.client()
        .post(
            "/v1/tokens/refresh",
            json!({"refresh_token": hybrid["refresh_token"]}),
        )
        .await
        .assert_problem(400, "invalid_grant");
    s.client()
        .post(
            "/v1/sessions",
            json!({"username": "alice", "password": PASSWORD}),
        )
        .await
        .assert_problem(401, "invalid_credentials");
    // The name is free again, for a new account with a new id.
    assert_ne!(s.register("alice").await["id"], old_id);
}

#[tokio::test]
async fn a_cookie_account_deletion_without_its_csrf_token_is_refused_and_deletes_nothing() {
    let s = TestServer::start(&[]).await;
    s.register("alice").await;
    let mut c = s.login("alice").await;
    let csrf = c.csrf.take().expect("a CSRF token");
    delete_me(&mut c, PASSWORD)
        .await
        .assert_problem(403, "csrf_failed");
    assert_eq!(c.get("/v1/me").await.status, StatusCode::OK);

    c.csrf = Some(csrf);
    let r = delete_me(&mut c, PASSWORD).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    assert!(
        r.set_cookies().iter().any(|c| c.contains("Max-Age=0")),
        "{:?}",
        r.set_cookies()
    );
}

#[tokio::test]
async fn the_admin_deletes_a_user_and_an_unknown_or_deleted_id_is_not_found() {
    let s = TestServer::start(&[("TESSERA_ADMIN_KEY", ADMIN_KEY)]).await;
    let id = s.register("alice").await["id"].as_str().unwrap().to_owned();
    let session = s.bearer_login("alice").await;
    let path = format!("/v1/admin/users/{id}");

    let mut anonymous = s.client();
    anonymous
        .delete(&path)
        .await
        .assert_problem(401, "unauthenticated");
    let mut user = Client::with_bearer(&s.url, &session);
    user.delete(&path)
        .await
        .assert_problem(401, "unauthenticated");
    assert_eq!(user.get("/v1/me").await.status, StatusCode::OK);

    let mut admin = Client::with_bearer(&s.url, ADMIN_KEY);
    let r = admin.delete(&path).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    user.get("/v1/me")
        .await
        .assert_problem(401, "unauthenticated");
    admin.delete(&path).await.assert_problem(404, "not_found");
    admin
        .delete("/v1/admin/users/not-an-id")
        .await
        .assert_problem(404, "not_found");
}
