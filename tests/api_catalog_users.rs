//! The read-only catalog (products, images, availability zones) and desktop users
//! (create, show, list, delete; 409 on a duplicate name or a user who still has desktops,
//! 404 for an unknown one).

mod common;

use common::desktops::{create_body, create_with};
use common::{LINUX_IMAGE, Options, PRODUCT, Server, WINDOWS_IMAGE, q};
use serde_json::{Value, json};
use std::collections::HashSet;

#[tokio::test]
async fn catalog_endpoints() {
    let server = Server::start(Options::default()).await;
    let api = server.api();

    let r = api.get("products", &[]).await;
    let body = r.expect(200);
    assert_eq!(body["total_count"], 3);
    let p = body["products"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["product_id"] == PRODUCT))
        .expect("the default product is listed");
    assert_eq!(p["cpu"], "2");
    assert_eq!(p["memory"], "4");
    let r = api.get("products", &q(&[("product_id", PRODUCT)])).await;
    assert_eq!(r.expect(200)["total_count"], 1);
    let r = api
        .get("products", &q(&[("package_type", "enterprise")]))
        .await;
    assert_eq!(r.expect(200)["total_count"], 1);

    let r = api.get("images", &[]).await;
    let body = r.expect(200);
    assert_eq!(body["total_count"], 3);
    let ids: HashSet<&str> = body["images"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|i| i["id"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        ids,
        HashSet::from([WINDOWS_IMAGE, LINUX_IMAGE, common::PRIVATE_IMAGE])
    );
    let r = api.get("images", &q(&[("image_type", "gold")])).await;
    assert_eq!(r.expect(200)["total_count"], 2);
    let r = api.get("images", &q(&[("os_type", "Linux")])).await;
    let body = r.expect(200);
    assert_eq!(body["total_count"], 1);
    assert_eq!(body["images"][0]["id"], LINUX_IMAGE);
    let r = api.get("images", &q(&[("image_type", "bogus")])).await;
    let msg = r.expect_error(400, "WKS.00211102");
    assert!(msg.contains("image_type"), "{msg}");

    let r = api.get("availability-zones", &[]).await;
    let body = r.expect(200);
    assert_eq!(body["total_count"], 2);
    let zones = body["availability_zones"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let default: Vec<&Value> = zones
        .iter()
        .filter(|z| z["default_availability_zone"] == true)
        .collect();
    assert_eq!(default.len(), 1);
    assert_eq!(default[0]["availability_zone"], "cn-north-4a");
}

#[tokio::test]
async fn users_crud() {
    let server = Server::start(Options::default()).await;
    let api = server.api();

    let r = api
        .post(
            "users",
            &json!({"user_name": "carol", "user_email": "carol@example.com", "description": "ops"}),
        )
        .await;
    let carol = r.expect(200)["id"].as_str().unwrap_or_default().to_owned();
    assert!(!carol.is_empty(), "{}", r.text);
    let dup = api.post("users", &json!({"user_name": "carol"})).await;
    dup.expect_error(409, "WKS.00010035");
    let bad = api.post("users", &json!({"user_name": "no spaces"})).await;
    let msg = bad.expect_error(400, "WKS.00211102");
    assert!(msg.contains("user_name"), "{msg}");

    let r = api.get(&format!("users/{carol}"), &[]).await;
    let u = &r.expect(200)["user_detail"];
    assert_eq!(u["user_name"], "carol");
    assert_eq!(u["user_email"], "carol@example.com");
    assert_eq!(u["description"], "ops");
    assert_eq!(u["total_desktops"], 0);

    // A user named in a create request exists afterwards, with the desktop counted.
    create_with(
        &api,
        &create_body(&["dave-pc"], &[Some("dave")], &json!({})),
    )
    .await;
    let r = api.get("users", &q(&[("user_name", "dave")])).await;
    let body = r.expect(200);
    assert_eq!(body["total_count"], 1, "{body}");
    let dave = body["users"][0].clone();
    assert_eq!(dave["total_desktops"], 1);
    let dave_id = dave["id"].as_str().unwrap_or_default();
    let r = api.delete(&format!("users/{dave_id}"), &[]).await;
    r.expect_error(409, "WKS.00010036");
    assert!(
        api.get(&format!("users/{dave_id}"), &[]).await.status == 200,
        "a refused delete keeps the user"
    );

    let r = api.get("users", &[]).await;
    assert_eq!(r.expect(200)["total_count"], 2);

    let unknown = "2f1e0c1d-5c64-4c39-9d0e-6a4c1c3b9e77";
    api.get(&format!("users/{unknown}"), &[])
        .await
        .expect_error(404, "WKS.00010406");
    api.delete(&format!("users/{unknown}"), &[])
        .await
        .expect_error(404, "WKS.00010406");

    api.delete(&format!("users/{carol}"), &[]).await.expect(204);
    api.get(&format!("users/{carol}"), &[])
        .await
        .expect_error(404, "WKS.00010406");
    let r = api.get("users", &[]).await;
    assert_eq!(r.expect(200)["total_count"], 1);
}
