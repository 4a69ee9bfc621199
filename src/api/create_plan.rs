//! Validating a CreateDesktopReq into the desktops (and users) to create.
//! Everything is checked before anything is written.

use super::error::{ApiError, ApiResult};
use super::state::{AppState, Caller};
use crate::domain::desktop::Disk;
use crate::domain::error_code::Code;
use crate::domain::ids::UserId;
use crate::domain::names::{Origins, generate};
use crate::domain::time::now_ms;
pub use crate::jobs::provision::Template;
use crate::jobs::provision::User;
use crate::store::{NewDesktop, UserRow};
use crate::wire::desktops::{CreateDesktopReq, DesktopUser, Tag, Volume};
use std::collections::HashSet;

/// What a create request turns into.
pub struct Plan {
    /// Desktops to create.
    pub desktops: Vec<NewDesktop>,
    /// Users to create if they do not exist.
    pub users: Vec<UserRow>,
    /// How each desktop got its name.
    pub origins: Origins,
}

const DISK_TYPES: &[&str] = &["SAS", "SSD", "GPSSD", "SATA", "ESSD", "GPSSD2"];

/// The desktop settings of a create request (desktops or a pool), as sent.
#[derive(Debug, Default)]
pub struct TemplateReq {
    /// Product.
    pub product_id: Option<String>,
    /// Image.
    pub image_id: Option<String>,
    /// Image type (must match the image when given).
    pub image_type: Option<String>,
    /// Zone (the default zone when absent).
    pub availability_zone: Option<String>,
    /// System disk.
    pub root_volume: Option<Volume>,
    /// Data disks.
    pub data_volumes: Option<Vec<Volume>>,
    /// Tags.
    pub tags: Option<Vec<Tag>>,
}

/// Validate the settings every desktop of a request shares.
pub fn template(st: &AppState, req: TemplateReq) -> ApiResult<Template> {
    let TemplateReq {
        product_id,
        image_id,
        image_type,
        availability_zone: zone,
        root_volume: root,
        data_volumes: data,
        tags,
    } = req;
    let product_id =
        product_id.ok_or_else(|| ApiError::invalid("Missing parameter product_id."))?;
    let product = st.catalog.product(&product_id).ok_or_else(|| {
        ApiError::new(
            Code::ProductNotFound,
            format!("Product {product_id} does not exist in the catalog."),
        )
    })?;
    let image_id = image_id.ok_or_else(|| ApiError::invalid("Missing parameter image_id."))?;
    let image = st.catalog.image(&image_id).ok_or_else(|| {
        ApiError::new(
            Code::ImageNotFound,
            format!("Image {image_id} does not exist in the catalog."),
        )
    })?;
    if let Some(t) = image_type.filter(|t| *t != image.image_type) {
        return Err(ApiError::invalid(format!(
            "image_type {t} does not match image {image_id}, which is {}.",
            image.image_type
        )));
    }
    let availability_zone = match zone {
        Some(z) => st
            .catalog
            .zone(&z)
            .ok_or_else(|| {
                ApiError::new(
                    Code::ZoneNotFound,
                    format!("Availability zone {z} does not exist."),
                )
            })?
            .availability_zone
            .clone(),
        None => st
            .catalog
            .default_zone()
            .map(|z| z.availability_zone.clone())
            .unwrap_or_default(),
    };
    let root = root.unwrap_or(Volume {
        kind: product.system_disk_type.clone(),
        size: i64::from(product.system_disk_size),
    });
    check_volume("root_volume", &root, 80)?;
    let data = data.unwrap_or_default();
    if data.len() > 10 {
        return Err(ApiError::invalid(format!(
            "data_volumes has {} disks; at most 10 are allowed.",
            data.len()
        )));
    }
    for (i, v) in data.iter().enumerate() {
        check_volume(&format!("data_volumes[{i}]"), v, 10)?;
    }
    let tags = tags.unwrap_or_default();
    check_tags(&tags)?;
    Ok(Template {
        product_id,
        image: image.clone(),
        availability_zone,
        root_volume: root.into(),
        data_volumes: data.into_iter().map(Disk::from).collect(),
        tags: tags.into_iter().map(Into::into).collect(),
    })
}

fn check_volume(name: &str, v: &Volume, min: i64) -> ApiResult<()> {
    if !DISK_TYPES.contains(&v.kind.as_str()) {
        return Err(ApiError::invalid(format!(
            "{name}.type {:?} is not one of {}.",
            v.kind,
            DISK_TYPES.join(", ")
        )));
    }
    if !(min..=32760).contains(&v.size) || v.size % 10 != 0 {
        return Err(ApiError::invalid(format!(
            "{name}.size {} must be a multiple of 10 in {min}..=32760 GiB.",
            v.size
        )));
    }
    Ok(())
}

fn check_tags(tags: &[Tag]) -> ApiResult<()> {
    if tags.len() > 20 {
        return Err(ApiError::invalid("tags: at most 20 tags are allowed."));
    }
    let mut keys = HashSet::new();
    for t in tags {
        if t.key.trim().is_empty() || t.key.chars().count() > 128 || t.key.starts_with("_sys_") {
            return Err(ApiError::invalid(format!("tags: invalid key {:?}.", t.key)));
        }
        if t.value.as_ref().is_some_and(|v| v.chars().count() > 43) {
            return Err(ApiError::invalid(format!(
                "tags: the value of {:?} is longer than 43 characters.",
                t.key
            )));
        }
        if !keys.insert(t.key.as_str()) {
            return Err(ApiError::invalid(format!(
                "tags: key {:?} appears twice.",
                t.key
            )));
        }
    }
    Ok(())
}

/// A valid user name: letters, digits, `-`, `_`, 1..=64, starting with a letter or digit.
pub fn check_user_name(name: &str) -> ApiResult<()> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(format!(
            "Invalid user_name {name:?}: use 1-64 letters, digits, - or _."
        )))
    }
}

/// A valid computer name: letters, digits, `-`, 1..=15, not starting or ending with `-`.
pub fn check_computer_name(name: &str) -> ApiResult<()> {
    let ok = (1..=15).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(format!(
            "Invalid computer_name {name:?}: use 1-15 letters, digits or -, not at either end."
        )))
    }
}

/// Plan a create request.
pub fn plan(st: &AppState, caller: &Caller, req: CreateDesktopReq) -> ApiResult<Plan> {
    if let Some(t) = req.desktop_type.as_deref().filter(|t| *t != "DEDICATED") {
        return Err(ApiError::invalid(format!(
            "desktop_type {t:?} is not supported; use DEDICATED (pools create POOLED desktops)."
        )));
    }
    let tpl = template(
        st,
        TemplateReq {
            product_id: req.product_id,
            image_id: req.image_id,
            image_type: req.image_type,
            availability_zone: req.availability_zone,
            root_volume: req.root_volume,
            data_volumes: req.data_volumes,
            tags: req.tags,
        },
    )?;
    let wanted = wanted(
        st.limits.max_create,
        req.desktops,
        req.size,
        req.desktop_name,
    )?;
    // Given names first, so no generated one takes a name given further on.
    let mut names = HashSet::new();
    for n in wanted.iter().filter_map(|w| w.computer_name.as_ref()) {
        if !names.insert(n.clone()) {
            return Err(ApiError::invalid(format!(
                "computer_name {n} appears twice in the request."
            )));
        }
    }
    let now = now_ms();
    let mut plan = Plan {
        desktops: Vec::with_capacity(wanted.len()),
        users: Vec::new(),
        origins: Vec::with_capacity(wanted.len()),
    };
    for (i, w) in wanted.into_iter().enumerate() {
        let at = |e: ApiError| ApiError::invalid(format!("desktops[{i}]: {}", e.message));
        if let Some(u) = &w.user_name {
            check_user_name(u).map_err(at)?;
        }
        let prefix = match (&w.computer_name, w.desktop_name_prefix) {
            (Some(_), _) => None,
            (None, Some(p)) => Some(p),
            (None, None) => Some(
                w.user_name
                    .as_deref()
                    .map_or("desktop", |u| &u[..u.len().min(8)])
                    .to_owned(),
            ),
        };
        let name = match (w.computer_name, &prefix) {
            (Some(n), _) => n,
            (None, p) => generate(p.as_deref().unwrap_or_default(), &mut names)?,
        };
        check_computer_name(&name).map_err(at)?;
        plan.origins.push(prefix);
        if let Some(u) = &w.user_name {
            plan.users.push(UserRow {
                id: UserId::new(),
                project_id: caller.project_id.clone(),
                user_name: u.clone(),
                user_email: w.user_email.clone(),
                user_phone: None,
                description: String::new(),
                created_ms: now,
                total_desktops: 0,
            });
        }
        let user = User {
            name: w.user_name,
            email: w.user_email,
            pool: None,
        };
        plan.desktops
            .push(tpl.desktop(&caller.project_id, name, user, now));
    }
    Ok(plan)
}

/// The desktops a create asks for: listed, or `size` of them named `desktop_name`.
fn wanted(
    max: usize,
    desktops: Option<Vec<DesktopUser>>,
    size: Option<i64>,
    desktop_name: Option<String>,
) -> ApiResult<Vec<DesktopUser>> {
    match (desktops, size) {
        (Some(_), Some(_)) => Err(ApiError::invalid("Give either desktops or size, not both.")),
        (None, None) => Err(ApiError::invalid(
            "Missing parameter desktops (or size with desktop_name).",
        )),
        (Some(list), None) => {
            if list.is_empty() || list.len() > max {
                return Err(ApiError::invalid(format!(
                    "desktops must hold 1 to {max} entries, not {}.",
                    list.len()
                )));
            }
            Ok(list)
        }
        (None, Some(n)) => {
            let n = usize::try_from(n)
                .ok()
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| ApiError::invalid(format!("size must be 1 to {max}, not {n}.")))?;
            let name = desktop_name.ok_or_else(|| {
                ApiError::invalid("Missing parameter desktop_name (required with size).")
            })?;
            let limit = if n == 1 { 15 } else { 13 };
            if name.is_empty() || name.len() > limit {
                return Err(ApiError::invalid(format!(
                    "desktop_name must be 1 to {limit} characters with size {n}."
                )));
            }
            Ok((0..n)
                .map(|_| DesktopUser {
                    user_name: None,
                    user_email: None,
                    computer_name: (n == 1).then(|| name.clone()),
                    desktop_name_prefix: (n > 1).then(|| name.clone()),
                    user_group: None,
                })
                .collect())
        }
    }
}
