//! Attachment bytes on disk, and the limits and URLs of the two-phase
//! upload (§4.5, §9.12, §9.13, §11.7).
//!
//! The record (the protocol [`Attachment`]) lives in SQLite like every
//! other document; this module owns the bytes. Each attachment's bytes are
//! one file named by its id in [`AttachmentConfig::dir`]. An upload is
//! written to a hidden temporary file in the same directory (`.<id>.<uuid>.part`),
//! flushed to disk and then renamed over the final name, so a reader never
//! sees half a file: a failed, refused or cut upload removes its temporary
//! file, and a crash can only leave temporary files, which
//! [`AttachmentStore::open`] deletes at start-up. Whether an attachment's
//! bytes were uploaded is simply whether its file exists.
//!
//! Records never bound to a thread by a stored user message (orphans)
//! are removed with their bytes once older than
//! [`AttachmentConfig::orphan_ttl`], by a periodic sweep the engine runs
//! (`sweep.rs`), which also removes temporary files older than that.
//!
//! The store knows the public URLs of the upload and preview endpoints
//! (served by the HTTP layer) to put them in the records it builds. Preview
//! URLs carry the attachment id, an unguessable UUIDv7 (74 random bits):
//! they work as capabilities, so an `<img>` tag (which cannot send the
//! user header) can load them.

mod sweep;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use futures_util::{Stream, StreamExt};
use indexmap::IndexMap;

use crate::error::EngineError;
use crate::ids::{self, IdKind};
use crate::protocol::{Attachment, AttachmentKind, AttachmentUploadDescriptor, UploadMethod};

pub use sweep::{SweepReport, sweep_orphans};

/// Default largest attachment: 20 MiB.
pub const DEFAULT_MAX_BYTES: u64 = 20 * 1024 * 1024;

/// Default allowed MIME types.
pub const DEFAULT_ALLOWED_TYPES: [&str; 3] = ["image/*", "application/pdf", "text/*"];

/// Default public base URL (the default listen address).
pub const DEFAULT_PUBLIC_BASE_URL: &str = "http://127.0.0.1:8000";

/// Default path of the upload endpoint; `{id}` is the attachment id.
pub const DEFAULT_UPLOAD_PATH: &str = "/chatkit/attachments/{id}/upload";

/// Default path of the preview endpoint; `{id}` is the attachment id.
pub const DEFAULT_PREVIEW_PATH: &str = "/chatkit/attachments/{id}/preview";

/// Default age after which an attachment never sent in a message is
/// removed: a day, long enough for a draft left open over lunch or a
/// night, short enough that abandoned uploads do not pile up.
pub const DEFAULT_ORPHAN_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// Longest pause between two orphan sweeps when the interval is derived
/// from the age (a quarter of it): an hour, so an orphan outlives its age
/// by at most that much.
const MAX_SWEEP_INTERVAL: Duration = Duration::from_secs(60 * 60);

/// Shortest derived pause between two sweeps: a second, so a tiny age
/// never turns the sweep into a busy loop.
const MIN_SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// How image attachments reach the model.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ImageInput {
    /// The bytes, inline as a `data:` URL (works with any provider, even
    /// one that cannot reach this server; costs request size).
    #[default]
    DataUrl,
    /// The image's preview URL under
    /// [`AttachmentConfig::public_base_url`], which the provider fetches
    /// itself. The base URL must be reachable from the provider.
    Url,
}

/// Bytes gathered before each write to the temporary file.
const WRITE_CHUNK: usize = 256 * 1024;

/// Where attachment bytes go and what is accepted.
#[derive(Clone, Debug)]
pub struct AttachmentConfig {
    /// The directory of the bytes (created if missing).
    pub dir: PathBuf,
    /// Largest attachment, in bytes (declared on create, actual on upload).
    pub max_bytes: u64,
    /// Accepted MIME types: exact (`application/pdf`), a family
    /// (`image/*`) or anything (`*/*` or `*`). Case-insensitive;
    /// parameters such as `; charset=utf-8` are ignored.
    pub allowed_types: Vec<String>,
    /// The server as clients reach it (scheme, host, port, and any path
    /// prefix a proxy adds), without a trailing slash.
    pub public_base_url: String,
    /// Path of the upload endpoint, with `{id}` for the attachment id.
    pub upload_path: String,
    /// Path of the preview endpoint, with `{id}` for the attachment id.
    pub preview_path: String,
    /// Age after which an attachment never bound to a thread by a stored
    /// user message is removed (record and bytes), and after which a
    /// temporary upload file counts as left behind. `None` (or zero)
    /// keeps them forever. Default [`DEFAULT_ORPHAN_TTL`].
    pub orphan_ttl: Option<Duration>,
    /// Pause between two orphan sweeps; `None`: a quarter of the age,
    /// between a second and an hour.
    pub orphan_sweep_interval: Option<Duration>,
    /// How images reach the model. Default [`ImageInput::DataUrl`].
    pub image_input: ImageInput,
}

impl AttachmentConfig {
    /// Defaults with bytes in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            max_bytes: DEFAULT_MAX_BYTES,
            allowed_types: DEFAULT_ALLOWED_TYPES
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            public_base_url: DEFAULT_PUBLIC_BASE_URL.to_owned(),
            upload_path: DEFAULT_UPLOAD_PATH.to_owned(),
            preview_path: DEFAULT_PREVIEW_PATH.to_owned(),
            orphan_ttl: Some(DEFAULT_ORPHAN_TTL),
            orphan_sweep_interval: None,
            image_input: ImageInput::default(),
        }
    }

    /// The orphan age, unless the sweep is off.
    pub fn orphan_ttl(&self) -> Option<Duration> {
        self.orphan_ttl.filter(|ttl| !ttl.is_zero())
    }

    /// The pause between two sweeps, unless the sweep is off.
    pub fn orphan_sweep_interval(&self) -> Option<Duration> {
        let ttl = self.orphan_ttl()?;
        Some(match self.orphan_sweep_interval {
            Some(every) if !every.is_zero() => every,
            _ => (ttl / 4).clamp(MIN_SWEEP_INTERVAL, MAX_SWEEP_INTERVAL),
        })
    }

    /// Checks what cannot work: [`ImageInput::Url`] needs an absolute
    /// `http(s)` public base URL (the provider fetches images from it).
    pub fn validate(&self) -> Result<(), String> {
        if self.image_input == ImageInput::Url {
            let base = self.public_base_url.trim();
            let host = base
                .strip_prefix("https://")
                .or_else(|| base.strip_prefix("http://"))
                .unwrap_or("");
            if host.is_empty() || host.starts_with('/') {
                return Err(format!(
                    "images sent to the model by URL need an absolute http(s) public base URL \
                     the provider can reach, not {base:?}"
                ));
            }
        }
        Ok(())
    }

    /// Defaults with bytes in `attachments/` beside the database file.
    pub fn beside(db_path: &Path) -> Self {
        let dir = match db_path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.join("attachments"),
            _ => PathBuf::from("attachments"),
        };
        Self::new(dir)
    }
}

/// The attachment bytes on disk, with the configured limits.
#[derive(Clone, Debug)]
pub struct AttachmentStore {
    config: AttachmentConfig,
}

impl AttachmentStore {
    /// Creates the directory if needed and removes temporary files a crash
    /// left behind.
    pub fn open(config: AttachmentConfig) -> std::io::Result<Self> {
        std::fs::create_dir_all(&config.dir)?;
        for entry in std::fs::read_dir(&config.dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if is_temp_name(&name) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        Ok(Self { config })
    }

    /// The configuration.
    pub fn config(&self) -> &AttachmentConfig {
        &self.config
    }

    /// Whether `mime_type` is accepted.
    pub fn type_allowed(&self, mime_type: &str) -> bool {
        mime_allowed(&self.config.allowed_types, mime_type)
    }

    /// Checks a type: 415 unless it is accepted.
    pub fn check_type(&self, mime_type: &str) -> Result<(), EngineError> {
        if self.type_allowed(mime_type) {
            Ok(())
        } else {
            Err(EngineError::UnsupportedMediaType(format!(
                "attachments of type {mime_type:?} are not accepted"
            )))
        }
    }

    /// Checks a declared type and size: 415 or 413.
    pub fn check(&self, mime_type: &str, size: u64) -> Result<(), EngineError> {
        self.check_type(mime_type)?;
        if size > self.config.max_bytes {
            return Err(self.too_large());
        }
        Ok(())
    }

    fn too_large(&self) -> EngineError {
        EngineError::PayloadTooLarge(format!(
            "attachments are limited to {} bytes",
            self.config.max_bytes
        ))
    }

    /// The public URL of an endpoint path template for `id`.
    fn url(&self, template: &str, id: &str) -> String {
        format!(
            "{}{}",
            self.config.public_base_url.trim_end_matches('/'),
            template.replace("{id}", id)
        )
    }

    /// The public preview URL of `id` (a capability URL: see the module
    /// doc), under the configured public base URL.
    pub fn preview_url(&self, id: &str) -> String {
        self.url(&self.config.preview_path, id)
    }

    /// A new record (fresh id): `image` with a preview URL for `image/*`,
    /// else `file`; the upload descriptor points at the upload endpoint
    /// (`POST` multipart with a `file` field; `PUT` with the raw body works
    /// too). Checks nothing: call [`check`](Self::check) first.
    pub fn new_record(&self, name: String, mime_type: String) -> Attachment {
        let id = ids::generate(IdKind::Attachment);
        let kind = if is_image(&mime_type) {
            AttachmentKind::Image {
                preview_url: self.preview_url(&id),
            }
        } else {
            AttachmentKind::File
        };
        Attachment {
            upload_descriptor: Some(AttachmentUploadDescriptor {
                url: self.url(&self.config.upload_path, &id),
                method: UploadMethod::Post,
                headers: IndexMap::new(),
            }),
            id,
            name,
            mime_type,
            thread_id: None,
            metadata: None,
            kind,
        }
    }

    /// The file of `id`, or `None` for an id that is not a safe file name.
    fn path(&self, id: &str) -> Option<PathBuf> {
        let safe = !id.is_empty()
            && id.len() <= 200
            && !id.starts_with('.')
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        safe.then(|| self.config.dir.join(id))
    }

    /// Writes the bytes of `id` from a stream of chunks, at most
    /// `max_bytes` (413 beyond, with nothing kept) and, when `expected` is
    /// given, exactly that many (400 otherwise, with nothing kept). The
    /// bytes become visible all at once, when complete; an error of the
    /// stream, or dropping the returned future, leaves no file. Returns the
    /// size.
    pub async fn write_stream<S, B, E>(
        &self,
        id: &str,
        stream: S,
        expected: Option<u64>,
    ) -> Result<u64, EngineError>
    where
        S: Stream<Item = Result<B, E>>,
        B: AsRef<[u8]>,
        E: std::fmt::Display,
    {
        let target = self.path(id).ok_or(EngineError::NotFound("attachment"))?;
        let temp = self
            .config
            .dir
            .join(format!(".{id}.{}.part", uuid::Uuid::now_v7().simple()));
        let guard = TempFile(Some(temp.clone()));
        let mut file = Some(
            blocking(move || std::fs::File::create_new(&temp))
                .await
                .map_err(io_error)?,
        );
        let mut buf: Vec<u8> = Vec::with_capacity(WRITE_CHUNK);
        let mut total: u64 = 0;
        let mut stream = std::pin::pin!(stream);
        loop {
            let next = stream.next().await;
            let done = next.is_none();
            if let Some(chunk) = next {
                let chunk = chunk.map_err(|e| {
                    EngineError::bad_request(
                        "invalid_body",
                        format!("reading the upload failed: {e}"),
                    )
                })?;
                let chunk = chunk.as_ref();
                total += chunk.len() as u64;
                if total > self.config.max_bytes {
                    return Err(self.too_large());
                }
                if let Some(expected) = expected.filter(|e| total > *e) {
                    return Err(size_mismatch(expected, None));
                }
                buf.extend_from_slice(chunk);
            }
            if done && let Some(expected) = expected.filter(|e| total < *e) {
                return Err(size_mismatch(expected, Some(total)));
            }
            if buf.len() >= WRITE_CHUNK || (done && !buf.is_empty()) {
                let mut f = file.take().expect("file is put back after each write");
                let data = std::mem::take(&mut buf);
                let (f, mut data) = blocking(move || {
                    f_write(&mut f, &data)?;
                    Ok((f, data))
                })
                .await
                .map_err(io_error)?;
                data.clear();
                buf = data;
                file = Some(f);
            }
            if done {
                break;
            }
        }
        let f = file.take().expect("file present");
        let temp = guard.0.clone().expect("armed");
        let dir = self.config.dir.clone();
        blocking(move || {
            f.sync_all()?;
            drop(f);
            std::fs::rename(&temp, &target)?;
            // Make the rename durable too (best effort: not every platform
            // can open a directory).
            if let Ok(d) = std::fs::File::open(&dir) {
                let _ = d.sync_all();
            }
            Ok(())
        })
        .await
        .map_err(io_error)?;
        guard.disarm();
        Ok(total)
    }

    /// Writes the bytes of `id` from memory (same rules as
    /// [`write_stream`](Self::write_stream), no expected size).
    pub async fn write_bytes(&self, id: &str, bytes: Vec<u8>) -> Result<u64, EngineError> {
        let once =
            futures_util::stream::once(async move { Ok::<_, std::convert::Infallible>(bytes) });
        self.write_stream(id, once, None).await
    }

    /// Deletes the bytes of each of `ids` in one blocking task (none
    /// uploaded: no error). Returns the ids whose file could not be
    /// removed, with the reason; `Err` if the task itself failed.
    pub async fn delete_many(
        &self,
        ids: Vec<String>,
    ) -> Result<Vec<(String, std::io::Error)>, EngineError> {
        let paths: Vec<(String, Option<PathBuf>)> = ids
            .into_iter()
            .map(|id| {
                let path = self.path(&id);
                (id, path)
            })
            .collect();
        blocking(move || {
            Ok(paths
                .into_iter()
                .filter_map(|(id, path)| match std::fs::remove_file(path?) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => Some((id, e)),
                    _ => None,
                })
                .collect())
        })
        .await
        .map_err(io_error)
    }

    /// Whether bytes of `id` were uploaded (and not deleted).
    pub async fn exists(&self, id: &str) -> bool {
        let Some(path) = self.path(id) else {
            return false;
        };
        blocking(move || Ok(path.is_file())).await.unwrap_or(false)
    }

    /// Removes the temporary upload files last written more than `age`
    /// ago: what a crash mid-upload leaves behind. Returns how many.
    pub async fn remove_stale_temp_files(&self, age: Duration) -> Result<usize, EngineError> {
        let dir = self.config.dir.clone();
        blocking(move || {
            let mut removed = 0;
            let now = SystemTime::now();
            for entry in std::fs::read_dir(&dir)? {
                let entry = entry?;
                if !is_temp_name(&entry.file_name().to_string_lossy()) {
                    continue;
                }
                // Unknown times (an odd file system) count as old.
                let modified = entry.metadata().and_then(|m| m.modified()).ok();
                let old = modified
                    .and_then(|m| now.duration_since(m).ok())
                    .is_none_or(|elapsed| elapsed > age);
                if old {
                    match std::fs::remove_file(entry.path()) {
                        Ok(()) => removed += 1,
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            Ok(removed)
        })
        .await
        .map_err(io_error)
    }

    /// The bytes of `id`, or `None` when none were uploaded.
    pub async fn read(&self, id: &str) -> Result<Option<Vec<u8>>, EngineError> {
        let Some(path) = self.path(id) else {
            return Ok(None);
        };
        blocking(move || match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        })
        .await
        .map_err(io_error)
    }

    /// Deletes the bytes of `id` (none uploaded: no error).
    pub async fn delete(&self, id: &str) -> Result<(), EngineError> {
        let Some(path) = self.path(id) else {
            return Ok(());
        };
        blocking(move || match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        })
        .await
        .map_err(io_error)
    }
}

/// Whether a file name in the directory is an upload's temporary file.
fn is_temp_name(name: &str) -> bool {
    name.starts_with('.') && name.ends_with(".part")
}

/// The 400 of an upload whose size is not the declared one: `got` is the
/// whole size when it is short, `None` when it ran past `expected`.
fn size_mismatch(expected: u64, got: Option<u64>) -> EngineError {
    let message = match got {
        Some(got) => format!(
            "the upload has {got} bytes, not the {expected} declared in attachments.create; \
             nothing was kept"
        ),
        None => format!(
            "the upload is larger than the {expected} bytes declared in attachments.create; \
             nothing was kept"
        ),
    };
    EngineError::bad_request("invalid_body", message)
}

fn f_write(f: &mut std::fs::File, data: &[u8]) -> std::io::Result<()> {
    f.write_all(data)
}

/// Runs file-system work on tokio's blocking pool.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> std::io::Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| std::io::Error::other(format!("blocking task failed: {e}")))?
}

fn io_error(e: std::io::Error) -> EngineError {
    EngineError::Internal(format!("attachment storage: {e}"))
}

/// Removes a temporary file when dropped, unless disarmed.
struct TempFile(Option<PathBuf>);

impl TempFile {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Whether a MIME type is an image (gets a preview).
pub fn is_image(mime_type: &str) -> bool {
    essence(mime_type).starts_with("image/")
}

/// The type without parameters, lower-cased.
fn essence(mime_type: &str) -> String {
    mime_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Whether `mime_type` matches one of `patterns` (`type/subtype`,
/// `type/*`, `*/*` or `*`).
pub fn mime_allowed(patterns: &[String], mime_type: &str) -> bool {
    let mime = essence(mime_type);
    let Some((top, sub)) = mime.split_once('/') else {
        return false;
    };
    if top.is_empty() || sub.is_empty() {
        return false;
    }
    patterns.iter().any(|p| {
        let p = essence(p);
        match p.as_str() {
            "*" | "*/*" => true,
            _ => match p.strip_suffix("/*") {
                Some(family) => family == top,
                None => p == mime,
            },
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patterns(p: &[&str]) -> Vec<String> {
        p.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn mime_patterns() {
        let p = patterns(&["image/*", "application/pdf", "TEXT/*"]);
        assert!(mime_allowed(&p, "image/png"));
        assert!(mime_allowed(&p, "Image/PNG"));
        assert!(mime_allowed(&p, "application/pdf"));
        assert!(mime_allowed(&p, "text/plain; charset=utf-8"));
        assert!(!mime_allowed(&p, "application/zip"));
        assert!(!mime_allowed(&p, "imagepng"));
        assert!(!mime_allowed(&p, "image/"));
        assert!(!mime_allowed(&p, "application/pdfx"));
        assert!(mime_allowed(&patterns(&["*/*"]), "application/zip"));
        assert!(!mime_allowed(&[], "image/png"));
    }

    #[test]
    fn records_point_at_the_endpoints() {
        let mut config = AttachmentConfig::new("unused");
        config.public_base_url = "https://chat.example.com/api/".into();
        let store = AttachmentStore { config };
        let image = store.new_record("cat.png".into(), "image/png".into());
        assert!(image.id.starts_with("atc_"));
        let descriptor = image.upload_descriptor.as_ref().unwrap();
        assert_eq!(
            descriptor.url,
            format!(
                "https://chat.example.com/api/chatkit/attachments/{}/upload",
                image.id
            )
        );
        assert_eq!(descriptor.method, UploadMethod::Post);
        assert_eq!(
            image.kind,
            AttachmentKind::Image {
                preview_url: format!(
                    "https://chat.example.com/api/chatkit/attachments/{}/preview",
                    image.id
                )
            }
        );
        let pdf = store.new_record("a.pdf".into(), "application/pdf".into());
        assert_eq!(pdf.kind, AttachmentKind::File);
    }

    #[test]
    fn unsafe_ids_have_no_path() {
        let store = AttachmentStore {
            config: AttachmentConfig::new("d"),
        };
        assert!(store.path("atc_0190abc").is_some());
        for id in ["", "../x", "a/b", ".hidden", "a\\b", "a.b"] {
            assert!(store.path(id).is_none(), "{id}");
        }
    }

    #[test]
    fn the_sweep_interval_follows_the_age_unless_set() {
        let mut config = AttachmentConfig::new("d");
        assert_eq!(config.orphan_ttl(), Some(DEFAULT_ORPHAN_TTL));
        assert_eq!(config.orphan_sweep_interval(), Some(MAX_SWEEP_INTERVAL));
        config.orphan_ttl = Some(Duration::from_secs(40));
        assert_eq!(
            config.orphan_sweep_interval(),
            Some(Duration::from_secs(10))
        );
        config.orphan_ttl = Some(Duration::from_millis(100));
        assert_eq!(config.orphan_sweep_interval(), Some(MIN_SWEEP_INTERVAL));
        config.orphan_sweep_interval = Some(Duration::from_millis(50));
        assert_eq!(
            config.orphan_sweep_interval(),
            Some(Duration::from_millis(50))
        );
        for off in [None, Some(Duration::ZERO)] {
            config.orphan_ttl = off;
            assert_eq!(config.orphan_ttl(), None);
            assert_eq!(config.orphan_sweep_interval(), None);
        }
    }

    #[test]
    fn images_by_url_need_an_absolute_base_url() {
        let mut config = AttachmentConfig::new("d");
        config.public_base_url = String::new();
        assert!(config.validate().is_ok(), "data URLs need no base URL");
        config.image_input = ImageInput::Url;
        for bad in ["", "/api", "chat.example.com", "https://", "ftp://x"] {
            config.public_base_url = bad.into();
            let err = config.validate().unwrap_err();
            assert!(err.contains("public base URL"), "{bad}: {err}");
        }
        for good in ["https://chat.example.com/api", "http://10.0.0.5:8000"] {
            config.public_base_url = good.into();
            assert!(config.validate().is_ok(), "{good}");
        }
    }

    #[test]
    fn beside_the_database() {
        assert_eq!(
            AttachmentConfig::beside(Path::new("/data/chat.sqlite3")).dir,
            PathBuf::from("/data/attachments")
        );
        assert_eq!(
            AttachmentConfig::beside(Path::new("chat.sqlite3")).dir,
            PathBuf::from("attachments")
        );
    }

    #[test]
    fn writes_are_atomic_and_limited() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let mut config = AttachmentConfig::new(dir.path());
            config.max_bytes = 10;
            let store = AttachmentStore::open(config).unwrap();
            assert_eq!(
                store.write_bytes("atc_1", b"hello".to_vec()).await.unwrap(),
                5
            );
            assert_eq!(store.read("atc_1").await.unwrap().unwrap(), b"hello");
            let err = store.write_bytes("atc_2", vec![0; 11]).await.unwrap_err();
            assert_eq!(err.status(), 413);
            let chunks =
                futures_util::stream::iter(vec![Ok(b"abc".to_vec()), Err("connection reset")]);
            let err = store.write_stream("atc_3", chunks, None).await.unwrap_err();
            assert_eq!(err.status(), 400);
            // Not the declared size, short or long: 400, nothing kept.
            for (declared, sent) in [(6, 5), (4, 5)] {
                let chunks = futures_util::stream::iter(vec![
                    Ok::<_, std::convert::Infallible>(b"abc".to_vec()),
                    Ok(b"de".to_vec()),
                ]);
                let err = store
                    .write_stream("atc_4", chunks, Some(declared))
                    .await
                    .unwrap_err();
                assert_eq!(err.status(), 400, "{declared} declared, {sent} sent");
                assert!(err.to_string().contains("declared"), "{err}");
            }
            let once = futures_util::stream::iter(vec![Ok::<_, std::convert::Infallible>(b"ok")]);
            assert_eq!(store.write_stream("atc_5", once, Some(2)).await.unwrap(), 2);
            store.delete("atc_5").await.unwrap();
            let names: Vec<_> = std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect();
            assert_eq!(names, vec!["atc_1".to_owned()]);
            store.delete("atc_1").await.unwrap();
            store.delete("atc_1").await.unwrap();
            assert!(store.read("atc_1").await.unwrap().is_none());
        });
    }
}
