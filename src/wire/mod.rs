//! JSON shapes named after the official SDK's models (huaweicloudsdkworkspace
//! 3.1.219, `huaweicloudsdkworkspace/v2/model/`). Requests keep every field the
//! SDK may send optional where the SDK does, so that a missing required field is
//! reported by our validation with its name rather than by serde.

pub mod batch;
pub mod catalog;
pub mod desktops;
pub mod error_body;
pub mod health;
pub mod jobs;
pub mod params;
pub mod pools;
pub mod tokens;
pub mod users;
mod values;
