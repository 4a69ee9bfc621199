//! The ceiling of the `get` scenario: a bare axum hello-world, as
//! `../shared/bench/hello` is, run by this executable in a process of its own
//! (`deskplane bench-ceiling`, hidden) so that it is measured exactly as the
//! server is, in the same run. It answers `GET /x` with about 1 KB of JSON, the
//! size of one desktop's detail.

use axum::Router;
use axum::routing::get;
use http::header::CONTENT_TYPE;

/// The hidden subcommand that runs it.
pub const COMMAND: &str = "bench-ceiling";

/// What `GET /x` answers: a desktop-sized JSON document.
const BODY: &str = concat!(
    r#"{"desktop":{"desktop_id":"4a7b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d","computer_name":"hello-000001","#,
    r#""status":"ACTIVE","task_status":"","login_status":"REGISTERED","user_name":"user-000001","#,
    r#""user_list":["user-000001"],"desktop_type":"DEDICATED","availability_zone":"cn-north-4a","#,
    r#""product_id":"workspace.x86.ultimate.large2","ip_addresses":["10.0.0.17"],"#,
    r#""metadata":{"image_name":"Windows 10 Enterprise 64bit","metering.image_id":"63aa8670-27ad-4747-8c44-6d8919e785a7"},"#,
    r#""root_volume":{"type":"SAS","size":80,"device":"/dev/vda","id":"0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e"},"#,
    r#""data_volumes":[{"type":"SAS","size":50,"device":"/dev/vdb","id":"1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f"}],"#,
    r#""tags":[{"key":"team","value":"alpha"}],"created":"2026-12-04T16:48:00Z","#,
    r#""product":{"product_id":"workspace.x86.ultimate.large2","cpu":"2","memory":"4","descriptions":"2 vCPUs | 4 GB"},"#,
    r#""security_groups":[{"id":"2d3e4f5a-6b7c-4d8e-9f0a-1b2c3d4e5f6a"}],"ou_name":"","#,
    r#""attach_user_infos":[{"user_name":"user-000001","type":"USER","user_group":"users"}],"#,
    r#""site_type":"CENTER","site_name":"cn-north-4","join_domain":"false","in_maintenance_mode":false}}"#
);

/// Serve until killed, printing the address as `deskplane serve` does.
pub async fn serve() -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("deskplane: listening on http://{}", listener.local_addr()?);
    let app = Router::new().route(
        "/x",
        get(async || ([(CONTENT_TYPE, "application/json")], BODY)),
    );
    axum::serve(listener, app).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_body_is_desktop_sized_json() {
        let v: serde_json::Value = serde_json::from_str(super::BODY).expect("JSON");
        assert_eq!(v["desktop"]["status"], "ACTIVE");
        assert!(
            (900..1400).contains(&super::BODY.len()),
            "{}",
            super::BODY.len()
        );
    }
}
