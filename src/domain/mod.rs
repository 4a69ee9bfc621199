//! Pure types and rules: no IO, no async. Every other layer asks these.

pub mod admission;
pub mod completion;
pub mod desktop;
pub mod error_code;
pub mod fault;
pub mod ids;
pub mod job;
pub mod machine;
pub mod names;
pub mod pool;
pub mod records;
pub mod time;
