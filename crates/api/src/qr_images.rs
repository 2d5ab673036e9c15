//! QR code images of a wallet payment's data (an Alipay `qr_code`, a WeChat
//! Pay `code_url`, our aggregated page's URL): PNG and SVG, encoded by the
//! `qrcode` crate (error correction M), with the four-module quiet zone the
//! standard requires. PNGs are 8-bit greyscale, `MODULE_PX` pixels a module.

use base64::Engine;
use qrcode::{Color, EcLevel, QrCode};

/// Pixels per module in PNGs (a 25-module code is 264 px with its margins).
pub const MODULE_PX: usize = 8;
/// Modules of white around the code (ISO/IEC 18004 asks for 4).
pub const QUIET_ZONE_MODULES: usize = 4;
/// The longest data encoded (a URL of ours or the provider's is far shorter).
pub const DATA_CHARS_MAX: usize = 1024;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum QrImageError {
    #[error("the data is empty or longer than {DATA_CHARS_MAX} characters")]
    Length,
    #[error("the data does not fit in a QR code")]
    TooLong,
    #[error("the PNG could not be written")]
    Png,
}

fn code(data: &str) -> Result<QrCode, QrImageError> {
    if data.is_empty() || data.chars().count() > DATA_CHARS_MAX {
        return Err(QrImageError::Length);
    }
    QrCode::with_error_correction_level(data.as_bytes(), EcLevel::M)
        .map_err(|_| QrImageError::TooLong)
}

/// `data` as a PNG image.
pub fn png(data: &str) -> Result<Vec<u8>, QrImageError> {
    let code = code(data)?;
    let modules = code.width();
    let colors = code.to_colors();
    let side_modules = modules + 2 * QUIET_ZONE_MODULES;
    let side_px = side_modules * MODULE_PX;
    let mut pixels = vec![255u8; side_px * side_px];
    for (index, color) in colors.iter().enumerate() {
        if *color != Color::Dark {
            continue;
        }
        let (row, column) = (index / modules, index % modules);
        let (top, left) = (
            (row + QUIET_ZONE_MODULES) * MODULE_PX,
            (column + QUIET_ZONE_MODULES) * MODULE_PX,
        );
        for y in top..top + MODULE_PX {
            pixels[y * side_px + left..y * side_px + left + MODULE_PX].fill(0);
        }
    }
    let side = u32::try_from(side_px).map_err(|_| QrImageError::TooLong)?;
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, side, side);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(|_| QrImageError::Png)?;
    writer
        .write_image_data(&pixels)
        .map_err(|_| QrImageError::Png)?;
    writer.finish().map_err(|_| QrImageError::Png)?;
    Ok(out)
}

/// `data` as an SVG document (black modules on white, quiet zone included).
pub fn svg(data: &str) -> Result<String, QrImageError> {
    Ok(code(data)?
        .render::<qrcode::render::svg::Color<'_>>()
        .quiet_zone(true)
        .module_dimensions(MODULE_PX as u32, MODULE_PX as u32)
        .dark_color(qrcode::render::svg::Color("#000000"))
        .light_color(qrcode::render::svg::Color("#ffffff"))
        .build())
}

/// The PNG as a `data:image/png;base64,…` URL (Stripe's `image_data_url`).
pub fn png_data_url(data: &str) -> Result<String, QrImageError> {
    let encoded = base64::engine::general_purpose::STANDARD.encode(png(data)?);
    Ok(format!("data:image/png;base64,{encoded}"))
}

#[cfg(test)]
mod tests {
    //! The images are read back by an independent decoder, zxing-cpp (PyPI),
    //! under `PORTCULLIS_PEER_PYTHON` (the wallet peers' venv); without it
    //! the decoding test prints SKIPPED, except under `CI=true`.
    use super::*;
    use std::process::Command;

    const DECODE: &str = "import sys, zxingcpp\nfrom PIL import Image\nfor path in sys.argv[1:]:\n    found = zxingcpp.read_barcodes(Image.open(path).convert('L'))\n    print(found[0].text if found else '')\n";

    fn python() -> String {
        std::env::var("PORTCULLIS_PEER_PYTHON").unwrap_or_else(|_| "python3".to_owned())
    }

    fn decoder_available() -> bool {
        let probe = Command::new(python())
            .args(["-c", "import zxingcpp, PIL"])
            .output();
        if probe.is_ok_and(|out| out.status.success()) {
            return true;
        }
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "zxing-cpp and pillow are missing, and CI=true requires them"
        );
        eprintln!("SKIPPED: zxing-cpp not importable by {}", python());
        false
    }

    #[test]
    #[ignore = "needs zxing-cpp and pillow: run tests/wallet_peers/run.sh"]
    fn zxing_reads_our_pngs_back_to_the_same_data() {
        if !decoder_available() {
            return;
        }
        let samples = [
            "https://qr.alipay.com/bax08431xsfhqmzhx7yq00d7",
            "weixin://wxpay/bizpayurl?pr=Ay3ihgyzz",
            "http://127.0.0.1:8080/v1/payment_intents/pi_123/qr?client_secret=pi_123_secret_abc&x=支付",
        ];
        let dir = tempfile::tempdir().unwrap();
        let paths: Vec<_> = samples
            .iter()
            .enumerate()
            .map(|(i, data)| {
                let path = dir.path().join(format!("{i}.png"));
                std::fs::write(&path, png(data).unwrap()).unwrap();
                path
            })
            .collect();
        let output = Command::new(python())
            .args(["-c", DECODE])
            .args(&paths)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let decoded: Vec<String> = String::from_utf8(output.stdout)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect();
        assert_eq!(decoded, samples);
    }

    #[test]
    fn images_are_well_formed_and_bounded() {
        let image = png("weixin://wxpay/bizpayurl?pr=Ay3ihgyzz").unwrap();
        assert_eq!(&image[..8], b"\x89PNG\r\n\x1a\n");
        let document = svg("weixin://wxpay/bizpayurl?pr=Ay3ihgyzz").unwrap();
        assert!(document.starts_with("<?xml") && document.contains("<svg"));
        assert!(png_data_url("x")
            .unwrap()
            .starts_with("data:image/png;base64,iVBOR"));
        assert_eq!(png(""), Err(QrImageError::Length));
        assert_eq!(
            svg(&"a".repeat(DATA_CHARS_MAX + 1)),
            Err(QrImageError::Length)
        );
    }
}
