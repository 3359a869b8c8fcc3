//! Fits an upstream's non-text content to the session's media profile: a block
//! the reading model can take passes through; anything else becomes a
//! `ralph://media/<uuid>` reference (the bytes kept in the replay store), or a
//! text note when the modality cannot be delivered at all.

use base64::Engine;
use rmcp::model::{CallToolResult, ContentBlock, Resource, ResourceContents};
use serde_json::json;

use crate::tools::ToolContext;
use crate::tools::media::{INLINE_IMAGE_MIME_TYPES, modality_of};
use ralph_mcp_session::media::{Delivery, Modality};

/// Rewrites `result`'s content blocks in place.
pub fn normalize(ctx: &ToolContext, upstream: &str, result: &mut CallToolResult) {
    let blocks = std::mem::take(&mut result.content);
    result.content = blocks
        .into_iter()
        .map(|b| normalize_block(ctx, upstream, b))
        .collect();
}

fn normalize_block(ctx: &ToolContext, upstream: &str, block: ContentBlock) -> ContentBlock {
    // (base64 data, MIME type, whether it is an image block)
    let (data, mime, is_image) = match &block {
        ContentBlock::Image(img) => (img.data.clone(), img.mime_type.clone(), true),
        ContentBlock::Audio(a) => (a.data.clone(), a.mime_type.clone(), false),
        ContentBlock::Resource(r) => match &r.resource {
            ResourceContents::BlobResourceContents {
                blob, mime_type, ..
            } => (
                blob.clone(),
                mime_type
                    .clone()
                    .unwrap_or_else(|| "application/octet-stream".into()),
                false,
            ),
            _ => return block,
        },
        _ => return block,
    };
    let Some(modality) = modality_of(&mime) else {
        // Not media (an arbitrary blob): passed through as the upstream sent it.
        return block;
    };
    let verdict = ctx.media_profile.verdict(modality);
    let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(data.as_bytes()) else {
        return note(
            upstream,
            &mime,
            "its base64 data is invalid, so it was dropped",
        );
    };
    let deliverable = if is_image {
        verdict.delivery == Delivery::InlineImage
            && INLINE_IMAGE_MIME_TYPES.contains(&mime.as_str())
    } else {
        verdict.delivery == Delivery::TypedBlock
    };
    if deliverable && bytes.len() as u64 <= ctx.max_inline_bytes {
        return block;
    }
    if verdict.delivery == Delivery::Unsupported {
        return note(
            upstream,
            &mime,
            &format!("it cannot be delivered to this model: {}", verdict.reason),
        );
    }
    let name = format!("{upstream}-{}", modality.as_str());
    match ctx
        .media
        .register_bytes(&bytes, &name, &mime, modality.as_str())
    {
        Ok(entry) => {
            let link = Resource::new(&entry.uri, &entry.name)
                .with_mime_type(&entry.mime_type)
                .with_size(entry.size)
                .with_description(format!(
                    "{} from upstream `{upstream}`, kept for replay: read it with resources/read",
                    modality_label(modality)
                ));
            ContentBlock::resource_link(link)
        }
        Err(e) => note(
            upstream,
            &mime,
            &format!("it could not be kept for replay: {e}"),
        ),
    }
}

fn modality_label(m: Modality) -> &'static str {
    match m {
        Modality::Image => "an image",
        Modality::Pdf => "a PDF",
        Modality::Document => "a document",
        Modality::Audio => "audio",
        Modality::Video => "a video",
    }
}

fn note(upstream: &str, mime: &str, why: &str) -> ContentBlock {
    ContentBlock::text(
        json!({
            "upstream": upstream,
            "mime_type": mime,
            "omitted": format!("a {mime} block from upstream `{upstream}` was not delivered: {why}"),
        })
        .to_string(),
    )
}
