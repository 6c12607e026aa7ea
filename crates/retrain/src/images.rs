//! Images to classify, read from PNG files or IDX image files (gzipped or not), converted to the
//! model's channel count (RGB → grey by luminance, grey → RGB by copying).

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use nas_child::InputShape;
use nas_data::{ImageSet, read_idx_image_header, read_idx_images};

use crate::BundleError;

/// Named images, shaped as the model expects (labels are all 0).
pub struct Inputs {
    pub names: Vec<String>,
    pub set: ImageSet,
}

/// Read every file in `paths` (`.png`, else IDX) as images for a model taking `input`.
pub fn read_inputs(paths: &[impl AsRef<Path>], input: &InputShape) -> Result<Inputs, BundleError> {
    let mut names = Vec::new();
    let mut pixels = Vec::new();
    for p in paths {
        let p = p.as_ref();
        let is_png = p.extension().is_some_and(|e| e.eq_ignore_ascii_case("png"));
        if is_png {
            let (c, h, w, bytes) = read_png(p, input)?;
            pixels.extend(to_channels(&bytes, c, input.channels, h * w));
            names.push(p.display().to_string());
        } else {
            // The header first: a file of images the model cannot take is rejected before it is
            // decoded.
            let data_err = |e: nas_data::DataError| BundleError::Data(e.to_string());
            let (_, h, w) = read_idx_image_header(p).map_err(data_err)?;
            check_size(p, h, w, input)?;
            let (n, h, w, bytes) = read_idx_images(p).map_err(data_err)?;
            check_size(p, h, w, input)?;
            for i in 0..n {
                pixels.extend(to_channels(&bytes[i * h * w..(i + 1) * h * w], 1, input.channels, h * w));
                names.push(format!("{}#{i}", p.display()));
            }
        }
    }
    let labels = vec![0u8; names.len()];
    let set = ImageSet {
        channels: input.channels,
        height: input.height,
        width: input.width,
        classes: input.classes,
        pixels,
        labels,
    };
    Ok(Inputs { names, set })
}

fn check_size(p: &Path, h: usize, w: usize, input: &InputShape) -> Result<(), BundleError> {
    if (h, w) != (input.height, input.width) {
        return Err(BundleError::Data(format!(
            "{}: images are {h}×{w}; the model takes {}×{} (resize them first)",
            p.display(),
            input.height,
            input.width
        )));
    }
    Ok(())
}

/// A PNG as (channels, height, width, CHW bytes), 8-bit, alpha dropped; its size is checked
/// against `input` from the header, before the pixels are decoded.
fn read_png(p: &Path, input: &InputShape) -> Result<(usize, usize, usize, Vec<u8>), BundleError> {
    let bad = |why: String| BundleError::Data(format!("{}: not a readable PNG: {why}", p.display()));
    let file = File::open(p).map_err(|e| BundleError::Io { path: p.to_path_buf(), error: e })?;
    let mut decoder = png::Decoder::new(BufReader::new(file));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().map_err(|e| bad(e.to_string()))?;
    let (hh, ww) = (reader.info().height as usize, reader.info().width as usize);
    check_size(p, hh, ww, input)?;
    let size = reader.output_buffer_size().ok_or_else(|| bad("image too large".into()))?;
    let mut buf = vec![0; size];
    let info = reader.next_frame(&mut buf).map_err(|e| bad(e.to_string()))?;
    let (h, w) = (info.height as usize, info.width as usize);
    let (channels, keep) = match info.color_type {
        png::ColorType::Grayscale => (1, 1),
        png::ColorType::GrayscaleAlpha => (2, 1),
        png::ColorType::Rgb => (3, 3),
        png::ColorType::Rgba => (4, 3),
        png::ColorType::Indexed => return Err(bad("indexed colour was not expanded".into())),
    };
    let hwc = &buf[..info.buffer_size()];
    let mut chw = vec![0u8; keep * h * w];
    for i in 0..h * w {
        for c in 0..keep {
            chw[c * h * w + i] = hwc[i * channels + c];
        }
    }
    Ok((keep, h, w, chw))
}

/// CHW bytes with `from` channels as `to` channels.
fn to_channels(chw: &[u8], from: usize, to: usize, hw: usize) -> Vec<u8> {
    match (from, to) {
        (a, b) if a == b => chw.to_vec(),
        (3, 1) => (0..hw)
            .map(|i| {
                let (r, g, b) = (chw[i] as f32, chw[hw + i] as f32, chw[2 * hw + i] as f32);
                (0.299 * r + 0.587 * g + 0.114 * b).round() as u8
            })
            .collect(),
        (1, n) => (0..n).flat_map(|_| chw.iter().copied()).collect(),
        _ => chw[..to * hw].to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_png(path: &Path, w: u32, h: u32, color: png::ColorType, data: &[u8]) {
        let file = File::create(path).unwrap();
        let mut enc = png::Encoder::new(std::io::BufWriter::new(file), w, h);
        enc.set_color(color);
        enc.set_depth(png::BitDepth::Eight);
        enc.write_header().unwrap().write_image_data(data).unwrap();
    }

    #[test]
    fn reads_grey_and_rgb_pngs_and_idx_and_names_bad_files() {
        let dir = tempfile::tempdir().unwrap();
        let input = InputShape { channels: 1, height: 2, width: 2, classes: 10 };
        let grey = dir.path().join("g.png");
        write_png(&grey, 2, 2, png::ColorType::Grayscale, &[0, 50, 100, 255]);
        let rgb = dir.path().join("c.png");
        write_png(&rgb, 2, 2, png::ColorType::Rgb, &[255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 10, 10]);
        let idx = dir.path().join("images-idx3-ubyte");
        nas_data::write_idx(&idx, &[2, 2, 2], &[1, 2, 3, 4, 5, 6, 7, 8]).unwrap();
        let got = read_inputs(&[&grey, &rgb, &idx], &input).unwrap();
        assert_eq!(got.names.len(), 4);
        assert!(got.names[3].ends_with("#1"));
        assert_eq!(&got.set.pixels[..4], &[0, 50, 100, 255]);
        assert_eq!(&got.set.pixels[4..8], &[76, 150, 29, 10], "RGB → luminance");
        assert_eq!(&got.set.pixels[8..], &[1, 2, 3, 4, 5, 6, 7, 8]);

        let big = InputShape { height: 28, width: 28, ..input };
        let e = read_inputs(&[&grey], &big).err().unwrap().to_string();
        assert!(e.contains("g.png") && e.contains("2×2") && e.contains("28×28"), "{e}");
        let junk = dir.path().join("junk.png");
        std::fs::write(&junk, b"not a png").unwrap();
        let e = read_inputs(&[&junk], &input).err().unwrap().to_string();
        assert!(e.contains("junk.png: not a readable PNG"), "{e}");
    }
}
