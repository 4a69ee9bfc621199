//! A fresh PostgreSQL database per test on the local server
//! (`DESKPLANE_TEST_PG_URL`, default the local one), dropped at the end; tests
//! skip loudly when the server is unreachable.

use sqlx::{Connection, PgConnection};

/// A fresh database, dropped (with `FORCE`) on drop.
pub struct Database {
    admin: String,
    name: String,
}

impl Database {
    /// Creates one, or says SKIP and returns `None` without a server.
    pub async fn create(what: &str) -> Option<Database> {
        let admin = std::env::var("DESKPLANE_TEST_PG_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let Ok(mut c) = PgConnection::connect(&admin).await else {
            eprintln!("*** SKIP {what}: PostgreSQL unreachable at {admin} ***");
            return None;
        };
        let name = format!("deskplane_test_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut c)
            .await
            .expect("a test database can be created");
        Some(Database { admin, name })
    }

    /// Its URL.
    #[must_use]
    pub fn url(&self) -> String {
        let base = self
            .admin
            .rsplit_once('/')
            .map_or(self.admin.as_str(), |(b, _)| b);
        format!("{base}/{}", self.name)
    }

    /// A connection to it.
    pub async fn connect(&self) -> PgConnection {
        PgConnection::connect(&self.url())
            .await
            .expect("the test database accepts connections")
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        // Drop is synchronous: a small runtime of its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let mut c = PgConnection::connect(&admin).await.ok()?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .execute(&mut c)
                    .await
                    .ok()
            })
        })
        .join();
    }
}
