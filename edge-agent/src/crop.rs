//! The face crop the classifier sees: the detector's box widened by a margin, made square
//! around its centre, clamped to the frame. Training uses the same rule (the model's
//! manifest names it), so the classifier sees at the door what it learned from.

use image::RgbImage;
use image::imageops::FilterType;

use crate::decide::BBox;

/// A crop rectangle in whole pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CropRect {
    /// Left edge.
    pub x: u32,
    /// Top edge.
    pub y: u32,
    /// Width (≥ 1).
    pub width: u32,
    /// Height (≥ 1).
    pub height: u32,
}

/// The square crop around `face`: each side widened by `margin` × its length, then squared
/// on the longer side around the centre, then clamped to a `frame_width`×`frame_height`
/// frame (so a face at the edge gives a crop cut by the edge).
pub fn crop_rect(face: &BBox, margin: f32, frame_width: u32, frame_height: u32) -> CropRect {
    let (fw, fh) = (frame_width.max(1) as f32, frame_height.max(1) as f32);
    let (w, h) = ((face.x2 - face.x1).max(1.0), (face.y2 - face.y1).max(1.0));
    let side = w.max(h) * (1.0 + 2.0 * margin.max(0.0));
    let (cx, cy) = ((face.x1 + face.x2) / 2.0, (face.y1 + face.y2) / 2.0);
    let x1 = (cx - side / 2.0).round().clamp(0.0, fw - 1.0);
    let y1 = (cy - side / 2.0).round().clamp(0.0, fh - 1.0);
    let x2 = (cx + side / 2.0).round().clamp(x1 + 1.0, fw);
    let y2 = (cy + side / 2.0).round().clamp(y1 + 1.0, fh);
    CropRect {
        x: x1 as u32,
        y: y1 as u32,
        width: (x2 - x1) as u32,
        height: (y2 - y1) as u32,
    }
}

/// Cuts the crop out of the frame and resizes it (bilinear) to `size`×`size`.
pub fn crop_face(frame: &RgbImage, rect: CropRect, size: u32) -> RgbImage {
    let view = image::imageops::crop_imm(frame, rect.x, rect.y, rect.width, rect.height);
    image::imageops::resize(&view.to_image(), size, size, FilterType::Triangle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_face_in_the_middle_gets_a_square_widened_crop() {
        let rect = crop_rect(&BBox::new(100.0, 100.0, 200.0, 150.0), 0.15, 640, 480);
        // longer side 100, widened to 130, centred on (150, 125)
        assert_eq!(
            rect,
            CropRect {
                x: 85,
                y: 60,
                width: 130,
                height: 130
            }
        );
    }

    #[test]
    fn a_face_at_the_edge_is_clamped_to_the_frame() {
        let rect = crop_rect(&BBox::new(0.0, 0.0, 50.0, 50.0), 0.15, 640, 480);
        assert_eq!((rect.x, rect.y), (0, 0));
        assert_eq!((rect.width, rect.height), (58, 58));
        let whole = crop_rect(&BBox::new(0.0, 0.0, 640.0, 480.0), 0.15, 640, 480);
        assert_eq!(
            whole,
            CropRect {
                x: 0,
                y: 0,
                width: 640,
                height: 480
            }
        );
    }

    #[test]
    fn a_degenerate_box_still_gives_a_pixel() {
        let rect = crop_rect(&BBox::new(639.0, 479.0, 639.0, 479.0), 0.0, 640, 480);
        assert!(rect.width >= 1 && rect.height >= 1);
        assert!(rect.x + rect.width <= 640 && rect.y + rect.height <= 480);
    }
}
