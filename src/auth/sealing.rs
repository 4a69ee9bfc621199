//! Secret keys at rest: AES-256-GCM under a key kept outside the database.
//!
//! A sealed value is `nonce (12 bytes) || ciphertext || tag (16 bytes)`. The nonce is random per
//! seal; with 96-bit random nonces one key stays safe for about 2^32 seals, far beyond the number
//! of credentials a deskplane will ever create.

use std::fs::{self, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rand::RngCore as _;

/// Nonce length of AES-GCM (96 bits).
const NONCE_LEN: usize = 12;
/// Authentication tag length of AES-GCM.
const TAG_LEN: usize = 16;

/// Why a key could not be loaded or a sealed value not opened.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The configured key is not base64.
    #[error("sealing key is not valid base64")]
    KeyNotBase64,
    /// The configured key decodes to the wrong length.
    #[error("sealing key must be 32 bytes, got {0}")]
    KeyLength(usize),
    /// The key file exists but does not hold a key.
    #[error("key file {}: {reason}", path.display())]
    BadKeyFile {
        /// The offending file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Reading or creating the key file failed.
    #[error("key file {}: {source}", path.display())]
    Io {
        /// The file being read or created.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The sealed value is shorter than a nonce and a tag.
    #[error("sealed value is truncated ({0} bytes)")]
    Truncated(usize),
    /// Authentication failed: the value was sealed under another key or has been altered.
    #[error("sealed value does not open with this key (wrong key or tampered)")]
    Unauthentic,
}

/// Seals and opens secrets with one AES-256-GCM key.
#[derive(Clone)]
pub struct Sealer {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.write_str("Sealer { .. }")
    }
}

impl Sealer {
    /// A sealer using these 32 key bytes.
    #[must_use]
    pub fn from_key_bytes(key: [u8; 32]) -> Self {
        Self {
            cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&key)),
        }
    }

    /// A sealer using a base64 (standard alphabet, padded) key, as written in the config.
    ///
    /// # Errors
    /// [`SealError::KeyNotBase64`] or [`SealError::KeyLength`].
    pub fn from_base64(encoded: &str) -> Result<Self, SealError> {
        let bytes = BASE64
            .decode(encoded.trim())
            .map_err(|_| SealError::KeyNotBase64)?;
        let key: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| SealError::KeyLength(bytes.len()))?;
        Ok(Self::from_key_bytes(key))
    }

    /// Loads the base64 key in `path`, or, if there is no such file, creates it (mode 0600) with
    /// 32 random bytes. A file that does not hold a valid key is refused, never replaced: the
    /// secrets sealed under it would be lost.
    ///
    /// # Errors
    /// [`SealError::BadKeyFile`] for bad content, [`SealError::Io`] for filesystem errors.
    pub fn load_or_create(path: &Path) -> Result<Self, SealError> {
        let io_err = |source| SealError::Io {
            path: path.to_owned(),
            source,
        };
        match fs::read_to_string(path) {
            Ok(text) => return Self::from_file_text(path, &text),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(e)),
        }
        let mut key = [0u8; 32];
        OsRng.fill_bytes(&mut key);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(io_err)?;
        }
        // Write a temporary file and hard-link it into place: the link fails if another process
        // created the key meanwhile, so two starts can never leave two different keys, and a
        // crash never leaves a half-written key file.
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let written = write_private(&tmp, &format!("{}\n", BASE64.encode(key)));
        let linked = written.and_then(|()| fs::hard_link(&tmp, path));
        // Best effort: a leftover temp file holds a key that was never used.
        let _ = fs::remove_file(&tmp);
        match linked {
            Ok(()) => Ok(Self::from_key_bytes(key)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let text = fs::read_to_string(path).map_err(io_err)?;
                Self::from_file_text(path, &text)
            }
            Err(e) => Err(io_err(e)),
        }
    }

    /// Encrypts `plaintext`; the result is `nonce || ciphertext || tag`.
    ///
    /// # Panics
    /// Only for a plaintext over 64 GiB, which AES-GCM cannot encrypt under one nonce.
    #[must_use]
    pub fn seal(&self, plaintext: &[u8]) -> Vec<u8> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let ciphertext = self
            .cipher
            .encrypt(&nonce, plaintext)
            .expect("AES-GCM encryption only fails for plaintexts over 64 GiB");
        let mut out = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        out
    }

    /// Decrypts a value produced by [`Sealer::seal`] under the same key.
    ///
    /// # Errors
    /// [`SealError::Truncated`] or [`SealError::Unauthentic`] (wrong key or altered bytes).
    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, SealError> {
        if sealed.len() < NONCE_LEN + TAG_LEN {
            return Err(SealError::Truncated(sealed.len()));
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        self.cipher
            .decrypt(Nonce::from_slice(nonce), ciphertext)
            .map_err(|_| SealError::Unauthentic)
    }

    fn from_file_text(path: &Path, text: &str) -> Result<Self, SealError> {
        Self::from_base64(text).map_err(|e| SealError::BadKeyFile {
            path: path.to_owned(),
            reason: e.to_string(),
        })
    }
}

/// Creates `path` (which must not exist) readable by the owner only, writes `text` and syncs.
fn write_private(path: &Path, text: &str) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer(byte: u8) -> Sealer {
        Sealer::from_key_bytes([byte; 32])
    }

    #[test]
    fn round_trip_with_fresh_nonces() {
        let s = sealer(7);
        let a = s.seal(b"q8Zr1mTnW4yXc0VbK6sJdLfH2gPeA9uRiO3tY7wE");
        let b = s.seal(b"q8Zr1mTnW4yXc0VbK6sJdLfH2gPeA9uRiO3tY7wE");
        assert_ne!(a, b, "each seal must use a new nonce");
        assert_eq!(a.len(), NONCE_LEN + 40 + TAG_LEN);
        assert_eq!(
            s.open(&a).unwrap(),
            b"q8Zr1mTnW4yXc0VbK6sJdLfH2gPeA9uRiO3tY7wE"
        );
        assert_eq!(s.open(&s.seal(b"")).unwrap(), b"");
    }

    #[test]
    fn wrong_key_tampering_and_truncation_fail() {
        let sealed = sealer(1).seal(b"secret");
        assert!(matches!(
            sealer(2).open(&sealed),
            Err(SealError::Unauthentic)
        ));
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x01;
            assert!(
                matches!(sealer(1).open(&bad), Err(SealError::Unauthentic)),
                "byte {i}"
            );
        }
        assert!(matches!(
            sealer(1).open(&sealed[..27]),
            Err(SealError::Truncated(27))
        ));
    }

    #[test]
    fn base64_key_is_checked() {
        let key = BASE64.encode([9u8; 32]);
        let sealed = Sealer::from_base64(&format!(" {key}\n"))
            .unwrap()
            .seal(b"x");
        assert_eq!(sealer(9).open(&sealed).unwrap(), b"x");
        assert!(matches!(
            Sealer::from_base64("not base64!"),
            Err(SealError::KeyNotBase64)
        ));
        let short = BASE64.encode([9u8; 16]);
        assert!(matches!(
            Sealer::from_base64(&short),
            Err(SealError::KeyLength(16))
        ));
    }

    #[test]
    fn load_or_create_creates_private_file_then_reloads_same_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/seal.key");
        let first = Sealer::load_or_create(&path).unwrap();
        let sealed = first.seal(b"sk");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let again = Sealer::load_or_create(&path).unwrap();
        assert_eq!(again.open(&sealed).unwrap(), b"sk");
        let leftovers = fs::read_dir(path.parent().unwrap()).unwrap().count();
        assert_eq!(leftovers, 1, "the temporary file must be removed");
    }

    #[test]
    fn load_or_create_refuses_bad_file_and_keeps_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seal.key");
        fs::write(&path, "garbage").unwrap();
        let err = Sealer::load_or_create(&path).unwrap_err();
        assert!(matches!(err, SealError::BadKeyFile { .. }), "{err}");
        assert_eq!(fs::read_to_string(&path).unwrap(), "garbage");
    }
}
