//! How a desktop is named in libvirt, and the record of what it was built from.
//!
//! The record lives in the domain's `<metadata>` (so the desktop id and its
//! product can be read back with `virsh metadata`) and, with the whole domain
//! XML, in `<data_dir>/<id>/domain.xml`, so that a rebuild or a HARD reboot can
//! define the domain again after it was removed behind our back.

use super::domain_xml::{escape, unescape};
use super::error::LibvirtError;
use crate::drivers::MachineSpec;

/// Every deskplane domain's name starts with this.
pub(crate) const NAME_PREFIX: &str = "deskplane-";
/// The XML namespace of our domain metadata element.
pub(crate) const METADATA_NS: &str = "urn:deskplane:libvirt:desktop:1";
/// The prefix bound to [`METADATA_NS`] in the domain XML.
pub(crate) const METADATA_PREFIX: &str = "deskplane";

/// The libvirt domain name of a desktop.
pub(crate) fn domain_name(desktop_id: &str) -> String {
    format!("{NAME_PREFIX}{desktop_id}")
}

/// The desktop id of a deskplane domain name.
pub(crate) fn desktop_id_of(domain_name: &str) -> Option<&str> {
    domain_name
        .strip_prefix(NAME_PREFIX)
        .filter(|id| check_id(id).is_ok())
}

/// Refuses ids that could escape the data directory or break a domain name;
/// deskplane's own ids (UUIDs) always pass.
pub(crate) fn check_id(desktop_id: &str) -> Result<(), LibvirtError> {
    let ok = !desktop_id.is_empty()
        && desktop_id.len() <= 128
        && !desktop_id.starts_with('.')
        && desktop_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(LibvirtError::Invalid(format!(
            "desktop id {desktop_id:?} cannot name a libvirt domain (letters, digits, '-', '_', '.')"
        )))
    }
}

/// What a desktop's domain is built from: the spec minus the image details,
/// plus the image id it currently runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MachineRecord {
    /// The desktop id.
    pub(crate) desktop_id: String,
    /// `computer_name`, used as the domain title.
    pub(crate) computer_name: String,
    /// vCPUs.
    pub(crate) vcpus: u32,
    /// Memory in MiB.
    pub(crate) memory_mib: u64,
    /// The image of the current system disk.
    pub(crate) image_id: String,
    /// System disk size in GiB.
    pub(crate) root_gib: u32,
    /// Data volume sizes in GiB, in order.
    pub(crate) data_gib: Vec<u32>,
}

impl MachineRecord {
    /// The record of a machine about to be created.
    pub(crate) fn from_spec(spec: &MachineSpec) -> Self {
        Self {
            desktop_id: spec.desktop_id.clone(),
            computer_name: spec.computer_name.clone(),
            vcpus: spec.vcpus,
            memory_mib: spec.memory_mib,
            image_id: spec.image.image_id.clone(),
            root_gib: spec.root_gib,
            data_gib: spec.data_gib.clone(),
        }
    }

    /// The metadata element, namespaced, as it goes into the domain XML.
    pub(crate) fn to_element(&self) -> String {
        let data: Vec<String> = self.data_gib.iter().map(u32::to_string).collect();
        format!(
            "<{p}:desktop xmlns:{p}=\"{ns}\" id=\"{id}\" computer_name=\"{cn}\" vcpus=\"{v}\" \
             memory_mib=\"{m}\" image_id=\"{img}\" root_gib=\"{r}\" data_gib=\"{d}\"/>",
            p = METADATA_PREFIX,
            ns = METADATA_NS,
            id = escape(&self.desktop_id),
            cn = escape(&self.computer_name),
            v = self.vcpus,
            m = self.memory_mib,
            img = escape(&self.image_id),
            r = self.root_gib,
            d = data.join(","),
        )
    }

    /// Reads the record back from the domain XML or from the metadata element
    /// libvirt returns (which drops the prefix).
    pub(crate) fn parse(xml: &str) -> Option<Self> {
        let start = xml
            .find(&format!("<{METADATA_PREFIX}:desktop "))
            .or_else(|| xml.find("<desktop "))?;
        let rest = &xml[start..];
        let element = &rest[..rest.find('>')?];
        let attr = |name: &str| attribute(element, name);
        let data_gib = match attr("data_gib")?.as_str() {
            "" => Vec::new(),
            list => list
                .split(',')
                .map(str::parse)
                .collect::<Result<_, _>>()
                .ok()?,
        };
        Some(Self {
            desktop_id: attr("id")?,
            computer_name: attr("computer_name")?,
            vcpus: attr("vcpus")?.parse().ok()?,
            memory_mib: attr("memory_mib")?.parse().ok()?,
            image_id: attr("image_id")?,
            root_gib: attr("root_gib")?.parse().ok()?,
            data_gib,
        })
    }
}

/// The unescaped value of `name="..."` in one start tag we wrote ourselves.
fn attribute(element: &str, name: &str) -> Option<String> {
    let needle = format!(" {name}=\"");
    let at = element.find(&needle)? + needle.len();
    let len = element[at..].find('"')?;
    Some(unescape(&element[at..at + len]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> MachineRecord {
        MachineRecord {
            desktop_id: "d-1".into(),
            computer_name: "Tom & \"Jerry\" <pc>".into(),
            vcpus: 2,
            memory_mib: 4096,
            image_id: "img-1".into(),
            root_gib: 80,
            data_gib: vec![10, 20],
        }
    }

    #[test]
    fn record_round_trips_through_the_element() {
        let r = record();
        let xml = format!("<domain><metadata>{}</metadata></domain>", r.to_element());
        assert_eq!(MachineRecord::parse(&xml), Some(r.clone()));
        // libvirt's get_metadata answer has no prefix.
        let bare = r.to_element().replace("deskplane:desktop", "desktop");
        assert_eq!(MachineRecord::parse(&bare), Some(r.clone()));
        let none = MachineRecord {
            data_gib: vec![],
            ..r
        };
        assert_eq!(MachineRecord::parse(&none.to_element()), Some(none));
    }

    #[test]
    fn ids_are_checked() {
        assert!(check_id("3f1c2a9e-0b7d-4c1e-9a55-1d2e3f4a5b6c").is_ok());
        for bad in ["", "..", ".x", "a/b", "a b", "x<y"] {
            assert!(check_id(bad).is_err(), "{bad}");
        }
        assert_eq!(desktop_id_of("deskplane-abc"), Some("abc"));
        assert_eq!(desktop_id_of("test"), None);
        assert_eq!(desktop_id_of("deskplane-"), None);
    }
}
