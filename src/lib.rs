//! deskplane: a self-hostable cloud-desktop control plane whose HTTP API is
//! wire-compatible with the Huawei Cloud Workspace v2 desktop API.
//!
//! Layers, each depending only downward: `api` (axum routes, one module per
//! resource) → `jobs` (durable engine) and `auth` (request signing) → `store`
//! (SQLite, PostgreSQL) and `drivers` (simulator, libvirt) → `domain` (pure types
//! and the desktop state machine). `wire` holds the SDK-named JSON shapes.

pub mod api;
pub mod auth;
pub mod catalog;
pub mod cli;
pub mod client;
pub mod config;
pub mod domain;
pub mod drivers;
pub mod jobs;
pub mod serve;
pub mod store;
pub mod wire;
