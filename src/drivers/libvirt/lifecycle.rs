//! Building, rebuilding and removing a desktop's domain and disks. Blocking.

use super::config::{LibvirtConfig, ResolvedImage};
use super::disks::DesktopFiles;
use super::domain_xml::DomainPlan;
use super::error::LibvirtError;
use super::hosts::{Host, lookup};
use super::machine::{METADATA_NS, MachineRecord};
use super::power;
use crate::drivers::{ImageSpec, MachineSpec};
use std::fs;
use virt::connect::Connect;
use virt::domain::Domain;
use virt::sys;

/// Creates the disks, defines the domain and boots it. A re-run finds the
/// domain already defined and only makes sure it runs; a failure removes
/// what it made, so that a retry starts clean.
pub(crate) fn create(
    config: &LibvirtConfig,
    host: &Host,
    spec: &MachineSpec,
) -> Result<(), LibvirtError> {
    let id = spec.desktop_id.as_str();
    let conn = host.connect()?;
    if let Some(dom) = lookup(&conn, id)? {
        tracing::info!(desktop_id = id, host = %host.uri, "domain already defined; starting it");
        return power::start(&dom, id);
    }
    let image = config.resolve_image(&spec.image);
    check_image(host, &image, &spec.image)?;
    let files = DesktopFiles::new(&config.data_dir, id);
    let record = MachineRecord::from_spec(spec);
    let uuid = uuid::Uuid::new_v4().to_string();
    let built = files
        .create_disks(
            &config.qemu_img,
            image.disk.as_deref(),
            spec.root_gib,
            &spec.data_gib,
        )
        .and_then(|()| define(config, host, &conn, &record, &uuid, &image, &files));
    let dom = match built {
        Ok(dom) => dom,
        Err(e) => {
            let _ = files.remove();
            return Err(e);
        }
    };
    if let Err(e) = power::start(&dom, id) {
        // Undo everything so a retry starts clean; libvirt's message in the
        // error says why the machine did not start.
        let _ = dom.undefine_flags(undefine_flags());
        let _ = files.remove();
        return Err(e);
    }
    Ok(())
}

/// Replaces the system disk with a fresh overlay of `image`, keeps the data
/// volumes, and leaves the machine running if `run_after`.
pub(crate) fn rebuild(
    config: &LibvirtConfig,
    host: &Host,
    id: &str,
    image: &ImageSpec,
    run_after: bool,
) -> Result<(), LibvirtError> {
    let conn = host.connect()?;
    let files = DesktopFiles::new(&config.data_dir, id);
    let dom = ensure_defined(host, &conn, id, &files)?;
    let mut record = record_of(&dom, id, &files)?;
    let resolved = config.resolve_image(image);
    check_image(host, &resolved, image)?;

    power::destroy_if_active(&dom, id)?;
    // The saved memory belongs to the old disk: resuming it over the new one
    // would corrupt the file system.
    power::discard_saved(&dom, id)?;
    files.replace_system(&config.qemu_img, resolved.disk.as_deref(), record.root_gib)?;

    // Define again: the image may boot another kernel, and the record names the new image.
    record.image_id.clone_from(&image.image_id);
    let uuid = dom
        .get_uuid_string()
        .map_err(|e| LibvirtError::domain("read the uuid of", id, &e))?;
    let dom = define(config, host, &conn, &record, &uuid, &resolved, &files)?;
    if run_after {
        power::start(&dom, id)?;
    }
    Ok(())
}

/// Powers off, undefines (with the managed-save image) and removes the disks.
pub(crate) fn delete(
    config: &LibvirtConfig,
    host: Option<&Host>,
    id: &str,
) -> Result<(), LibvirtError> {
    if let Some(host) = host {
        let conn = host.connect()?;
        if let Some(dom) = lookup(&conn, id)? {
            power::destroy_if_active(&dom, id)?;
            dom.undefine_flags(undefine_flags())
                .map_err(|e| LibvirtError::domain("undefine", id, &e))?;
        }
    }
    DesktopFiles::new(&config.data_dir, id).remove()
}

/// The desktop's domain; defined again from the saved `domain.xml` if it was
/// removed behind our back (so a rebuild or HARD reboot can repair an ERROR desktop).
pub(crate) fn ensure_defined(
    host: &Host,
    conn: &Connect,
    id: &str,
    files: &DesktopFiles,
) -> Result<Domain, LibvirtError> {
    if let Some(dom) = lookup(conn, id)? {
        return Ok(dom);
    }
    let Ok(xml) = fs::read_to_string(files.domain_xml()) else {
        return Err(LibvirtError::Missing(id.to_owned()));
    };
    tracing::warn!(desktop_id = id, host = %host.uri, "domain missing; defining it again from domain.xml");
    Domain::define_xml(conn, &xml).map_err(|e| LibvirtError::domain("define again", id, &e))
}

fn define(
    config: &LibvirtConfig,
    host: &Host,
    conn: &Connect,
    record: &MachineRecord,
    uuid: &str,
    image: &ResolvedImage,
    files: &DesktopFiles,
) -> Result<Domain, LibvirtError> {
    let id = record.desktop_id.as_str();
    let xml = DomainPlan {
        record,
        uuid,
        domain_type: host.domain_type(conn, config.domain_type)?,
        image,
        files,
        console: config.console,
        network: config.network.as_deref(),
    }
    .render();
    let dom = Domain::define_xml(conn, &xml).map_err(|e| LibvirtError::domain("define", id, &e))?;
    fs::write(files.domain_xml(), &xml)
        .map_err(|e| LibvirtError::disk(id, format!("cannot save domain.xml: {e}")))?;
    Ok(dom)
}

/// The record in the domain's metadata, or in `domain.xml` when libvirt lost it.
fn record_of(dom: &Domain, id: &str, files: &DesktopFiles) -> Result<MachineRecord, LibvirtError> {
    let kind = i32::try_from(sys::VIR_DOMAIN_METADATA_ELEMENT).unwrap_or(2);
    dom.get_metadata(kind, Some(METADATA_NS), 0)
        .ok()
        .and_then(|xml| MachineRecord::parse(&xml))
        .or_else(|| {
            fs::read_to_string(files.domain_xml())
                .ok()
                .and_then(|x| MachineRecord::parse(&x))
        })
        .ok_or_else(|| {
            LibvirtError::Invalid(format!(
                "desktop {id}'s domain has no deskplane metadata: it was not created by deskplane"
            ))
        })
}

/// A real host needs something to boot: a base disk or a kernel. The test
/// driver boots nothing, so an image without either is fine there.
fn check_image(host: &Host, image: &ResolvedImage, spec: &ImageSpec) -> Result<(), LibvirtError> {
    if host.is_test() {
        return Ok(());
    }
    if image.disk.is_none() && image.kernel.is_none() {
        return Err(LibvirtError::Invalid(format!(
            "image {} ({}) has no base disk: give it a disk_path in the catalog, or a disk or kernel under [libvirt.images.{}]",
            spec.image_id, spec.name, spec.image_id
        )));
    }
    for path in [&image.kernel, &image.initrd].into_iter().flatten() {
        if !path.is_file() {
            return Err(LibvirtError::Invalid(format!(
                "image {}: boot file {} does not exist",
                spec.image_id,
                path.display()
            )));
        }
    }
    Ok(())
}

fn undefine_flags() -> sys::virDomainUndefineFlagsValues {
    sys::VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | sys::VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
}
