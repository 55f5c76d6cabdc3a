//! A V4L2 camera: the Raspberry Pi camera through libcamera's V4L2 compatibility layer, or a
//! USB webcam. Asks for Motion-JPEG (most webcams) and falls back to YUYV.

use std::path::Path;
use std::time::Duration;

use image::RgbImage;
use v4l::buffer::Type;
use v4l::io::mmap::Stream;
use v4l::io::traits::CaptureStream;
use v4l::video::Capture;
use v4l::{Device, FourCC};

use super::{FrameSource, SourceError};
use crate::frames;

/// Frames from a V4L2 capture device.
pub struct V4l2Source {
    name: String,
    stream: Stream<'static>,
    fourcc: FourCC,
    width: u32,
    height: u32,
}

impl std::fmt::Debug for V4l2Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("V4l2Source")
            .field("device", &self.name)
            .field("fourcc", &self.fourcc.to_string())
            .finish_non_exhaustive()
    }
}

impl V4l2Source {
    /// Opens `device` at about `width`×`height` (the driver picks the nearest size).
    pub fn open(device: &Path, width: u32, height: u32) -> Result<Self, SourceError> {
        let name = device.display().to_string();
        let unavailable = |reason: String| SourceError::Unavailable {
            source_name: name.clone(),
            reason,
        };
        let dev = Device::with_path(device).map_err(|e| unavailable(e.to_string()))?;
        let mut format = dev.format().map_err(|e| unavailable(e.to_string()))?;
        format.width = width;
        format.height = height;
        format.fourcc = FourCC::new(b"MJPG");
        let mut format = dev
            .set_format(&format)
            .map_err(|e| unavailable(e.to_string()))?;
        if format.fourcc != FourCC::new(b"MJPG") {
            format.fourcc = FourCC::new(b"YUYV");
            format = dev
                .set_format(&format)
                .map_err(|e| unavailable(e.to_string()))?;
            if format.fourcc != FourCC::new(b"YUYV") {
                return Err(unavailable(format!(
                    "the camera offers neither MJPG nor YUYV (it chose {})",
                    format.fourcc
                )));
            }
        }
        let mut stream = Stream::with_buffers(&dev, Type::VideoCapture, 4)
            .map_err(|e| unavailable(e.to_string()))?;
        // A camera that stops delivering must not block the door forever.
        stream.set_timeout(Duration::from_secs(5));
        Ok(Self {
            name,
            stream,
            fourcc: format.fourcc,
            width: format.width,
            height: format.height,
        })
    }
}

/// YUYV 4:2:2 to RGB (BT.601, studio range).
fn yuyv_to_rgb(data: &[u8], width: u32, height: u32) -> Option<RgbImage> {
    let needed = width as usize * height as usize * 2;
    if data.len() < needed {
        return None;
    }
    let mut rgb = Vec::with_capacity(width as usize * height as usize * 3);
    for chunk in data[..needed].chunks_exact(4) {
        let (y0, u, y1, v) = (chunk[0], chunk[1], chunk[2], chunk[3]);
        for y in [y0, y1] {
            let c = f32::from(y) - 16.0;
            let d = f32::from(u) - 128.0;
            let e = f32::from(v) - 128.0;
            let clamp = |x: f32| x.round().clamp(0.0, 255.0) as u8;
            rgb.push(clamp(1.164 * c + 1.596 * e));
            rgb.push(clamp(1.164 * c - 0.392 * d - 0.813 * e));
            rgb.push(clamp(1.164 * c + 2.017 * d));
        }
    }
    RgbImage::from_raw(width, height, rgb)
}

impl FrameSource for V4l2Source {
    fn describe(&self) -> String {
        format!(
            "V4L2 {} ({}×{} {})",
            self.name, self.width, self.height, self.fourcc
        )
    }

    fn next_frame(&mut self) -> Result<Option<RgbImage>, SourceError> {
        let (data, meta) = self.stream.next().map_err(|e| SourceError::Unavailable {
            source_name: self.name.clone(),
            reason: e.to_string(),
        })?;
        let used = (meta.bytesused as usize).min(data.len());
        let bad = |reason: String| SourceError::BadFrame {
            source_name: self.name.clone(),
            reason,
        };
        if self.fourcc == FourCC::new(b"MJPG") {
            frames::decode(&data[..used], Path::new(&self.name))
                .map(Some)
                .map_err(|e| bad(e.to_string()))
        } else {
            yuyv_to_rgb(&data[..used], self.width, self.height)
                .map(Some)
                .ok_or_else(|| bad("a short YUYV frame".into()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuyv_grey_and_short_frames() {
        let grey = vec![126u8, 128, 126, 128];
        let rgb = yuyv_to_rgb(&grey, 2, 1).expect("converts");
        assert!(rgb.pixels().all(|p| p[0] == p[1] && p[1] == p[2]));
        assert!(yuyv_to_rgb(&grey, 4, 1).is_none());
    }
}
