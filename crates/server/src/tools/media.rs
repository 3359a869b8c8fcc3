//! `read_media` and `read_image`: media delivered the way the session's
//! capability profile says the reading model can take it.
//!
//! The MIME type comes from the file's content (magic numbers), never from its
//! extension alone. Delivery follows the verdict for the file's modality:
//! an inline image (only for PNG/JPEG/GIF/WebP up to `max_inline_bytes`), a
//! typed block (audio content, or an embedded resource with the bytes), a
//! `ralph://media/<uuid>` replay reference readable through `resources/read`,
//! or an `isError` that says why the modality cannot be delivered.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use base64::Engine;
use rmcp::model::{CallToolResult, ContentBlock, Resource, ResourceContents};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ToolContext, ToolError, ToolResult};
use crate::media_store::{MediaEntry, URI_PREFIX, hash_file};
use ralph_mcp_session::media::{Delivery, Modality, Verdict};

/// Image types a client can display inline.
pub const INLINE_IMAGE_MIME_TYPES: &[&str] =
    &["image/png", "image/jpeg", "image/gif", "image/webp"];

/// What the content says a file is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detected {
    /// MIME type from the magic numbers.
    pub mime_type: String,
    /// Its modality.
    pub modality: Modality,
}

/// The modality of a MIME type; `None` for things that are not media (text, archives, …).
pub fn modality_of(mime: &str) -> Option<Modality> {
    let (top, sub) = mime.split_once('/')?;
    match top {
        "image" => Some(Modality::Image),
        "audio" => Some(Modality::Audio),
        "video" => Some(Modality::Video),
        _ if mime == "application/pdf" => Some(Modality::Pdf),
        "application"
            if sub.starts_with("vnd.openxmlformats-officedocument")
                || sub.starts_with("vnd.oasis.opendocument")
                || [
                    "msword",
                    "vnd.ms-excel",
                    "vnd.ms-powerpoint",
                    "rtf",
                    "epub+zip",
                ]
                .contains(&sub) =>
        {
            Some(Modality::Document)
        }
        _ => None,
    }
}

/// Sniffs a file's type from its first bytes (`shown` names it in messages).
pub fn detect(file: &File, shown: &str) -> Result<Detected, ToolError> {
    let head = read_head(file, 8192)
        .map_err(|e| ToolError::failed(format!("cannot read {shown}: {e}")))?;
    let ext = Path::new(shown)
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let Some(kind) = infer::get(&head) else {
        return Err(ToolError::failed(format!(
            "{shown} is not a recognised media file: its content matches no image, PDF, document, audio or video format{}; read text with read_file",
            if ext.is_empty() {
                String::new()
            } else {
                format!(" (whatever its .{ext} extension says)")
            }
        )));
    };
    let mime = kind.mime_type().to_owned();
    let modality = modality_of(&mime).ok_or_else(|| {
        ToolError::failed(format!(
            "{shown} is {mime}, which is not media read_media delivers (images, PDF, documents, audio, video)"
        ))
    })?;
    Ok(Detected {
        mime_type: mime,
        modality,
    })
}

fn read_head(file: &File, n: usize) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0u8; n];
    let mut got = 0;
    while got < n {
        let k = file.read_at(&mut buf[got..], got as u64)?;
        if k == 0 {
            break;
        }
        got += k;
    }
    buf.truncate(got);
    Ok(buf)
}

fn inline() -> String {
    "inline".into()
}

/// Arguments of `read_media` and `read_image`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MediaArgs {
    /// A file inside the allowed roots, or a `ralph://media/<uuid>` handle to replay.
    pub path: String,
    /// `inline` (deliver the media as the session's model can take it) or
    /// `metadata` (size, SHA-256, MIME type and image dimensions only).
    #[serde(default = "inline")]
    #[schemars(default = "inline")]
    pub format: String,
}

/// `read_media`.
pub fn read_media(ctx: &ToolContext, args: MediaArgs) -> ToolResult {
    deliver(ctx, "read_media", args, false)
}

/// `read_image`: like `read_media`, for images only.
pub fn read_image(ctx: &ToolContext, args: MediaArgs) -> ToolResult {
    deliver(ctx, "read_image", args, true)
}

/// Where the bytes are and what they are.
struct Source {
    file: File,
    shown: String,
    detected: Detected,
    /// Already in the replay store.
    entry: Option<MediaEntry>,
}

fn locate(ctx: &ToolContext, tool: &str, path: &str) -> Result<Source, ToolError> {
    if path.starts_with(URI_PREFIX) {
        let entry = ctx
            .media
            .lookup(path)
            .map_err(|e| ToolError::failed(e.to_string()))?;
        let modality = Modality::parse(&entry.modality)
            .ok_or_else(|| ToolError::failed(format!("{path} has an unknown modality")))?;
        return Ok(Source {
            file: ctx
                .media
                .open_bytes(path)
                .map_err(|e| ToolError::failed(e.to_string()))?,
            shown: path.to_owned(),
            detected: Detected {
                mime_type: entry.mime_type.clone(),
                modality,
            },
            entry: Some(entry),
        });
    }
    let (file, _, _) = ctx.open_file(path).map_err(|e| match e {
        ToolError::Failed(m)
            if m.contains("not a regular file") || m.contains("is a directory") =>
        {
            ToolError::InvalidArgs {
                tool: tool.into(),
                message: format!("field `path`: {path} is not a regular file"),
            }
        }
        other => other,
    })?;
    let detected = detect(&file, path)?;
    Ok(Source {
        file,
        shown: path.to_owned(),
        detected,
        entry: None,
    })
}

fn deliver(ctx: &ToolContext, tool: &str, args: MediaArgs, images_only: bool) -> ToolResult {
    if !["inline", "metadata"].contains(&args.format.as_str()) {
        return Err(ToolError::InvalidArgs {
            tool: tool.into(),
            message: format!(
                "field `format`: expected \"inline\" or \"metadata\", got {:?}",
                args.format
            ),
        });
    }
    let src = locate(ctx, tool, &args.path)?;
    if images_only && src.detected.modality != Modality::Image {
        return Err(ToolError::failed(format!(
            "{} is {}, not an image; use read_media for other media",
            src.shown, src.detected.mime_type
        )));
    }
    let verdict = ctx.media_profile.verdict(src.detected.modality).clone();
    let (sha256, size) = match &src.entry {
        Some(e) => (e.sha256.clone(), e.size),
        None => hash_file(&src.file)
            .map_err(|e| ToolError::failed(format!("cannot read {}: {e}", src.shown)))?,
    };
    let mut meta = json!({
        "path": src.shown,
        "mime_type": src.detected.mime_type,
        "modality": src.detected.modality.as_str(),
        "size_bytes": size,
        "sha256": sha256,
    });
    if src.detected.modality == Modality::Image
        && let Ok(dim) = read_head(&src.file, 64 * 1024)
            .map_err(|_| imagesize::ImageError::NotSupported)
            .and_then(|head| imagesize::blob_size(&head))
    {
        meta["width"] = json!(dim.width);
        meta["height"] = json!(dim.height);
    }
    if args.format == "metadata" {
        meta["delivery_if_inline"] = json!(verdict.delivery.as_str());
        return Ok(with_meta(meta, Vec::new()));
    }
    let max_inline = ctx.max_inline_bytes;
    let fits = size <= max_inline;
    match verdict.delivery {
        Delivery::Unsupported => Err(ToolError::failed(format!(
            "{} ({}) cannot be delivered to this model: {}. Use format=\"metadata\" for its size, hash and type.",
            src.shown,
            src.detected.modality.as_str(),
            verdict.reason
        ))),
        Delivery::InlineImage
            if fits && INLINE_IMAGE_MIME_TYPES.contains(&src.detected.mime_type.as_str()) =>
        {
            let bytes = read_all(&src)?;
            meta["delivery"] = json!("inline_image");
            meta["reason"] = json!(verdict.reason);
            Ok(with_meta(
                meta,
                vec![ContentBlock::image(b64(&bytes), &src.detected.mime_type)],
            ))
        }
        Delivery::TypedBlock if fits => {
            let entry = register(ctx, &src)?;
            let bytes = read_all(&src)?;
            meta["delivery"] = json!("typed_block");
            meta["reason"] = json!(verdict.reason);
            meta["uri"] = json!(entry.uri);
            let block = if src.detected.modality == Modality::Audio {
                ContentBlock::audio(b64(&bytes), &src.detected.mime_type)
            } else {
                ContentBlock::resource(
                    ResourceContents::blob(b64(&bytes), &entry.uri)
                        .with_mime_type(&src.detected.mime_type),
                )
            };
            Ok(with_meta(meta, vec![block]))
        }
        _ => {
            let why = reference_reason(&verdict, fits, max_inline, &src.detected);
            let entry = register(ctx, &src)?;
            meta["delivery"] = json!("resource_reference_replay");
            meta["reason"] = json!(why);
            meta["uri"] = json!(entry.uri);
            meta["note"] = json!(format!(
                "not delivered inline ({why}); read the bytes with resources/read on {}",
                entry.uri
            ));
            let link = Resource::new(&entry.uri, &entry.name)
                .with_mime_type(&entry.mime_type)
                .with_size(entry.size);
            Ok(with_meta(meta, vec![ContentBlock::resource_link(link)]))
        }
    }
}

fn reference_reason(verdict: &Verdict, fits: bool, max_inline: u64, d: &Detected) -> String {
    match verdict.delivery {
        Delivery::InlineImage | Delivery::TypedBlock if !fits => format!(
            "the file is larger than max_inline_bytes ({max_inline}); raise [media] max_inline_bytes in .agent/mcp.toml to inline it"
        ),
        Delivery::InlineImage => format!("{} is not an inline image type", d.mime_type),
        _ => verdict.reason.clone(),
    }
}

fn register(ctx: &ToolContext, src: &Source) -> Result<MediaEntry, ToolError> {
    if let Some(e) = &src.entry {
        return Ok(e.clone());
    }
    ctx.media
        .register(
            &src.file,
            Path::new(&src.shown)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .as_deref()
                .unwrap_or("media"),
            &src.detected.mime_type,
            src.detected.modality.as_str(),
        )
        .map_err(|e| ToolError::failed(e.to_string()))
}

fn read_all(src: &Source) -> Result<Vec<u8>, ToolError> {
    let len = src
        .file
        .metadata()
        .map_err(|e| ToolError::failed(format!("cannot read {}: {e}", src.shown)))?
        .len();
    let mut bytes = vec![0u8; usize::try_from(len).unwrap_or(0)];
    src.file
        .read_exact_at(&mut bytes, 0)
        .map_err(|e| ToolError::failed(format!("cannot read {}: {e}", src.shown)))?;
    Ok(bytes)
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A result whose first block is the metadata as JSON text (also `structuredContent`).
fn with_meta(meta: Value, blocks: Vec<ContentBlock>) -> CallToolResult {
    let mut content = vec![ContentBlock::text(meta.to_string())];
    content.extend(blocks);
    let mut result = CallToolResult::success(content);
    result.structured_content = Some(meta);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modality_from_mime() {
        assert_eq!(modality_of("image/png"), Some(Modality::Image));
        assert_eq!(modality_of("application/pdf"), Some(Modality::Pdf));
        assert_eq!(modality_of("audio/x-wav"), Some(Modality::Audio));
        assert_eq!(modality_of("video/mp4"), Some(Modality::Video));
        assert_eq!(
            modality_of("application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
            Some(Modality::Document)
        );
        assert_eq!(modality_of("application/zip"), None);
        assert_eq!(modality_of("text/plain"), None);
    }

    #[test]
    fn content_decides_not_the_extension() {
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("fake.png");
        std::fs::write(&fake, b"just text, not an image").unwrap();
        assert!(detect(&File::open(&fake).unwrap(), "fake.png").is_err());
        let pdf = dir.path().join("doc.bin");
        std::fs::write(&pdf, b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n").unwrap();
        assert_eq!(
            detect(&File::open(&pdf).unwrap(), "doc.bin")
                .unwrap()
                .modality,
            Modality::Pdf
        );
    }
}
