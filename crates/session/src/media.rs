//! Media delivery per modality (the session's `model_identity` / `capability_profile`, see `docs/reference.md`).
//!
//! A session's `model_identity` (`provider`, `model_id`, `transport`) resolves to
//! a [`Verdict`] per [`Modality`]: how a `read_media` result may carry that kind
//! of file to the model. A stored `capability_profile` is honoured only where it
//! is more conservative than the resolved verdict, so a stale or hand-edited
//! profile can restrict delivery but never widen it.

use serde_json::Value;

/// A kind of media.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Modality {
    /// PNG, JPEG, GIF, WebP, …
    Image,
    /// PDF.
    Pdf,
    /// Office documents and other files a model reads as a document.
    Document,
    /// Audio.
    Audio,
    /// Video.
    Video,
}

impl Modality {
    /// Every modality, in profile order.
    pub const ALL: [Modality; 5] = [
        Self::Image,
        Self::Pdf,
        Self::Document,
        Self::Audio,
        Self::Video,
    ];

    /// The profile key.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Image => "image",
            Self::Pdf => "pdf",
            Self::Document => "document",
            Self::Audio => "audio",
            Self::Video => "video",
        }
    }

    /// Parses a profile key.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

/// How a modality is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Base64 image content in the tool result.
    InlineImage,
    /// A typed content block carrying the bytes (embedded resource or audio block).
    TypedBlock,
    /// A `ralph://media/<id>` reference, readable through `resources/read`.
    ResourceReferenceReplay,
    /// Refused with an explanation.
    Unsupported,
}

impl Delivery {
    /// The profile spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InlineImage => "inline_image",
            Self::TypedBlock => "typed_block",
            Self::ResourceReferenceReplay => "resource_reference_replay",
            Self::Unsupported => "unsupported",
        }
    }

    /// Parses the profile spelling.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::InlineImage,
            Self::TypedBlock,
            Self::ResourceReferenceReplay,
            Self::Unsupported,
        ]
        .into_iter()
        .find(|d| d.as_str() == s)
    }

    /// How much a delivery asks of the client: unsupported < reference < bytes.
    pub fn demand(self) -> u8 {
        match self {
            Self::Unsupported => 0,
            Self::ResourceReferenceReplay => 1,
            Self::TypedBlock | Self::InlineImage => 2,
        }
    }
}

/// The decision for one modality.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// How to deliver.
    pub delivery: Delivery,
    /// Why, for the model and the operator.
    pub reason: String,
}

/// Who reads the results.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelIdentity {
    /// `claude`, `anthropic`, `openai`, `codex`, `gemini`, … (lower-cased).
    pub provider: String,
    /// The model, when known.
    pub model_id: Option<String>,
    /// The agent CLI (`claude`, `codex`, `opencode`, …), lower-cased.
    pub transport: Option<String>,
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(Value::as_str)
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
}

impl ModelIdentity {
    /// Reads `model_identity` from a session payload value; `None` when absent or not an object.
    pub fn from_value(v: Option<&Value>) -> Option<Self> {
        let v = v?.as_object()?;
        let v = Value::Object(v.clone());
        Some(Self {
            provider: text(&v, "provider").unwrap_or_else(|| "unknown".into()),
            model_id: v.get("model_id").and_then(Value::as_str).map(str::to_owned),
            transport: text(&v, "transport"),
        })
    }
}

/// Transports whose CLI cannot carry an inline image block back to its model.
const ROUNDTRIP_UNSAFE_TRANSPORTS: &[&str] = &["codex"];

fn provider_row(provider: &str, modality: Modality) -> Option<Verdict> {
    use Delivery::*;
    use Modality::*;
    let v = |delivery, reason: &str| {
        Some(Verdict {
            delivery,
            reason: reason.into(),
        })
    };
    match (provider, modality) {
        ("claude" | "anthropic", Image) => v(InlineImage, "Claude takes inline images"),
        ("claude" | "anthropic", Pdf | Document) => v(
            TypedBlock,
            "Claude takes PDFs and documents as typed blocks",
        ),
        ("claude" | "anthropic", Audio | Video) => v(
            Unsupported,
            "Claude does not accept this modality through MCP tool results",
        ),
        ("gemini" | "google", Image) => v(InlineImage, "Gemini takes inline images"),
        ("gemini" | "google", _) => v(TypedBlock, "Gemini takes every modality as a typed block"),
        ("openai" | "codex", Image) => v(InlineImage, "OpenAI models take inline images"),
        ("openai" | "codex", _) => v(
            Unsupported,
            "OpenAI/Codex models take images only through MCP tool results",
        ),
        _ => None,
    }
}

/// The verdict for `identity` and `modality` from the provider table alone.
pub fn resolve(identity: Option<&ModelIdentity>, modality: Modality) -> Verdict {
    let Some(identity) = identity else {
        return Verdict {
            delivery: Delivery::ResourceReferenceReplay,
            reason: "no model_identity in the session: delivering a replayable reference".into(),
        };
    };
    let Some(mut verdict) = provider_row(&identity.provider, modality) else {
        return Verdict {
            delivery: Delivery::ResourceReferenceReplay,
            reason: format!(
                "unknown provider `{}`: delivering a replayable reference",
                identity.provider
            ),
        };
    };
    let transport = identity.transport.as_deref().unwrap_or("");
    if ROUNDTRIP_UNSAFE_TRANSPORTS.contains(&transport)
        && matches!(
            verdict.delivery,
            Delivery::InlineImage | Delivery::TypedBlock
        )
    {
        verdict = Verdict {
            delivery: Delivery::ResourceReferenceReplay,
            reason: format!(
                "the `{transport}` CLI cannot carry media blocks back to its model: delivering a replayable reference"
            ),
        };
    }
    verdict
}

/// The resolved profile of a session: one verdict per modality.
#[derive(Debug, Clone)]
pub struct MediaProfile {
    identity: Option<ModelIdentity>,
    verdicts: Vec<(Modality, Verdict)>,
}

impl MediaProfile {
    /// Resolves `model_identity` and applies the stored `capability_profile`:
    /// for a provider the table knows, only where it is more conservative (less
    /// demanding) than the resolution; for an unknown provider, as stored (the
    /// orchestrator knows its model better than the fallback), except that a
    /// round-trip-unsafe CLI never gets media inline. Unparseable entries are ignored.
    pub fn new(model_identity: Option<&Value>, stored: Option<&Value>) -> Self {
        let identity = ModelIdentity::from_value(model_identity).or_else(|| {
            // A stored profile names its identity too.
            stored.and_then(|s| ModelIdentity::from_value(Some(s)))
        });
        let verdicts = Modality::ALL
            .into_iter()
            .map(|m| {
                let fresh = resolve(identity.as_ref(), m);
                let stored = stored_verdict(stored, m);
                let known = identity
                    .as_ref()
                    .is_some_and(|i| provider_row(&i.provider, m).is_some());
                let unsafe_transport = identity.as_ref().is_some_and(|i| {
                    ROUNDTRIP_UNSAFE_TRANSPORTS.contains(&i.transport.as_deref().unwrap_or(""))
                });
                let verdict = match stored {
                    // Where the table has nothing to say (an unknown provider), the
                    // orchestrator's stored verdict decides, as it does in Ralph;
                    // a CLI that cannot carry media back still never gets it inline.
                    Some(s) if !known && !unsafe_transport => s,
                    stored => restrict(fresh, stored),
                };
                (m, verdict)
            })
            .collect();
        Self { identity, verdicts }
    }

    /// The verdict for `modality`.
    pub fn verdict(&self, modality: Modality) -> &Verdict {
        &self
            .verdicts
            .iter()
            .find(|(m, _)| *m == modality)
            .expect("every modality is resolved")
            .1
    }

    /// The identity the profile was resolved for.
    pub fn identity(&self) -> Option<&ModelIdentity> {
        self.identity.as_ref()
    }
}

fn stored_verdict(stored: Option<&Value>, m: Modality) -> Option<Verdict> {
    let entry = stored?.get("verdicts")?.get(m.as_str())?;
    let delivery = Delivery::parse(entry.get("delivery")?.as_str()?)?;
    Some(Verdict {
        delivery,
        reason: entry
            .get("reason")
            .and_then(Value::as_str)
            .unwrap_or("from the session's capability_profile")
            .to_owned(),
    })
}

/// `stored` wins only when it asks strictly less of the client than `fresh`.
pub fn restrict(fresh: Verdict, stored: Option<Verdict>) -> Verdict {
    match stored {
        Some(s) if s.delivery.demand() < fresh.delivery.demand() => s,
        _ => fresh,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn profile(identity: Value) -> MediaProfile {
        MediaProfile::new(Some(&identity), None)
    }

    #[test]
    fn provider_table() {
        use Delivery::*;
        let claude = profile(json!({"provider": "Claude", "transport": "claude"}));
        assert_eq!(claude.verdict(Modality::Image).delivery, InlineImage);
        assert_eq!(claude.verdict(Modality::Pdf).delivery, TypedBlock);
        assert_eq!(claude.verdict(Modality::Document).delivery, TypedBlock);
        assert_eq!(claude.verdict(Modality::Audio).delivery, Unsupported);
        assert_eq!(claude.verdict(Modality::Video).delivery, Unsupported);
        let gemini = profile(json!({"provider": "gemini"}));
        for m in [Modality::Pdf, Modality::Audio, Modality::Video] {
            assert_eq!(gemini.verdict(m).delivery, TypedBlock);
        }
        let openai = profile(json!({"provider": "openai", "transport": "opencode"}));
        assert_eq!(openai.verdict(Modality::Image).delivery, InlineImage);
        assert_eq!(openai.verdict(Modality::Pdf).delivery, Unsupported);
        let unknown = profile(json!({"provider": "mystery"}));
        for m in Modality::ALL {
            assert_eq!(unknown.verdict(m).delivery, ResourceReferenceReplay);
        }
        let none = MediaProfile::new(None, None);
        assert_eq!(
            none.verdict(Modality::Image).delivery,
            ResourceReferenceReplay
        );
    }

    #[test]
    fn codex_transport_never_gets_inline_images() {
        let p = profile(json!({"provider": "openai", "transport": "codex"}));
        assert_eq!(
            p.verdict(Modality::Image).delivery,
            Delivery::ResourceReferenceReplay
        );
        let p = profile(json!({"provider": "claude", "transport": "codex"}));
        assert_eq!(
            p.verdict(Modality::Image).delivery,
            Delivery::ResourceReferenceReplay
        );
        assert_eq!(
            p.verdict(Modality::Pdf).delivery,
            Delivery::ResourceReferenceReplay
        );
    }

    #[test]
    fn stored_profile_restricts_but_never_widens() {
        let identity = json!({"provider": "claude"});
        let stored = json!({"verdicts": {
            "image": {"delivery": "resource_reference_replay", "reason": "operator choice"},
            "audio": {"delivery": "typed_block"},
            "pdf": {"delivery": "nonsense"},
        }});
        let p = MediaProfile::new(Some(&identity), Some(&stored));
        assert_eq!(
            p.verdict(Modality::Image).delivery,
            Delivery::ResourceReferenceReplay
        );
        assert_eq!(p.verdict(Modality::Image).reason, "operator choice");
        assert_eq!(p.verdict(Modality::Audio).delivery, Delivery::Unsupported);
        assert_eq!(p.verdict(Modality::Pdf).delivery, Delivery::TypedBlock);
    }

    #[test]
    fn stored_profile_decides_for_an_unknown_provider_but_not_on_codex() {
        // Ralph's default session: provider unknown, transport claude, a stored
        // profile that sends images inline.
        let stored = json!({"verdicts": {"image": {"delivery": "inline_image"}}});
        let ralph_default = json!({"provider": "unknown", "transport": "claude"});
        let p = MediaProfile::new(Some(&ralph_default), Some(&stored));
        assert_eq!(p.verdict(Modality::Image).delivery, Delivery::InlineImage);
        let codex = json!({"provider": "unknown", "transport": "codex"});
        let p = MediaProfile::new(Some(&codex), Some(&stored));
        assert_eq!(
            p.verdict(Modality::Image).delivery,
            Delivery::ResourceReferenceReplay
        );
    }

    #[test]
    fn stored_profile_alone_supplies_the_identity() {
        let stored = json!({"provider": "claude", "transport": "claude", "verdicts": {}});
        let p = MediaProfile::new(None, Some(&stored));
        assert_eq!(p.verdict(Modality::Pdf).delivery, Delivery::TypedBlock);
    }

    fn delivery_strategy() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("inline_image".to_string()),
            Just("typed_block".to_string()),
            Just("resource_reference_replay".to_string()),
            Just("unsupported".to_string()),
            ".{0,12}",
        ]
    }

    proptest! {
        #[test]
        fn a_stored_profile_widens_only_for_an_unknown_provider_off_codex(
            provider in prop_oneof![Just("claude"), Just("openai"), Just("gemini"), Just("x")],
            transport in prop_oneof![Just("claude"), Just("codex"), Just("opencode")],
            deliveries in prop::collection::vec(delivery_strategy(), 5),
        ) {
            let identity = json!({"provider": provider, "transport": transport});
            let mut verdicts = serde_json::Map::new();
            for (m, d) in Modality::ALL.iter().zip(&deliveries) {
                verdicts.insert(m.as_str().into(), json!({"delivery": d}));
            }
            let stored = json!({"verdicts": verdicts});
            let p = MediaProfile::new(Some(&identity), Some(&stored));
            let ident = ModelIdentity::from_value(Some(&identity));
            for (m, d) in Modality::ALL.into_iter().zip(&deliveries) {
                let fresh = resolve(ident.as_ref(), m);
                let known = provider_row(provider, m).is_some();
                match Delivery::parse(d) {
                    // An unknown provider off Codex: the stored verdict, as stored.
                    Some(stored) if !known && transport != "codex" => {
                        prop_assert_eq!(p.verdict(m).delivery, stored);
                    }
                    // Otherwise it can only ask less than the table.
                    _ => prop_assert!(p.verdict(m).delivery.demand() <= fresh.delivery.demand()),
                }
            }
        }
    }
}
