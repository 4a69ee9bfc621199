//! A desktop's files: its qcow2 system overlay, data volumes, console log and
//! saved domain XML, all under `<data_dir>/<desktop_id>/`.
//!
//! Disks are made by running `qemu-img` (a disk tool, not a libvirt client)
//! rather than through libvirt storage pools: it works the same for every
//! libvirt driver, including `test:///default`, which keeps its storage pools in
//! memory and would never create a file; it needs no pool to be defined on the
//! hosts; and a rebuild can build the new overlay beside the old one and swap
//! it in with one `rename`. The price: with several hosts, `data_dir` must be
//! storage that every host mounts at the same path.

use super::error::LibvirtError;
use std::fs;
use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Fails unless `qemu_img` runs: without it no desktop can be created.
pub(crate) fn check_qemu_img(qemu_img: &Path) -> Result<(), LibvirtError> {
    match Command::new(qemu_img).arg("--version").output() {
        Ok(out) if out.status.success() => Ok(()),
        Ok(_) | Err(_) => Err(LibvirtError::Invalid(format!(
            "libvirt config: cannot run {} (install qemu-utils, or set `qemu_img`)",
            qemu_img.display()
        ))),
    }
}

/// Where one desktop's files are.
#[derive(Debug, Clone)]
pub(crate) struct DesktopFiles {
    desktop_id: String,
    dir: PathBuf,
}

impl DesktopFiles {
    /// The files of `desktop_id` under `data_dir` (the id was checked by `check_id`).
    pub(crate) fn new(data_dir: &Path, desktop_id: &str) -> Self {
        Self {
            desktop_id: desktop_id.to_owned(),
            dir: data_dir.join(desktop_id),
        }
    }

    /// The system disk, a qcow2 overlay on the image (or blank).
    pub(crate) fn system(&self) -> PathBuf {
        self.dir.join("system.qcow2")
    }

    /// Data volume `n`, counted from 1.
    pub(crate) fn data(&self, n: usize) -> PathBuf {
        self.dir.join(format!("data-{n}.qcow2"))
    }

    /// The serial console log (written by libvirt's virtlogd).
    pub(crate) fn console_log(&self) -> PathBuf {
        self.dir.join("console.log")
    }

    /// The last domain XML we defined, to define it again if it disappears.
    pub(crate) fn domain_xml(&self) -> PathBuf {
        self.dir.join("domain.xml")
    }

    /// Creates the directory. Mode 0711: qemu, which may run as another user
    /// (`libvirt-qemu` under `qemu:///system`), opens the disks by path but
    /// need not list the directory.
    pub(crate) fn create_dir(&self) -> Result<(), LibvirtError> {
        if let Some(parent) = self.dir.parent() {
            fs::create_dir_all(parent).map_err(|e| self.io("create the data directory", &e))?;
        }
        match fs::DirBuilder::new().mode(0o711).create(&self.dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(self.io("create the desktop directory", &e)),
        }
    }

    /// Creates every disk of a new desktop, replacing leftovers of an earlier
    /// attempt. `base` is the image's base disk, if it has one.
    pub(crate) fn create_disks(
        &self,
        qemu_img: &Path,
        base: Option<&Path>,
        root_gib: u32,
        data_gib: &[u32],
    ) -> Result<(), LibvirtError> {
        self.create_dir()?;
        self.create_system(qemu_img, base, root_gib, &self.system())?;
        for (i, gib) in data_gib.iter().enumerate() {
            let path = self.data(i + 1);
            self.qemu_img(
                qemu_img,
                &["create", "-q", "-f", "qcow2"],
                &[&path],
                Some(gib_bytes(*gib)),
            )?;
            self.restrict(&path)?;
        }
        Ok(())
    }

    /// Replaces the system disk with a fresh one: built beside the old one,
    /// then renamed over it, so the old disk stays intact until the new one is
    /// complete and the new file always has a new inode.
    pub(crate) fn replace_system(
        &self,
        qemu_img: &Path,
        base: Option<&Path>,
        root_gib: u32,
    ) -> Result<(), LibvirtError> {
        self.create_dir()?;
        let fresh = self.dir.join("system.qcow2.new");
        self.create_system(qemu_img, base, root_gib, &fresh)?;
        fs::rename(&fresh, self.system()).map_err(|e| self.io("swap in the new system disk", &e))
    }

    /// Removes the desktop's directory and everything in it; a missing one is fine.
    pub(crate) fn remove(&self) -> Result<(), LibvirtError> {
        match fs::remove_dir_all(&self.dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.io("remove the desktop's files", &e)),
        }
    }

    fn create_system(
        &self,
        qemu_img: &Path,
        base: Option<&Path>,
        root_gib: u32,
        target: &Path,
    ) -> Result<(), LibvirtError> {
        // qemu-img refuses to overwrite nothing, but happily truncates: remove a
        // leftover first so a half-written file of a crashed attempt never survives.
        let _ = fs::remove_file(target);
        let want = gib_bytes(root_gib);
        match base {
            Some(base) => {
                let info = self.base_info(qemu_img, base)?;
                // The overlay is at least as large as its image: qemu-img
                // rejects a smaller one, and the guest's partitions need it.
                let size = want.max(info.virtual_size);
                let mut args = vec![
                    "create",
                    "-q",
                    "-f",
                    "qcow2",
                    "-F",
                    info.format.as_str(),
                    "-b",
                ];
                let base_s = base.to_string_lossy();
                args.push(&base_s);
                self.qemu_img(qemu_img, &args, &[target], Some(size))?;
            }
            None => self.qemu_img(
                qemu_img,
                &["create", "-q", "-f", "qcow2"],
                &[target],
                Some(want),
            )?,
        }
        self.restrict(target)
    }

    /// Format and virtual size of a base image, from `qemu-img info`.
    fn base_info(&self, qemu_img: &Path, base: &Path) -> Result<BaseInfo, LibvirtError> {
        if !base.is_file() {
            return Err(LibvirtError::Invalid(format!(
                "the base disk {} of desktop {}'s image does not exist",
                base.display(),
                self.desktop_id
            )));
        }
        // -U: the base is shared by running desktops, whose qemu holds its lock.
        let out = self.run(Command::new(qemu_img).args(["info", "-U"]).arg(base))?;
        parse_info(&out).ok_or_else(|| {
            self.fail(format!(
                "cannot read format and size of {} from qemu-img info",
                base.display()
            ))
        })
    }

    fn qemu_img(
        &self,
        qemu_img: &Path,
        args: &[&str],
        paths: &[&Path],
        size: Option<u64>,
    ) -> Result<(), LibvirtError> {
        let mut cmd = Command::new(qemu_img);
        cmd.args(args).args(paths);
        if let Some(size) = size {
            cmd.arg(size.to_string());
        }
        self.run(&mut cmd).map(drop)
    }

    fn run(&self, cmd: &mut Command) -> Result<String, LibvirtError> {
        let out = cmd
            .output()
            .map_err(|e| self.fail(format!("cannot run {}: {e}", cmd.get_program().display())))?;
        if out.status.success() {
            return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        tracing::warn!(desktop_id = %self.desktop_id, ?cmd, %stderr, "qemu-img failed");
        // qemu-img's first line says what went wrong ("Could not open ...").
        let first = stderr.lines().next().unwrap_or("no message").trim();
        Err(self.fail(format!("qemu-img failed: {first}")))
    }

    /// Disk files hold a user's data: owner only. libvirt hands them to
    /// qemu's user when the domain starts (`dynamic_ownership`).
    fn restrict(&self, path: &Path) -> Result<(), LibvirtError> {
        fs::set_permissions(path, fs::Permissions::from_mode(0o600))
            .map_err(|e| self.fail(format!("cannot chmod {}: {e}", path.display())))
    }

    fn fail(&self, detail: String) -> LibvirtError {
        LibvirtError::disk(&self.desktop_id, detail)
    }

    fn io(&self, what: &str, e: &std::io::Error) -> LibvirtError {
        self.fail(format!("cannot {what} in {}: {e}", self.dir.display()))
    }
}

fn gib_bytes(gib: u32) -> u64 {
    u64::from(gib) << 30
}

#[derive(Debug, PartialEq, Eq)]
struct BaseInfo {
    format: String,
    virtual_size: u64,
}

/// Reads `file format: qcow2` and `virtual size: 1 GiB (1073741824 bytes)`.
fn parse_info(text: &str) -> Option<BaseInfo> {
    let mut format = None;
    let mut virtual_size = None;
    for line in text.lines() {
        if let Some(f) = line.strip_prefix("file format:") {
            format = Some(f.trim().to_owned());
        } else if let Some(v) = line.strip_prefix("virtual size:") {
            let bytes = v.split('(').nth(1)?.split_whitespace().next()?;
            virtual_size = bytes.parse().ok();
        }
    }
    Some(BaseInfo {
        format: format?,
        virtual_size: virtual_size?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_qemu_img_info() {
        let text = "image: base.qcow2\nfile format: qcow2\nvirtual size: 1 GiB (1073741824 bytes)\ndisk size: 196 KiB\n";
        assert_eq!(
            parse_info(text),
            Some(BaseInfo {
                format: "qcow2".into(),
                virtual_size: 1 << 30
            })
        );
        assert_eq!(parse_info("file format: raw\n"), None);
    }

    #[test]
    fn paths_are_named_by_desktop_id() {
        let f = DesktopFiles::new(Path::new("/d"), "x1");
        assert_eq!(f.system(), Path::new("/d/x1/system.qcow2"));
        assert_eq!(f.data(2), Path::new("/d/x1/data-2.qcow2"));
    }
}
