//! The Jupyter messaging protocol's wire format (version 5.4): multipart frames, HMAC-SHA256
//! signatures, and the message structure shared by every channel.

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

/// The protocol version tuna speaks.
pub const PROTOCOL_VERSION: &str = "5.4";

const DELIMITER: &[u8] = b"<IDS|MSG>";

/// Signs and verifies messages with the connection file's key (no signing when the key is empty).
#[derive(Clone)]
pub struct Signer {
    key: Option<Hmac<Sha256>>,
}

impl Signer {
    /// A signer for `scheme` (only `hmac-sha256` is supported) and `key`.
    pub fn new(scheme: &str, key: &str) -> Result<Self> {
        if key.is_empty() {
            return Ok(Signer { key: None });
        }
        if scheme != "hmac-sha256" {
            bail!("unsupported signature_scheme `{scheme}` in the connection file; tuna supports hmac-sha256");
        }
        let mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).context("HMAC key")?;
        Ok(Signer { key: Some(mac) })
    }

    /// The hex signature of the four signed frames.
    pub fn sign(&self, parts: [&[u8]; 4]) -> String {
        match &self.key {
            None => String::new(),
            Some(mac) => {
                let mut mac = mac.clone();
                for part in parts {
                    mac.update(part);
                }
                hex::encode(mac.finalize().into_bytes())
            }
        }
    }

    /// Whether `signature` (hex) is right for the four frames; compares in constant time.
    pub fn verify(&self, signature: &[u8], parts: [&[u8]; 4]) -> bool {
        match &self.key {
            None => true,
            Some(mac) => {
                let Ok(expected) = hex::decode(signature) else { return false };
                let mut mac = mac.clone();
                for part in parts {
                    mac.update(part);
                }
                mac.verify_slice(&expected).is_ok()
            }
        }
    }
}

/// One Jupyter message, with the routing identities it arrived with.
#[derive(Debug, Clone)]
pub struct Message {
    pub identities: Vec<Bytes>,
    pub header: Value,
    pub parent_header: Value,
    pub metadata: Value,
    pub content: Value,
    pub buffers: Vec<Bytes>,
}

impl Message {
    /// Parses and verifies the frames of a received message. Errors name what was wrong; a
    /// bad signature is an error, so the message is never acted on.
    pub fn from_frames(frames: Vec<Bytes>, signer: &Signer) -> Result<Message> {
        let split = frames
            .iter()
            .position(|f| f.as_ref() == DELIMITER)
            .context("message without the <IDS|MSG> delimiter")?;
        if frames.len() < split + 6 {
            bail!("message with {} frames after the delimiter; 5 are required", frames.len() - split - 1);
        }
        let identities = frames[..split].to_vec();
        let signature = &frames[split + 1];
        let parts = [&frames[split + 2], &frames[split + 3], &frames[split + 4], &frames[split + 5]];
        if !signer.verify(signature, parts.map(|p| p.as_ref())) {
            bail!("invalid signature");
        }
        let parse = |i: usize, what: &str| -> Result<Value> {
            serde_json::from_slice(parts[i]).with_context(|| format!("message {what} is not JSON"))
        };
        Ok(Message {
            identities,
            header: parse(0, "header")?,
            parent_header: parse(1, "parent_header")?,
            metadata: parse(2, "metadata")?,
            content: parse(3, "content")?,
            buffers: frames[split + 6..].to_vec(),
        })
    }

    /// The signed frames of this message, identities first.
    pub fn to_frames(&self, signer: &Signer) -> Vec<Bytes> {
        let header = Bytes::from(self.header.to_string());
        let parent = Bytes::from(self.parent_header.to_string());
        let metadata = Bytes::from(self.metadata.to_string());
        let content = Bytes::from(self.content.to_string());
        let signature = signer.sign([&header, &parent, &metadata, &content]);
        let mut frames = self.identities.clone();
        frames.push(Bytes::from_static(DELIMITER));
        frames.push(Bytes::from(signature));
        frames.extend([header, parent, metadata, content]);
        frames.extend(self.buffers.iter().cloned());
        frames
    }

    /// The message type from the header.
    pub fn msg_type(&self) -> &str {
        self.header["msg_type"].as_str().unwrap_or("")
    }

    /// A new message of `msg_type` in the same session, replying to (or caused by) `self`.
    pub fn reply(&self, msg_type: &str, content: Value) -> Message {
        let mut msg = Message::new(msg_type, content, self.header["session"].as_str().unwrap_or(""));
        msg.parent_header = self.header.clone();
        msg.identities = self.identities.clone();
        msg
    }

    /// A fresh message with no parent.
    pub fn new(msg_type: &str, content: Value, session: &str) -> Message {
        Message {
            identities: Vec::new(),
            header: new_header(msg_type, session),
            parent_header: json!({}),
            metadata: json!({}),
            content,
            buffers: Vec::new(),
        }
    }
}

/// A header for a new message.
pub fn new_header(msg_type: &str, session: &str) -> Value {
    json!({
        "msg_id": uuid::Uuid::new_v4().to_string(),
        "session": session,
        "username": "tuna",
        "date": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "msg_type": msg_type,
        "version": PROTOCOL_VERSION,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames_of(msg: &Message, signer: &Signer) -> Vec<Bytes> {
        msg.to_frames(signer)
    }

    #[test]
    fn signed_round_trip() {
        let signer = Signer::new("hmac-sha256", "secret").unwrap();
        let mut msg = Message::new("kernel_info_request", json!({}), "s");
        msg.identities = vec![Bytes::from_static(b"client")];
        let back = Message::from_frames(frames_of(&msg, &signer), &signer).unwrap();
        assert_eq!(back.msg_type(), "kernel_info_request");
        assert_eq!(back.identities, msg.identities);
    }

    #[test]
    fn wrong_signature_is_rejected() {
        let signer = Signer::new("hmac-sha256", "secret").unwrap();
        let other = Signer::new("hmac-sha256", "other").unwrap();
        let msg = Message::new("execute_request", json!({"code": "1"}), "s");
        let err = Message::from_frames(frames_of(&msg, &other), &signer).unwrap_err();
        assert!(err.to_string().contains("invalid signature"));
    }

    #[test]
    fn known_hmac_value() {
        // HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog") split over 4 parts.
        let signer = Signer::new("hmac-sha256", "key").unwrap();
        let sig = signer.sign([b"The quick ", b"brown fox ", b"jumps over ", b"the lazy dog"]);
        assert_eq!(sig, "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8");
    }
}
