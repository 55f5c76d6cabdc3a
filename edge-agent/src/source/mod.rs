//! Where frames come from: a V4L2 camera, an HTTP snapshot URL, or a folder of images, all
//! behind one [`FrameSource`] trait; and [`camera_state`], how a frame looks to the
//! heartbeat (ok, too dark, covered).

mod folder;
mod http;
#[cfg(feature = "v4l2")]
mod v4l2;

use image::RgbImage;
use maskgate_api_types::CameraState;

pub use folder::FolderSource;
pub use http::HttpSnapshotSource;
#[cfg(feature = "v4l2")]
pub use v4l2::V4l2Source;

use crate::config::{CameraConfig, SourceKind};

/// Errors of a frame source. The agent retries every one of them with backoff.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The source cannot be opened or read (device gone, URL unreachable, folder missing).
    #[error("camera source {source_name}: {reason}")]
    Unavailable {
        /// The source, such as `/dev/video0`.
        source_name: String,
        /// Why.
        reason: String,
    },
    /// One frame was unusable (a corrupt image); the next may be fine.
    #[error("bad frame from {source_name}: {reason}")]
    BadFrame {
        /// The source.
        source_name: String,
        /// Why.
        reason: String,
    },
    /// This build cannot use the configured source.
    #[error("{0}")]
    Unsupported(String),
}

/// A source of frames. Not `Send`-bound: a source lives on the pipeline thread.
pub trait FrameSource {
    /// A short description for logs, such as `folder /srv/frames`.
    fn describe(&self) -> String;
    /// The next frame; `Ok(None)` when a finite source has ended. Blocks at most a few
    /// seconds.
    fn next_frame(&mut self) -> Result<Option<RgbImage>, SourceError>;
}

/// Opens the source the configuration names. `runtime` runs the HTTP source's requests.
pub fn open(
    config: &CameraConfig,
    runtime: &tokio::runtime::Handle,
) -> Result<Box<dyn FrameSource>, SourceError> {
    Ok(match config.source {
        SourceKind::Folder => Box::new(FolderSource::open(
            config.path.as_deref().unwrap_or(std::path::Path::new(".")),
            config.hold_frames,
            config.gap_frames,
            config.repeat,
        )?),
        SourceKind::Http => Box::new(HttpSnapshotSource::new(
            config.url.as_deref().unwrap_or_default(),
            runtime.clone(),
        )?),
        #[cfg(feature = "v4l2")]
        SourceKind::V4l2 => Box::new(V4l2Source::open(
            &config.device,
            config.width,
            config.height,
        )?),
        #[cfg(not(feature = "v4l2"))]
        SourceKind::V4l2 => {
            return Err(SourceError::Unsupported(
                "this edge-agent was built without V4L2 camera support: rebuild with \
                 `--features v4l2`, or use camera.source = \"http\" or \"folder\""
                    .into(),
            ));
        }
    })
}

/// How a frame looks: too dark when its mean brightness is below `dark_below`; covered when
/// it is lit but nearly uniform (spread below `covered_below`), as a hand or a cap on the
/// lens makes it; otherwise ok. Samples a grid, so it costs little on large frames.
pub fn camera_state(frame: &RgbImage, dark_below: f32, covered_below: f32) -> CameraState {
    let (w, h) = frame.dimensions();
    if w == 0 || h == 0 {
        return CameraState::NoFrames;
    }
    let step_x = (w / 64).max(1);
    let step_y = (h / 48).max(1);
    let (mut n, mut sum, mut sum_sq) = (0f64, 0f64, 0f64);
    for y in (0..h).step_by(step_y as usize) {
        for x in (0..w).step_by(step_x as usize) {
            let p = frame.get_pixel(x, y);
            let luma = 0.299 * f64::from(p[0]) + 0.587 * f64::from(p[1]) + 0.114 * f64::from(p[2]);
            n += 1.0;
            sum += luma;
            sum_sq += luma * luma;
        }
    }
    let mean = sum / n;
    let spread = (sum_sq / n - mean * mean).max(0.0).sqrt();
    if mean < f64::from(dark_below) {
        CameraState::TooDark
    } else if spread < f64::from(covered_below) {
        CameraState::Covered
    } else {
        CameraState::Ok
    }
}

/// An empty corridor: a textured mid-grey frame without faces (a uniform one would look
/// like a covered lens to [`camera_state`]).
pub fn empty_frame(width: u32, height: u32) -> RgbImage {
    let mut state: u32 = 0x9E37_79B9;
    RgbImage::from_fn(width, height, |_, _| {
        // xorshift: deterministic texture, no dependency on a random source.
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let v = 88 + (state % 80) as u8;
        image::Rgb([v, v, v])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dark_covered_and_ok_frames_are_told_apart() {
        let dark = RgbImage::from_pixel(640, 480, image::Rgb([8, 8, 8]));
        assert_eq!(camera_state(&dark, 25.0, 6.0), CameraState::TooDark);
        let covered = RgbImage::from_pixel(640, 480, image::Rgb([140, 120, 110]));
        assert_eq!(camera_state(&covered, 25.0, 6.0), CameraState::Covered);
        assert_eq!(
            camera_state(&empty_frame(640, 480), 25.0, 6.0),
            CameraState::Ok
        );
    }
}
