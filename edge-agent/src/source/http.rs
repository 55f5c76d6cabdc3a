//! An HTTP snapshot URL (most IP cameras have one): one GET per frame.

use image::RgbImage;
use reqwest::StatusCode;

use super::{FrameSource, SourceError};
use crate::frames;

/// The largest snapshot accepted, in bytes.
const MAX_SNAPSHOT_BYTES: usize = 32 * 1024 * 1024;

/// Fetches a still image from a URL for each frame.
#[derive(Debug)]
pub struct HttpSnapshotSource {
    url: String,
    client: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

impl HttpSnapshotSource {
    /// A source for `url`; requests run on `runtime` (the pipeline thread blocks on them).
    pub fn new(url: &str, runtime: tokio::runtime::Handle) -> Result<Self, SourceError> {
        let unavailable = |reason: String| SourceError::Unavailable {
            source_name: url.to_string(),
            reason,
        };
        let parsed = reqwest::Url::parse(url).map_err(|e| unavailable(e.to_string()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(unavailable("the URL must be http:// or https://".into()));
        }
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(5))
            .build()
            .map_err(|e| unavailable(e.to_string()))?;
        Ok(Self {
            url: url.to_string(),
            client,
            runtime,
        })
    }

    async fn fetch(&self) -> Result<Vec<u8>, SourceError> {
        let unavailable = |reason: String| SourceError::Unavailable {
            source_name: self.url.clone(),
            reason,
        };
        let mut response = self
            .client
            .get(&self.url)
            .send()
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        if response.status() != StatusCode::OK {
            return Err(unavailable(format!("HTTP {}", response.status())));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| unavailable(e.to_string()))?
        {
            if body.len() + chunk.len() > MAX_SNAPSHOT_BYTES {
                return Err(SourceError::BadFrame {
                    source_name: self.url.clone(),
                    reason: format!("the snapshot is larger than {MAX_SNAPSHOT_BYTES} bytes"),
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

impl FrameSource for HttpSnapshotSource {
    fn describe(&self) -> String {
        format!("snapshot URL {}", self.url)
    }

    fn next_frame(&mut self) -> Result<Option<RgbImage>, SourceError> {
        let bytes = self.runtime.block_on(self.fetch())?;
        frames::decode(&bytes, std::path::Path::new(&self.url))
            .map(Some)
            .map_err(|e| SourceError::BadFrame {
                source_name: self.url.clone(),
                reason: e.to_string(),
            })
    }
}
