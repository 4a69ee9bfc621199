//! New desktops from a template (a create request's, or a pool's), and
//! submitting them under computer names their project does not have yet.

use crate::catalog::{Catalog, Image};
use crate::domain::desktop::{DesktopStatus, DesktopType, Disk, LoginStatus, Tag};
use crate::domain::ids::{DesktopId, PoolId, ProjectId};
use crate::domain::names::{self, NameError};
use crate::store::{NewDesktop, PoolRow, StoreError};

/// What every desktop of one create shares, checked against the catalog.
#[derive(Debug, Clone)]
pub struct Template {
    /// Product.
    pub product_id: String,
    /// Image.
    pub image: Image,
    /// Zone.
    pub availability_zone: String,
    /// System disk.
    pub root_volume: Disk,
    /// Data disks.
    pub data_volumes: Vec<Disk>,
    /// Tags.
    pub tags: Vec<Tag>,
}

impl Template {
    /// A pool's desktops' template, while the catalog still has its product and
    /// image (else the one it lacks).
    pub fn of_pool(catalog: &Catalog, p: &PoolRow) -> Result<Self, String> {
        catalog
            .product(&p.product_id)
            .ok_or_else(|| format!("product {} is no longer in the catalog", p.product_id))?;
        let image = catalog
            .image(&p.image_id)
            .ok_or_else(|| format!("image {} is no longer in the catalog", p.image_id))?;
        Ok(Self {
            product_id: p.product_id.clone(),
            image: image.clone(),
            availability_zone: p.availability_zone.clone(),
            root_volume: p.root_volume.clone(),
            data_volumes: p.data_volumes.clone(),
            tags: p.tags.clone(),
        })
    }

    /// One desktop of `project` to create from this template.
    #[must_use]
    pub fn desktop(&self, project: &ProjectId, name: String, user: User, now: i64) -> NewDesktop {
        let id = DesktopId::new();
        NewDesktop {
            row: crate::store::DesktopRow {
                id,
                project_id: project.clone(),
                computer_name: name,
                status: DesktopStatus::Build,
                task_status: None,
                login_status: LoginStatus::Unregister,
                busy_sub_job: None,
                user_name: user.name,
                user_email: user.email,
                desktop_type: if user.pool.is_some() {
                    DesktopType::Pooled
                } else {
                    DesktopType::Dedicated
                },
                pool_id: user.pool,
                product_id: self.product_id.clone(),
                image_id: self.image.id.clone(),
                image_type: self.image.image_type.clone(),
                availability_zone: self.availability_zone.clone(),
                ip_address: ip_for(&id),
                host: None,
                root_volume: self.root_volume.clone(),
                data_volumes: self.data_volumes.clone(),
                tags: self.tags.clone(),
                created_ms: now,
            },
        }
    }
}

/// Whom a new desktop is for: a user (dedicated) or a pool.
#[derive(Debug, Clone, Default)]
pub struct User {
    /// The user's name.
    pub name: Option<String>,
    /// The user's e-mail.
    pub email: Option<String>,
    /// The pool it belongs to.
    pub pool: Option<PoolId>,
}

/// A private IPv4 address derived from the desktop id.
#[must_use]
pub fn ip_for(id: &DesktopId) -> String {
    // The id's last bytes: random in a v7 UUID, whose first ones are its time
    // and a counter, the same or nearly for desktops made together.
    let b = id.0.as_bytes();
    format!("10.{}.{}.{}", b[13] % 64, b[14], b[15].max(2) % 254 + 1)
}

#[cfg(test)]
mod tests {
    use super::ip_for;
    use crate::domain::ids::DesktopId;
    use std::collections::HashSet;

    #[test]
    fn desktops_made_together_get_different_addresses() {
        let ips: HashSet<String> = (0..200).map(|_| ip_for(&DesktopId::new())).collect();
        assert!(ips.len() >= 195, "{} distinct of 200", ips.len());
    }
}

/// Why new desktops were not submitted.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    /// Their names.
    #[error(transparent)]
    Names(#[from] NameError),
    /// The store.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// After a create's write failed with `e`: when their project has some of the
/// names, renames the generated ones (`origins`, see `domain::names`) for the
/// caller to write again (`writes` counts the writes); any other failure, or
/// a given name taken, is the create's.
pub fn rename_if_taken(
    e: StoreError,
    desktops: &mut [NewDesktop],
    origins: &[Option<String>],
    writes: &mut u32,
) -> Result<(), CreateError> {
    let StoreError::NamesTaken(taken) = e else {
        return Err(e.into());
    };
    let names = desktops.iter_mut().map(|d| &mut d.row.computer_name);
    Ok(names::rename_taken(names, origins, &taken, writes)?)
}
